"""Check 1, time: age is measured from collection to the order, never to the clock."""

from __future__ import annotations

from datetime import timedelta

from labrecog.check._facts import CaseFacts
from labrecog.compile import Policy
from labrecog.model import PriorResult, Reason, make_reason
from labrecog.words import duration_text

__all__ = ["check_time"]

_NO_TIME = timedelta(0)


def check_time(prior: PriorResult, policy: Policy, facts: CaseFacts, out: list[Reason]) -> None:
    # Aware datetimes subtract exactly (whole microseconds), whatever offsets they carry,
    # and a difference below zero is exactly "collected after the order".
    ordered = facts.ordered_at
    age = ordered - prior.collected_at
    if age < _NO_TIME:
        when = prior.collected_at.isoformat()
        out.append(
            make_reason("future_result.collected", facts.lang, result_id=prior.id, when=when)
        )
        return
    reported = prior.reported_at
    if reported is not None and reported > ordered:
        when = reported.isoformat()
        out.append(make_reason("future_result.reported", facts.lang, result_id=prior.id, when=when))
    if age > policy.max_age:
        out.append(
            make_reason(
                "too_old",
                facts.lang,
                result_id=prior.id,
                source=policy.max_age_source,
                age=duration_text(age),
                max_age=duration_text(policy.max_age),
            )
        )

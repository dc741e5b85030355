"""Check 1, time: age is measured from collection to the order, never to the clock."""

from __future__ import annotations

import functools

from labrecog.check.facts import CaseFacts
from labrecog.compile.compiled import Policy
from labrecog.model.case import PriorResult
from labrecog.model.decision import Reason
from labrecog.output.messages import format_duration
from labrecog.output.reasons import make_reason

__all__ = ["check_time"]

_limit = functools.lru_cache(maxsize=256)(format_duration)  # limits are few; ages are not


def check_time(prior: PriorResult, policy: Policy, facts: CaseFacts, out: list[Reason]) -> None:
    # Aware datetimes subtract exactly (whole microseconds), whatever offsets they carry.
    ordered = facts.ordered_at
    lang = facts.lang
    if prior.collected_at > ordered:
        when = prior.collected_at.isoformat()
        out.append(make_reason("future_result.collected", lang, result_id=prior.id, when=when))
        return
    if prior.reported_at is not None and prior.reported_at > ordered:
        when = prior.reported_at.isoformat()
        out.append(make_reason("future_result.reported", lang, result_id=prior.id, when=when))
    age = ordered - prior.collected_at
    if age > policy.max_age:
        out.append(
            make_reason(
                "too_old",
                lang,
                result_id=prior.id,
                source=policy.max_age_source,
                age=format_duration(age),
                max_age=_limit(policy.max_age),
            )
        )

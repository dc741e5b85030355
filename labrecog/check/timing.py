"""Check 1, time: age is measured from collection to the order, never to the clock."""

from __future__ import annotations

from datetime import timedelta

from labrecog.check.facts import CaseFacts
from labrecog.check.identity import Candidate
from labrecog.compile.compiled import Policy
from labrecog.model.decision import Reason
from labrecog.output.messages import format_duration
from labrecog.output.reasons import make_reason

__all__ = ["check_time"]


def check_time(cand: Candidate, policy: Policy, facts: CaseFacts, out: list[Reason]) -> None:
    collected, reported, rid = cand.freshness
    ordered = facts.ordered_us
    lang = facts.lang
    if collected > ordered:
        when = cand.prior.collected_at.isoformat()
        out.append(make_reason("future_result.collected", lang, result_id=rid, when=when))
        return
    if reported > ordered:
        when = cand.prior.reported_at.isoformat() if cand.prior.reported_at else "?"
        out.append(make_reason("future_result.reported", lang, result_id=rid, when=when))
    age = ordered - collected
    if age > policy.max_age_us:
        out.append(
            make_reason(
                "too_old",
                lang,
                result_id=rid,
                source=policy.max_age_source,
                age=format_duration(timedelta(microseconds=age)),
                max_age=format_duration(policy.max_age),
            )
        )

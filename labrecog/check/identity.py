"""Which catalogue test each prior result measures: by code, alias, pattern or LOINC.

Never by display name (TG is both triglycerides and thyroglobulin). When a result's code
and its LOINC name different tests the result is ambiguous, and it is used for neither.
"""

from __future__ import annotations

from calendar import timegm
from datetime import datetime
from typing import NamedTuple

from labrecog.compile.compiled import CompiledRules
from labrecog.model.case import PriorResult

__all__ = ["Candidate", "index_priors", "micros"]


def micros(moment: datetime) -> int:
    """Exact UTC microseconds since the epoch: integer comparisons, no float rounding."""
    return timegm(moment.utctimetuple()) * 1_000_000 + moment.microsecond


class Candidate(NamedTuple):
    """A prior result that measures a test, with its times as exact integers, once."""

    prior: PriorResult
    freshness: tuple[int, int, str]  # (collected, reported, id): freshest sorts last
    conflict: tuple[str, ...] = ()  # the tests its code and LOINC disagree on


def index_priors(
    rules: CompiledRules, priors: tuple[PriorResult, ...]
) -> dict[str, list[Candidate]]:
    """Group shared results by the test they measure; unresolvable results measure nothing."""
    out: dict[str, list[Candidate]] = {}
    result_codes = rules.result_codes
    loinc = rules.loinc
    for prior in priors:
        if not prior.shared:
            continue  # the patient closed sharing: the result must not be used or shown
        code = prior.code
        by_code = result_codes.get(code) if code is not None else None
        by_loinc = loinc.get(prior.loinc) if prior.loinc is not None else None
        collected = micros(prior.collected_at)
        reported = micros(prior.reported_at) if prior.reported_at is not None else collected
        fresh = (collected, reported, prior.id)
        if by_code is not None and (by_loinc is None or by_loinc == by_code):
            target = by_code
        elif by_code is None and code is None and by_loinc is not None:
            target = by_loinc
        else:
            tests = set(rules.resolve_result_code(code) if code is not None else ())
            if by_loinc is not None:
                tests.add(by_loinc)
            if len(tests) == 1:
                target = tests.pop()
            else:
                conflict = tuple(sorted(tests))
                for test in conflict:
                    out.setdefault(test, []).append(Candidate(prior, fresh, conflict))
                continue
        found = out.get(target)
        if found is None:
            out[target] = [Candidate(prior, fresh)]
        else:
            found.append(Candidate(prior, fresh))
    return out

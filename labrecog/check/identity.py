"""Which catalogue test each prior result measures: by code, alias, pattern or LOINC.

Never by display name (TG is both triglycerides and thyroglobulin). When a result's code
and its LOINC name different tests the result is ambiguous, and it is used for neither.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import NamedTuple

from labrecog.compile.compiled import CompiledRules
from labrecog.model.case import PriorResult

__all__ = ["Candidate", "index_priors", "micros"]


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def micros(moment: datetime) -> int:
    """Exact UTC microseconds since the epoch: integer comparisons, no float rounding."""
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


class Candidate(NamedTuple):
    """A prior result that measures a test, with its times as exact integers, once."""

    prior: PriorResult
    freshness: tuple[int, int, str]  # (collected, reported, id): freshest sorts last
    conflict: tuple[str, ...] = ()  # the tests its code and LOINC disagree on


def index_priors(
    rules: CompiledRules, priors: tuple[PriorResult, ...], wanted: frozenset[str]
) -> dict[str, list[Candidate]]:
    """Group shared results by the test they measure, for the ``wanted`` (ordered) tests.

    Unresolvable results measure nothing; results of tests nobody ordered are skipped
    before any work is spent on them.
    """
    out: dict[str, list[Candidate]] = {}
    result_codes = rules.result_codes
    loinc = rules.loinc
    for prior in priors:
        if not prior.shared:
            continue  # the patient closed sharing: the result must not be used or shown
        code = prior.code
        by_code = result_codes.get(code) if code is not None else None
        by_loinc = loinc.get(prior.loinc) if prior.loinc is not None else None
        conflict: tuple[str, ...] = ()
        if by_code is not None and (by_loinc is None or by_loinc == by_code):
            targets: tuple[str, ...] = (by_code,)
        elif by_code is None and code is None and by_loinc is not None:
            targets = (by_loinc,)
        else:
            tests = set(rules.resolve_result_code(code) if code is not None else ())
            if by_loinc is not None:
                tests.add(by_loinc)
            targets = tuple(sorted(tests))
            if len(targets) > 1:
                conflict = targets
        targets = tuple(t for t in targets if t in wanted)
        if not targets:
            continue
        collected = micros(prior.collected_at)
        reported = micros(prior.reported_at) if prior.reported_at is not None else collected
        candidate = Candidate(prior, (collected, reported, prior.id), conflict)
        for target in targets:
            found = out.get(target)
            if found is None:
                out[target] = [candidate]
            else:
                found.append(candidate)
    return out

"""Which catalogue test each prior result measures: by code, alias, pattern or LOINC.

Never by display name (TG is both triglycerides and thyroglobulin). When a result's code
and its LOINC name different tests the result is ambiguous, and it is used for neither.
"""

from __future__ import annotations

from dataclasses import dataclass

from labrecog.compile.compiled import CompiledRules
from labrecog.model.case import PriorResult

__all__ = ["Candidate", "index_priors"]


@dataclass(frozen=True, slots=True)
class Candidate:
    prior: PriorResult
    conflict: tuple[str, ...] = ()  # the tests its code and LOINC disagree on


def index_priors(
    rules: CompiledRules, priors: tuple[PriorResult, ...]
) -> dict[str, list[Candidate]]:
    """Group shared results by the test they measure; unresolvable results measure nothing."""
    out: dict[str, list[Candidate]] = {}
    for prior in priors:
        if not prior.shared:
            continue  # the patient closed sharing: the result must not be used or shown
        by_code = rules.resolve_result_code(prior.code) if prior.code is not None else ()
        by_loinc = rules.loinc.get(prior.loinc) if prior.loinc is not None else None
        tests = set(by_code)
        if by_loinc is not None:
            tests.add(by_loinc)
        if len(tests) == 1:
            out.setdefault(tests.pop(), []).append(Candidate(prior))
        elif tests:
            conflict = tuple(sorted(tests))
            for test in conflict:
                out.setdefault(test, []).append(Candidate(prior, conflict))
    return out

"""Which catalogue test each prior result measures: by code, alias, pattern or LOINC.

Never by display name (TG is both triglycerides and thyroglobulin). When a result's code
and its LOINC name different tests the result is ambiguous, and it is used for neither.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from labrecog.compile.compiled import CompiledRules
from labrecog.model.case import PriorResult

__all__ = ["Candidate", "freshness", "index_priors"]


class Candidate(NamedTuple):
    prior: PriorResult
    # The tests its code and LOINC disagree on; a single test: its LOINC is one the rule set
    # does not map, so nothing confirms what the code says.
    conflict: tuple[str, ...] = ()


def freshness(c: Candidate) -> tuple[datetime, datetime, str]:
    """Sort key: collection, then report time, then id, so input order never matters."""
    p = c.prior
    return (p.collected_at, p.reported_at or p.collected_at, p.id)


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
        if by_code is not None and (prior.loinc is None or by_loinc == by_code):
            target = by_code  # the common case: one exact code, its LOINC agreeing if given
        elif by_code is None and code is None and by_loinc is not None:
            target = by_loinc
        else:
            tests = set(rules.resolve_result_code(code) if code is not None else ())
            if by_loinc is not None:
                tests.add(by_loinc)
            if len(tests) != 1:
                conflict = tuple(sorted(tests))
                for test in conflict:
                    if test in wanted:
                        out.setdefault(test, []).append(Candidate(prior, conflict))
                continue
            target = tests.pop()
            if prior.loinc is not None and by_loinc is None:
                # A LOINC the rule set does not map (urine glucose under the local code GLU,
                # say) cannot confirm the code: the result is not used for that test.
                if target in wanted:
                    out.setdefault(target, []).append(Candidate(prior, (target,)))
                continue
        if target in wanted:
            found = out.get(target)
            if found is None:
                out[target] = [Candidate(prior)]
            else:
                found.append(Candidate(prior))
    return out

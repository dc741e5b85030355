"""Which catalogue test each prior result measures: by code, alias, pattern or LOINC.

Never by display name (TG is both triglycerides and thyroglobulin). When a result's code
and its LOINC name different tests the result is ambiguous, and it is used for neither.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from labrecog.compile import CompiledRules
from labrecog.model import PriorResult

__all__ = ["Index", "freshness", "index_priors"]


class Index(NamedTuple):
    """The shared prior results of a case, by the catalogue test they measure."""

    by_test: dict[str, list[PriorResult]]
    # Per result id: the tests its code and LOINC disagree on (the result is filed under each
    # of them); a single test: its LOINC is one the rule set does not map, so nothing
    # confirms what the code says. Either way the result is used for none of them.
    conflicts: dict[str, tuple[str, ...]]
    # Shared results whose code and LOINC name no catalogue test: not used, but a waiver
    # older than one of them says so (decide/_item.py), as it might be the same analyte.
    unmapped: list[PriorResult]


def freshness(p: PriorResult) -> tuple[datetime, datetime, str]:
    """Sort key: collection, then report time, then id, so input order never matters."""
    return (p.collected_at, p.reported_at or p.collected_at, p.id)


def index_priors(
    rules: CompiledRules, priors: tuple[PriorResult, ...], wanted: frozenset[str]
) -> Index:
    """Group shared results by the test they measure, for the ``wanted`` (ordered) tests.

    Unresolvable results measure nothing; results of tests nobody ordered are skipped
    before any work is spent on them.
    """
    out: dict[str, list[PriorResult]] = {}
    conflicts: dict[str, tuple[str, ...]] = {}
    unmapped: list[PriorResult] = []
    result_codes = rules.result_codes
    loinc = rules.loinc
    for prior in priors:
        if not prior.shared:
            continue  # the patient closed sharing: the result must not be used or shown
        code = prior.code
        given_loinc = prior.loinc
        by_code = result_codes.get(code) if code is not None else None
        by_loinc = loinc.get(given_loinc) if given_loinc is not None else None
        if by_code is not None and (given_loinc is None or by_loinc == by_code):
            target = by_code  # the common case: one exact code, its LOINC agreeing if given
        elif by_code is None and code is None and by_loinc is not None:
            target = by_loinc
        else:
            tests = set(rules.resolve_result_code(code) if code is not None else ())
            if by_loinc is not None:
                tests.add(by_loinc)
            if not tests:
                unmapped.append(prior)
                continue
            if len(tests) != 1:
                conflict = tuple(sorted(tests))
                for test in conflict:
                    if test in wanted:
                        out.setdefault(test, []).append(prior)
                        conflicts[prior.id] = conflict
                continue
            target = tests.pop()
            if given_loinc is not None and by_loinc is None:
                # A LOINC the rule set does not map (urine glucose under the local code GLU,
                # say) cannot confirm the code: the result is not used for that test.
                if target in wanted:
                    out.setdefault(target, []).append(prior)
                    conflicts[prior.id] = (target,)
                continue
        if target in wanted:
            found = out.get(target)
            if found is None:
                out[target] = [prior]
            else:
                found.append(prior)
    return Index(out, conflicts, unmapped)

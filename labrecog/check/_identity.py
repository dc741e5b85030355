"""Which catalogue test each prior result measures: by code, alias, pattern or LOINC.

Never by display name (TG is both triglycerides and thyroglobulin). When a result's code
and its LOINC name different tests the result is ambiguous, and it is used for neither.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

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
    memo = rules.identity_memo
    for prior in priors:
        if not prior.shared:
            continue  # the patient closed sharing: the result must not be used or shown
        key = (prior.code, prior.loinc)
        found = memo.get(key)
        if found is None:
            found = _identify(rules, *key)
            if len(memo) >= _MEMO_LIMIT:
                memo.clear()
            memo[key] = found
        kind, target = found
        if kind is _TEST:
            if target in wanted:
                tests = out.get(target)
                if tests is None:
                    out[target] = [prior]
                else:
                    tests.append(prior)
        elif kind is _UNMAPPED:
            unmapped.append(prior)
        elif kind is _CONFLICT:
            for test in target:
                if test in wanted:
                    out.setdefault(test, []).append(prior)
                    conflicts[prior.id] = target
        elif target in wanted:  # _UNCONFIRMED
            out.setdefault(target, []).append(prior)
            conflicts[prior.id] = (target,)
    return Index(out, conflicts, unmapped)


# What a (code, LOINC) pair says a result measures: one test; tests its code and LOINC
# disagree on; one test its LOINC (one the rule set does not map) cannot confirm; nothing.
_TEST, _CONFLICT, _UNCONFIRMED, _UNMAPPED = "test", "conflict", "unconfirmed", "unmapped"
_MEMO_LIMIT = 65_536


def _identify(rules: CompiledRules, code: str | None, given_loinc: str | None) -> tuple[str, Any]:
    """The kind of answer and its test (a sorted tuple of them for a conflict): a pure
    function of the pair under one rule set, so index_priors memoises it there."""
    by_code = rules.result_codes.get(code) if code is not None else None
    by_loinc = rules.loinc.get(given_loinc) if given_loinc is not None else None
    if by_code is not None and (given_loinc is None or by_loinc == by_code):
        return _TEST, by_code  # the common case: one exact code, its LOINC agreeing if given
    if by_code is None and code is None and by_loinc is not None:
        return _TEST, by_loinc
    tests = set(rules.resolve_result_code(code) if code is not None else ())
    if by_loinc is not None:
        tests.add(by_loinc)
    if not tests:
        return _UNMAPPED, None
    if len(tests) != 1:
        return _CONFLICT, tuple(sorted(tests))
    target = tests.pop()
    if given_loinc is not None and by_loinc is None:
        # A LOINC the rule set does not map (urine glucose under the local code GLU,
        # say) cannot confirm the code: the result is not used for that test.
        return _UNCONFIRMED, target
    return _TEST, target

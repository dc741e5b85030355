"""Results an adapter could not read: any of them may be the newest result of a test.

An unreadable result is never used, but what it says is unknown: it might be critical, or
differ from the result a waiver would rest on. So one that names an ordered test (its code
and LOINC resolved as a prior result's are; ambiguous: every test it could be; a panel's
LOINC: the panel's components) withholds a waiver resting on a result collected no later
than it, or when its own collection time is unknown. Collected after the order, it cannot
be one the doctor should have seen. On a re-test anyway it is named all the same, so the
doctor sees why a result they know of did not count.
"""

from __future__ import annotations

from labrecog.check._facts import CaseFacts
from labrecog.compile import CompiledRules
from labrecog.model import PriorResult, Reason, UnreadableResult, make_reason
from labrecog.words import input_text

__all__ = ["check_unreadable", "index_unreadable"]


def index_unreadable(
    rules: CompiledRules, results: tuple[UnreadableResult, ...], wanted: frozenset[str]
) -> dict[str, list[UnreadableResult]]:
    """The unreadable results by the ordered (``wanted``) test they may be a result of."""
    out: dict[str, list[UnreadableResult]] = {}
    for result in results:
        for test in sorted(_tests(rules, result) & wanted):
            out.setdefault(test, []).append(result)
    return out


def _tests(rules: CompiledRules, result: UnreadableResult) -> set[str]:
    found: set[str] = set()
    if result.code is not None:
        found.update(rules.resolve_result_code(result.code))
    if result.loinc is not None:
        target = rules.loinc.get(result.loinc)
        if target in rules.tests:
            found.add(target)
        elif target in rules.panels:
            found.update(rules.panels[target].components)
    return found


def check_unreadable(
    unreadable: list[UnreadableResult],
    used: PriorResult | None,
    facts: CaseFacts,
    out: list[Reason],
) -> None:
    """Name the unreadable results that matter to one test: with ``used`` (the result a
    waiver would rest on), those that may be newer than it; without, every one not
    collected after the order."""
    ordered = facts.ordered_at
    for result in unreadable:
        when = result.collected_at
        if when is not None and (when > ordered or (used is not None and when < used.collected_at)):
            continue
        first = result.problems[0]
        key = "unreadable_result" if result.id is not None else "unreadable_result.anonymous"
        if used is not None:
            key += ".blocks" if result.id is not None else "_blocks"
        out.append(
            make_reason(
                key,
                facts.lang,
                result_id=result.id,
                id=result.id,
                where=first.path,
                problem=input_text(first.message, facts.lang),
                used=used.id if used is not None else "",
            )
        )

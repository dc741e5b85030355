"""The freshest result governs: an older result may not be relied on when a newer one of
the same analyte says the patient's picture has changed.

A newer result can be unusable for recognition (another lab, no mark, a critical value)
and still be the best evidence of the patient's state. So every candidate newer than the
one a waiver would rest on is looked at, whatever its lab, mark, level or region: if it is
critical, implausible, cannot be compared, or differs by more than the test's delta-check
limit, the waiver is off. Results the patient did not share never reach this check.
"""

from __future__ import annotations

from typing import NamedTuple

from labrecog.check._facts import CaseFacts
from labrecog.check._indicator import critical_zone, text_unit_refusal
from labrecog.check._plausibility import plausible
from labrecog.check._status import NOT_RESULTS
from labrecog.compile import CTest, Policy
from labrecog.model import PriorResult
from labrecog.words import duration_text

__all__ = ["Newer", "NewerConflict", "newer_conflict"]


class Newer(NamedTuple):
    """A candidate fresher than the one in use, as the checks left it."""

    prior: PriorResult
    value: float | None  # in the test's unit (plausible or not); None if missing or unconvertible


class NewerConflict(NamedTuple):
    """Why ``newer`` overrides the older results: a message key and its parameters."""

    key: str
    params: dict[str, str]


def newer_conflict(
    newer: list[Newer],
    used: PriorResult,
    used_value: float | None,
    test: CTest,
    policy: Policy,
    facts: CaseFacts,
) -> NewerConflict | None:
    """The freshest newer result that conflicts with ``used``, or None. ``newer`` is in
    freshness order, freshest first."""
    for prior, value in newer:
        if prior.status in NOT_RESULTS or prior.collected_at > facts.ordered_at:
            continue
        found = _conflict(prior, value, used, used_value, test, policy)
        if found is not None:
            key, params = found
            params["newer"] = prior.id
            params["ago"] = duration_text(facts.ordered_at - prior.collected_at)
            return NewerConflict(key, params)
    return None


def _conflict(
    prior: PriorResult,
    value: float | None,
    used: PriorResult,
    used_value: float | None,
    test: CTest,
    policy: Policy,
) -> tuple[str, dict[str, str]] | None:
    if test.qualitative:
        return _qualitative(prior, used, test)
    unit = test.unit
    if value is None:
        why = "no value" if prior.value is None else f"{prior.value:.4g} {prior.unit or '?'}"
        return "newer_result_conflicts.uncomparable", {"why": why}
    if not plausible(value, test):
        return "newer_result_conflicts.implausible", {"value": f"{value:.4g}", "unit": unit}
    shown = f"{value:.4g}"
    low, high = test.critical_low, test.critical_high
    if (low is not None and value <= low) or (high is not None and value >= high):
        shown_limits = critical_zone(low, high, "")
        params = {"value": shown, "unit": unit, "limits": shown_limits}
        return "newer_result_conflicts.critical", params
    if used_value is None:  # cannot happen for a result that passed; never waive on it
        return "newer_result_conflicts.uncomparable", {"why": "the result in use has no value"}
    difference = abs(value - used_value)
    slack = 1e-9 * max(abs(value), abs(used_value), 1.0)
    absolute, relative = policy.delta_absolute, policy.delta_relative
    limits: list[tuple[float, str]] = []
    if absolute is not None:
        limits.append((absolute, f"{absolute:.4g} {unit}"))
    if relative is not None:
        limits.append((relative * abs(used_value), f"{relative:.0%}"))
    for limit, text in limits:
        if difference > limit + slack:
            return "newer_result_conflicts.delta", {
                "value": shown,
                "unit": unit,
                "used": f"{used_value:.4g}",
                "difference": f"{difference:.4g} {unit}",
                "limit": text,
            }
    return None


def _qualitative(
    prior: PriorResult, used: PriorResult, test: CTest
) -> tuple[str, dict[str, str]] | None:
    """A newer qualitative result conflicts when its class (normal/abnormal) differs from
    the used one's, or cannot be read (no text, or a unit that makes the record
    inconsistent)."""
    text = prior.value_text
    if text is None:
        return "newer_result_conflicts.uncomparable", {"why": "no value"}
    if prior.unit is not None and text_unit_refusal(prior.unit, test) is not None:
        # an inconsistent record (a unit that does not parse, or not the test's): unread
        return "newer_result_conflicts.uncomparable", {"why": f"{text} {prior.unit}"}
    found = _class(text, test)
    if found is None or found != _class(used.value_text or "", test):
        return "newer_result_conflicts.qualitative", {"text": text, "used": used.value_text or ""}
    return None


def _class(text: str, test: CTest) -> bool | None:
    folded = text.strip().casefold()
    if folded in test.normal_values:
        return True
    if folded in test.abnormal_values:
        return False
    return None

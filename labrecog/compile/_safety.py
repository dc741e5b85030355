"""Compiling the safety knobs: delta limits, plausible values and LOINC specimen systems.

Each is checked against the rest of the rule set when it loads, so a limit that could
never hold (a plausible range narrower than the reference interval, an absolute delta on a
category whose tests have different units) stops the rule set instead of a case.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from labrecog.load import Delta, RuleFile, TestDef

__all__ = [
    "LOINC_SYSTEM_SPECIMENS",
    "check_layer_delta",
    "check_plausible",
    "delta_override",
    "loinc_specimens",
]

Problem = Callable[[Sequence[str | int], str], None]

#: LOINC SYSTEM axis -> the specimen names (as rule sets' ``specimen:`` lists write them)
#: a result of that system may be. A test accepts a result of a system only if it accepts
#: every specimen the system may mean: Ser/Plas is no answer for a serum-only test.
LOINC_SYSTEM_SPECIMENS: dict[str, frozenset[str]] = {
    "Ser": frozenset({"serum"}),
    "Plas": frozenset({"plasma"}),
    "PPP": frozenset({"plasma"}),
    "Ser/Plas": frozenset({"serum", "plasma"}),
    "Bld": frozenset({"whole blood"}),
    "BldV": frozenset({"venous blood"}),
    "BldA": frozenset({"arterial blood"}),
    "BldC": frozenset({"capillary blood"}),
    "Ser/Plas/Bld": frozenset({"serum", "plasma", "whole blood"}),
    "Urine": frozenset({"urine"}),
}


def delta_override(delta: Delta | None, source: str | None) -> dict[str, Any]:
    """The Override fields of one layer's ``delta:`` (nothing when it sets none)."""
    if delta is None:
        return {}
    return {
        "delta": True,
        "delta_absolute": delta.absolute,
        "delta_relative": delta.relative,
        "delta_source": delta.source or source,
    }


def check_layer_delta(delta: Delta | None, path: Sequence[str | int], problem: Problem) -> None:
    """An absolute limit is in one test's unit: defaults, categories and conditions, which
    reach tests of many units, may only set a relative one."""
    if delta is not None and delta.absolute is not None:
        problem(
            (*path, "delta", "absolute"),
            "an absolute delta is in one test's unit: set it on the test, "
            "or give only a relative limit here",
        )


def check_plausible(test: TestDef, path: Sequence[str | int], problem: Problem) -> None:
    """Plausible limits must hold every value the test itself calls real: its reference
    intervals and critical limits. Only quantitative tests have them."""
    limits = test.plausible
    if limits is None:
        return
    if test.qualitative_scale:
        problem((*path, "plausible"), "a qualitative test has no plausible limits")
        return
    low, high = limits.low, limits.high
    bounds: list[tuple[str, float | None]] = []
    for r in test.reference_range:
        bounds += [("reference_range low", r.low), ("reference_range high", r.high)]
    if test.critical is not None:
        bounds += [("critical low", test.critical.low), ("critical high", test.critical.high)]
    for name, value in bounds:
        if value is None:
            continue
        if (low is not None and value < low) or (high is not None and value > high):
            problem(
                (*path, "plausible"),
                f"{test.code}: the {name} {value:g} lies outside the plausible limits",
            )
            return


def loinc_specimens(
    rules: RuleFile, loinc: dict[str, str], problem: Problem
) -> dict[str, tuple[str, frozenset[str]]]:
    """``loinc_systems`` for the LOINC codes the catalogue maps (another is a typo)."""
    out: dict[str, tuple[str, frozenset[str]]] = {}
    for code, system in rules.loinc_systems.items():
        if code not in loinc:
            problem(("loinc_systems", code), f"LOINC {code} is not in the catalogue")
            continue
        out[code] = (system, LOINC_SYSTEM_SPECIMENS[system])
    return out

"""Plausibility: a value no living patient can have is an error, not a result.

A negative concentration, a zero sodium or 1e300 mmol/L come from a unit slip, a
transcription error or a broken interface; such a result is unusable, and as a newer result
it still says that the patient's picture is unknown (check/_recency.py).
"""

from __future__ import annotations

import math

from labrecog.check._facts import CaseFacts
from labrecog.compile import CTest
from labrecog.model import PriorResult, Reason, make_reason

__all__ = ["check_plausible", "plausible"]


def plausible(value: float, test: CTest) -> bool:
    """Within the test's plausible limits (canonical unit); without a declared low limit a
    negative value is implausible: the quantities labs report cannot be below zero."""
    if not math.isfinite(value):
        return False
    low, high = test.plausible_low, test.plausible_high
    if value < (0.0 if low is None else low):
        return False
    return high is None or value <= high


def check_plausible(
    prior: PriorResult, test: CTest, value: float | None, facts: CaseFacts, out: list[Reason]
) -> float | None:
    """The value if plausible; otherwise a reason, and None: later checks must not use it."""
    if value is None or plausible(value, test):
        return value
    lang = facts.lang
    shown = f"{value:.4g}"
    low, high = test.plausible_low, test.plausible_high
    if low is None and high is None and math.isfinite(value):
        out.append(
            make_reason(
                "implausible_value.negative",
                lang,
                result_id=prior.id,
                value=shown,
                unit=test.unit,
                name=test.name(lang),
            )
        )
        return None
    limits = f"{'-∞' if low is None else f'{low:.4g}'}–{'∞' if high is None else f'{high:.4g}'}"
    out.append(
        make_reason(
            "implausible_value",
            lang,
            result_id=prior.id,
            source=test.plausible_source,
            value=shown,
            unit=test.unit,
            limits=f"{limits} {test.unit}",
        )
    )
    return None

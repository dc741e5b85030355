"""Check 3, reference range: the prior lab's interval must agree with ours for this patient.

Tolerance is a fraction of the local interval's width (of the bound itself when the local
interval is one-sided): a 0.1 mmol/L shift matters for potassium, not for triglycerides.
"""

from __future__ import annotations

from typing import Literal

from labrecog.check._facts import CaseFacts
from labrecog.check._indicator import unit_reason
from labrecog.compile import CRange, CTest, Policy
from labrecog.model import PriorResult, Reason, make_reason
from labrecog.units import UnitError
from labrecog.words import Lang, patient_words

__all__ = ["check_reference_range"]


def check_reference_range(
    prior: PriorResult,
    test: CTest,
    policy: Policy,
    local: CRange | Literal[False] | None,
    facts: CaseFacts,
    out: list[Reason],
) -> None:
    """``local`` is ``test.local_range(facts.sex, facts.age)``, looked up once per test."""
    if test.qualitative:
        return
    # Each attribute of the result is read once (a model's attribute read is not free):
    # the result's id only when there is something to say about it.
    lang = facts.lang
    if not local:
        if policy.reference_range_required or test.ranges:
            who = patient_words(facts.sex, facts.age, lang)
            out.append(
                make_reason("reference_range_missing.local", lang, result_id=prior.id, who=who)
            )
        return
    given = prior.reference_range
    given_low = None if given is None else given.low
    given_high = None if given is None else given.high
    if given is None or (given_low is None and given_high is None):
        if policy.reference_range_required:
            out.append(make_reason("reference_range_missing", lang, result_id=prior.id))
        return
    unit = given.unit or prior.unit
    if unit is None:
        out.append(
            make_reason(
                "unit_unknown.missing",
                lang,
                result_id=prior.id,
                name=test.name(lang),
                unit=test.unit,
            )
        )
        return
    conv = test.conversions.get(unit)
    if conv is None:
        found = test.convert(unit)
        if isinstance(found, UnitError):
            if unit != prior.unit or prior.value is None:
                # (the same unit on the value was already reported by the indicator check)
                out.append(unit_reason(found, unit, test, facts, prior.id))
            return
        conv = found
    factor, offset = conv.factor, conv.offset
    low = None if given_low is None else factor * given_low + offset
    high = None if given_high is None else factor * given_high + offset
    limit = policy.tolerance * local.span + local.slack
    # The lower bound first, then the upper; the first that is missing or off is reported.
    ours = local.low
    if ours is not None:
        if low is None:
            bound = "lower" if lang == "en" else "下"
            out.append(make_reason(_NO_BOUND, lang, result_id=prior.id, bound=bound))
            return
        if abs(low - ours) > limit:
            out.append(_incompatible(prior.id, low, high, test, policy, local, lang))
            return
    ours = local.high
    if ours is not None:
        if high is None:
            bound = "upper" if lang == "en" else "上"
            out.append(make_reason(_NO_BOUND, lang, result_id=prior.id, bound=bound))
            return
        if abs(high - ours) > limit:
            out.append(_incompatible(prior.id, low, high, test, policy, local, lang))


_NO_BOUND = "reference_range_missing.bound"


def _incompatible(
    rid: str,
    low: float | None,
    high: float | None,
    test: CTest,
    policy: Policy,
    local: CRange,
    lang: Lang,
) -> Reason:
    return make_reason(
        "reference_range_incompatible",
        lang,
        result_id=rid,
        source=policy.tolerance_source or local.source,
        prior=_interval(low, high, test.unit),
        local=_interval(local.low, local.high, test.unit),
        tolerance=f"{policy.tolerance:.0%} × {local.span:.4g}",
    )


def _interval(low: float | None, high: float | None, unit: str) -> str:
    """``3.9–6.1 mmol/L``, ``≤ 26 umol/L`` or ``≥ 40 g/L``: one-sided ranges read as such."""
    if low is None and high is not None:
        return f"≤ {high:.4g} {unit}"
    if high is None and low is not None:
        return f"≥ {low:.4g} {unit}"
    return f"{low:.4g}–{high:.4g} {unit}"

"""Check 2, indicator: same analyte, accepted specimen and method, a value that converts.

Returns the value in the test's canonical unit (or None) so later checks reuse it.
"""

from __future__ import annotations

import functools
from typing import Literal

from labrecog.check._facts import CaseFacts
from labrecog.compile import CRange, CTest, Policy
from labrecog.model import PriorResult, Reason, make_reason
from labrecog.units import UnitError, check_unit

__all__ = [
    "check_indicator",
    "check_value_flags",
    "critical_zone",
    "text_unit_refusal",
    "unit_reason",
]


def check_indicator(
    prior: PriorResult, test: CTest, facts: CaseFacts, out: list[Reason]
) -> float | None:
    if test.specimens:
        specimen = prior.specimen
        if specimen is None and prior.loinc is not None:
            _specimen_by_loinc(prior, prior.loinc, test, facts, out)
        elif specimen is None or specimen.casefold() not in test.specimens:
            out.append(_unlisted("specimen_mismatch", "specimen", specimen, test.specimen_text,
                                 test, facts, prior.id))  # fmt: skip
    if test.methods:
        method = prior.method
        if method is None or method.casefold() not in test.methods:
            out.append(_unlisted("method_mismatch", "method", method, test.method_text,
                                 test, facts, prior.id))  # fmt: skip
    if test.qualitative:
        text = prior.value_text
        if prior.unit is not None:
            refused = text_unit_refusal(prior.unit, test)
            if refused is not None:
                out.append(unit_reason(refused, prior.unit, test, facts, prior.id))
        if text is None:
            out.append(
                make_reason(
                    "value_unrecognised.qualitative",
                    facts.lang,
                    result_id=prior.id,
                    name=test.name(facts.lang),
                )
            )
        else:
            folded = text.strip().casefold()
            if folded not in test.normal_values and folded not in test.abnormal_values:
                out.append(
                    make_reason(
                        "value_unrecognised.text",
                        facts.lang,
                        result_id=prior.id,
                        text=text,
                        name=test.name(facts.lang),
                    )
                )
        return None
    value = prior.value
    if value is None:
        out.append(
            make_reason(
                "value_unrecognised.missing",
                facts.lang,
                result_id=prior.id,
                name=test.name(facts.lang),
            )
        )
        return None
    unit = prior.unit
    if unit is None:
        out.append(
            make_reason(
                "unit_unknown.missing",
                facts.lang,
                result_id=prior.id,
                name=test.name(facts.lang),
                unit=test.unit,
            )
        )
        return None
    conv = test.conversions.get(unit)  # the units a test's results come in are few
    if conv is None:
        found = test.convert(unit)
        if isinstance(found, UnitError):
            out.append(unit_reason(found, unit, test, facts, prior.id))
            return None
        conv = found
    return conv.factor * value + conv.offset


def _specimen_by_loinc(
    prior: PriorResult, loinc: str, test: CTest, facts: CaseFacts, out: list[Reason]
) -> None:
    """No specimen given: the LOINC code's system names it, if the rule set says which.
    Ser/Plas is accepted only where both serum and plasma are: an ambiguous system is no
    answer for a test that takes one of them."""
    system = facts.rules.loinc_specimens.get(loinc)
    if system is None:
        out.append(_unlisted("specimen_mismatch", "specimen", None, test.specimen_text,
                             test, facts, prior.id))  # fmt: skip
    elif not system[1] <= test.specimens:
        out.append(
            make_reason(
                "specimen_mismatch.loinc_system",
                facts.lang,
                result_id=prior.id,
                loinc=loinc,
                system=system[0],
                specimens=", ".join(sorted(system[1])),
                name=test.name(facts.lang),
                allowed=test.specimen_text,
            )
        )


def _unlisted(
    code: str,
    what: str,
    given: str | None,
    accepted_text: str,
    test: CTest,
    facts: CaseFacts,
    rid: str,
) -> Reason:
    """A value missing from the test's list (specimen, method): absent is not accepted."""
    name = test.name(facts.lang)
    if given is None:
        return make_reason(
            f"{code}.missing", facts.lang, result_id=rid, name=name, allowed=accepted_text
        )
    params = {what: given, "name": name, "allowed": accepted_text}
    return make_reason(code, facts.lang, result_id=rid, **params)


def text_unit_refusal(unit: str, test: CTest) -> UnitError | None:
    """Why a qualitative result's unit makes the record inconsistent, or None.

    A text result needs no unit; one it gives must still parse (``furlong/fortnight`` on a
    "negative" says the record is garbled, so it is not used), and when the test declares a
    unit, convert to it (another kind of quantity means another assay or analyte).
    """
    if test.unit:
        found = test.convert(unit)  # memoised per spelling on the test
        return found if isinstance(found, UnitError) else None
    return _unparsable(unit)


@functools.lru_cache(maxsize=1024)
def _unparsable(unit: str) -> UnitError | None:
    """Memoised by spelling: a case's text results repeat a few units, and normalising and
    parsing one belongs to its first sight, not to every case."""
    try:
        check_unit(unit)
    except UnitError as exc:
        return exc.with_traceback(None)
    return None


def unit_reason(err: UnitError, unit: str, test: CTest, facts: CaseFacts, rid: str) -> Reason:
    if err.message == "not_accepted":
        return make_reason(
            "unit_incompatible.not_accepted",
            facts.lang,
            result_id=rid,
            unit=unit,
            name=test.name(facts.lang),
            allowed=", ".join(test.accepted_units),
        )
    return make_reason(
        err.code,
        facts.lang,
        result_id=rid,
        detail=err.message,
        unit=unit,
        name=test.name(facts.lang),
        target=test.unit,
    )


def check_value_flags(
    prior: PriorResult,
    test: CTest,
    value: float | None,
    policy: Policy,
    local: CRange | Literal[False] | None,
    facts: CaseFacts,
    out: list[Reason],
) -> None:
    """Abnormal and critical prior values, as the rule set's policy says.

    ``local`` is ``test.local_range(facts.sex, facts.age)``, looked up once per test.
    """
    lang = facts.lang
    if test.qualitative:
        if (
            policy.abnormal_prior == "reject"
            and prior.value_text is not None
            and prior.value_text.strip().casefold() in test.abnormal_values
        ):
            out.append(
                make_reason(
                    "abnormal_value.qualitative", lang, result_id=prior.id, text=prior.value_text
                )
            )
        return
    if value is None:
        return
    low, high = test.critical_low, test.critical_high
    if policy.critical_prior == "reject" and (
        (low is not None and value <= low) or (high is not None and value >= high)
    ):
        out.append(
            make_reason(
                "critical_value",
                lang,
                result_id=prior.id,
                value=_num(value),
                unit=test.unit,
                limits=critical_zone(low, high, test.unit),
            )
        )
    if policy.abnormal_prior == "reject" and local and _outside(value, local.low, local.high):
        out.append(
            make_reason(
                "abnormal_value",
                lang,
                result_id=prior.id,
                source=local.source,
                value=_num(value),
                unit=test.unit,
                range=_limits(local.low, local.high, test.unit),
            )
        )


def critical_zone(low: float | None, high: float | None, unit: str) -> str:
    """Where a value is critical: ``≤ 2.8 / ≥ 6.2 mmol/L``, or the one side that is."""
    sides = [f"≤ {_num(low)}"] if low is not None else []
    if high is not None:
        sides.append(f"≥ {_num(high)}")
    return " / ".join(sides) + (f" {unit}" if unit else "")


def _outside(value: float, low: float | None, high: float | None) -> bool:
    return (low is not None and value < low) or (high is not None and value > high)


def _num(value: float) -> str:
    return f"{value:.4g}"


def _limits(low: float | None, high: float | None, unit: str = "") -> str:
    """Limits with their unit; a one-sided range reads ``≤ 26`` or ``≥ 40``."""
    tail = f" {unit}" if unit else ""
    if low is None and high is not None:
        return f"≤ {_num(high)}{tail}"
    if high is None and low is not None:
        return f"≥ {_num(low)}{tail}"
    return f"{_num(low or 0.0)}–{_num(high or 0.0)}{tail}"

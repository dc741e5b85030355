"""Check 2, indicator: same analyte, accepted specimen and method, a value that converts.

Returns the value in the test's canonical unit (or None) so later checks reuse it.
"""

from __future__ import annotations

from labrecog.check.facts import CaseFacts
from labrecog.compile.compiled import CTest, Policy
from labrecog.compile.units import UnitError
from labrecog.model.case import PriorResult
from labrecog.model.decision import Reason
from labrecog.output.reasons import make_reason

__all__ = ["check_indicator", "check_value_flags", "unit_reason"]


def check_indicator(
    prior: PriorResult, test: CTest, facts: CaseFacts, out: list[Reason]
) -> float | None:
    lang = facts.lang
    rid = prior.id
    name = test.name(lang)
    if test.specimens:
        _listed("specimen_mismatch", "specimen", prior.specimen, test.specimens,
                test.specimen_text, name, facts, rid, out)  # fmt: skip
    if test.methods:
        _listed("method_mismatch", "method", prior.method, test.methods,
                test.method_text, name, facts, rid, out)  # fmt: skip
    if test.qualitative:
        if prior.value_text is None:
            out.append(
                make_reason("value_unrecognised.qualitative", lang, result_id=rid, name=name)
            )
        else:
            text = prior.value_text.strip().casefold()
            if text not in test.normal_values and text not in test.abnormal_values:
                out.append(
                    make_reason(
                        "value_unrecognised.text",
                        lang,
                        result_id=rid,
                        text=prior.value_text,
                        name=name,
                    )
                )
        return None
    if prior.value is None:
        out.append(make_reason("value_unrecognised.missing", lang, result_id=rid, name=name))
        return None
    if prior.unit is None:
        out.append(
            make_reason("unit_unknown.missing", lang, result_id=rid, name=name, unit=test.unit)
        )
        return None
    conv = test.convert(prior.unit)
    if isinstance(conv, UnitError):
        out.append(unit_reason(conv, prior.unit, test, facts, rid))
        return None
    return conv.factor * prior.value + conv.offset


def _listed(
    code: str,
    what: str,
    given: str | None,
    accepted: frozenset[str],
    accepted_text: str,
    name: str,
    facts: CaseFacts,
    rid: str,
    out: list[Reason],
) -> None:
    """A stated value from the test's list (specimen, method): absent is not accepted."""
    if given is None:
        out.append(
            make_reason(f"{code}.missing", facts.lang, result_id=rid, name=name,
                        allowed=accepted_text)
        )  # fmt: skip
    elif given.casefold() not in accepted:
        params = {what: given, "name": name, "allowed": accepted_text}
        out.append(make_reason(code, facts.lang, result_id=rid, **params))


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
    facts: CaseFacts,
    out: list[Reason],
) -> None:
    """Abnormal and critical prior values, as the rule set's policy says."""
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
                limits=_limits(low, high, test.unit),
            )
        )
    if policy.abnormal_prior == "reject":
        local = test.local_range(facts.sex, facts.age)
        if local and _outside(value, local.low, local.high):
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

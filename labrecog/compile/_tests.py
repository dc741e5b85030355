"""Compiling one catalogue test: its canonical unit, the conversions from every unit it
declares, its specimen spellings and its reference intervals, checked once at load."""

from __future__ import annotations

from labrecog.compile._compiled import CRange, CTest, Policy
from labrecog.compile._safety import Problem
from labrecog.load import TestDef
from labrecog.units import Conversion, UnitError, check_unit, conversion, normalise_unit

__all__ = ["compile_test"]


def compile_test(
    test: TestDef,
    index: int,
    policy: Policy,
    problem: Problem,
    specimen_names: dict[str, frozenset[str]] | None = None,
) -> CTest:
    """One catalogue test: its unit checked and its declared units' conversions built."""
    path: tuple[str | int, ...] = ("tests", index)
    unit = normalise_unit(test.unit) if test.unit else ""
    conversions: dict[str, Conversion] = {}
    # A qualitative test needs no unit; one it declares is checked like any other, so a
    # text result's unit can be held to it (check/_indicator.py).
    if not test.qualitative_scale or test.unit:
        try:
            check_unit(unit)
        except UnitError as exc:
            problem((*path, "unit"), f"{test.code}: {exc.message}")
            return _record(test, unit, policy, {}, (), frozenset())
        if test.equation == "hba1c_ngsp_ifcc" and unit not in ("%", "mmol/mol"):
            problem((*path, "equation"), "the HbA1c equation needs unit % or mmol/mol")
        for j, text in enumerate((test.unit or "", *test.units)):
            spelled = normalise_unit(text)
            try:
                conv = conversion(spelled, unit, molar_mass=test.molar_mass, equation=test.equation)
            except UnitError as exc:
                at = (*path, "units", j - 1) if j else (*path, "unit")
                problem(at, f"{test.code}: unit {text}: {exc.message}")
                continue
            conversions[spelled] = conv
            conversions[text] = conv
        for spelling, ucum in test.unit_aliases.items():
            try:
                conv = conversion(
                    normalise_unit(ucum), unit, molar_mass=test.molar_mass, equation=test.equation
                )
            except UnitError as exc:
                problem(
                    (*path, "unit_aliases", spelling),
                    f"{test.code}: unit alias {spelling}: {exc.message}",
                )
                continue
            conversions[spelling] = conv
            conversions.setdefault(normalise_unit(spelling), conv)
    accepted = tuple(dict.fromkeys(normalise_unit(u) for u in (test.unit or "", *test.units)))
    spellings = frozenset(
        spelling
        for name in test.specimen
        for spelling in (specimen_names or {}).get(name.casefold(), frozenset({name.casefold()}))
    )
    return _record(test, unit, policy, conversions, accepted if test.units else (), spellings)


def _record(
    test: TestDef,
    unit: str,
    policy: Policy,
    conversions: dict[str, Conversion],
    accepted: tuple[str, ...],
    specimens: frozenset[str],
) -> CTest:
    ranges = tuple(
        CRange(
            sex=r.sex,
            age_min=r.age.min if r.age else None,
            age_max=r.age.max if r.age else None,
            low=r.low,
            high=r.high,
            source=r.source,
        )
        for r in test.reference_range
    )
    values = test.values
    name_en = (test.name.en if test.name else None) or test.code
    name_zh = (test.name.zh if test.name else None) or name_en
    return CTest(
        code=test.code,
        name_en=name_en,
        name_zh=name_zh,
        category=test.category,
        specimens=specimens or frozenset(s.casefold() for s in test.specimen),
        specimen_text=", ".join(test.specimen),
        methods=frozenset(m.casefold() for m in test.methods),
        method_text=", ".join(test.methods),
        qualitative=test.qualitative_scale,
        unit=unit,
        molar_mass=test.molar_mass,
        equation=test.equation,
        accepted_units=accepted,
        normal_values=frozenset(v.casefold() for v in values.normal) if values else frozenset(),
        abnormal_values=frozenset(v.casefold() for v in values.abnormal) if values else frozenset(),
        ranges=ranges,
        critical_low=test.critical.low if test.critical else None,
        critical_high=test.critical.high if test.critical else None,
        price=test.price.value,
        policy=policy,
        plausible_low=test.plausible.low if test.plausible else None,
        plausible_high=test.plausible.high if test.plausible else None,
        plausible_source=test.plausible.source if test.plausible else None,
        conversions=conversions,
    )

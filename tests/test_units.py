"""Unit parsing and conversion: published factors, fail-closed refusals, memoisation."""

from __future__ import annotations

import math
import pickle
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labrecog.units import (
    IDENTITY,
    UNIT_ALIASES,
    Conversion,
    Equation,
    UnitAlias,
    UnitError,
    check_unit,
    conversion,
    normalise_unit,
)
from labrecog.units import _convert as units

# --------------------------------------------------------------------------- published factors

# (analyte, molar mass g/mol, source, target, published factor)
PUBLISHED = [
    ("glucose", 180.16, "mg/dL", "mmol/L", 0.05551),
    ("creatinine", 113.12, "mg/dL", "umol/L", 88.4),
    ("cholesterol", 386.65, "mg/dL", "mmol/L", 0.02586),
    ("triglyceride", 885.7, "mg/dL", "mmol/L", 0.01129),
    ("bilirubin", 584.66, "mg/dL", "umol/L", 17.1),
    ("uric acid", 168.11, "mg/dL", "umol/L", 59.48),
    ("calcium", 40.08, "mg/dL", "mmol/L", 0.2495),
]


@pytest.mark.parametrize(("analyte", "molar_mass", "source", "target", "factor"), PUBLISHED)
def test_published_molar_factors(
    analyte: str, molar_mass: float, source: str, target: str, factor: float
) -> None:
    forward = conversion(source, target, molar_mass=molar_mass)
    assert forward.offset == 0.0
    assert forward.factor == pytest.approx(factor, rel=0.01), analyte
    back = conversion(target, source, molar_mass=molar_mass)
    assert back.factor == pytest.approx(1 / factor, rel=0.01), analyte


@pytest.mark.parametrize(
    ("source", "target", "molar_mass", "factor"),
    [
        ("g/L", "mol/L", 180.16, 1 / 180.16),
        ("ng/mL", "pmol/L", 300.0, 1e6 / 300.0),
        ("mg", "mmol", 180.16, 1 / 180.16),
        ("mmol/L", "mg/dL", 180.16, 18.016),
        ("mg/L", "mg/dL", None, 0.1),
        ("10*9/L", "/uL", None, 1000.0),
        ("10*9/L", "10*3/uL", None, 1.0),
        ("%", "1", None, 0.01),
        ("[ppm]", "%", None, 1e-4),
        ("mmol/mol", "umol/mol", None, 1000.0),
        ("mL/dL", "L/L", None, 0.01),
        ("mm[Hg]", "kPa", None, 0.133322),
    ],
)
def test_same_dimension_and_molar_factors(
    source: str, target: str, molar_mass: float | None, factor: float
) -> None:
    got = conversion(source, target, molar_mass=molar_mass)
    assert got.factor == pytest.approx(factor, rel=1e-5)
    assert got.offset == 0.0


def test_enzyme_activity_units_to_katal() -> None:
    assert conversion("U/L", "ukat/L").factor == pytest.approx(1 / 60, rel=1e-9)
    assert conversion("ukat/L", "U/L").factor == pytest.approx(60, rel=1e-9)


def test_offset_units_become_affine() -> None:
    to_kelvin = conversion("Cel", "K")
    assert (to_kelvin.factor, to_kelvin.offset) == pytest.approx((1.0, 273.15))
    assert conversion("[degF]", "Cel").apply(98.6) == pytest.approx(37.0, rel=1e-12)


def test_conversion_apply_and_identity() -> None:
    assert Conversion(2.0, 1.0).apply(3.0) == 7.0
    assert Conversion(2.0).offset == 0.0
    assert Conversion(1.0, 0.0) == IDENTITY
    assert conversion("mg/dL", "mg/dL") == IDENTITY
    assert conversion("mg/dl", "mg/dL") == IDENTITY


# --------------------------------------------------------------------------- round trips

ROUND_TRIPS: list[tuple[str, str, float | None, Equation | None]] = [
    ("mg/dL", "mmol/L", 180.16, None),
    ("mg/dL", "umol/L", 113.12, None),
    ("g/L", "mol/L", 66500.0, None),
    ("ng/mL", "pmol/L", 300.0, None),
    ("U/L", "ukat/L", None, None),
    ("10*9/L", "/uL", None, None),
    ("x10^12/L", "/pL", None, None),
    ("%", "1", None, None),
    ("mmol/mol", "umol/mol", None, None),
    ("g/dL", "mg/L", None, None),
    ("mm[Hg]", "kPa", None, None),
    ("Cel", "[degF]", None, None),
    ("%", "mmol/mol", None, "hba1c_ngsp_ifcc"),
]


@settings(max_examples=150, deadline=None)
@given(
    pair=st.sampled_from(ROUND_TRIPS),
    x=st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False),
)
def test_round_trip_is_identity(
    pair: tuple[str, str, float | None, Equation | None], x: float
) -> None:
    source, target, molar_mass, equation = pair
    there = conversion(source, target, molar_mass=molar_mass, equation=equation)
    back = conversion(target, source, molar_mass=molar_mass, equation=equation)
    assert back.factor * there.factor == pytest.approx(1.0, rel=1e-9)
    assert back.factor * there.offset + back.offset == pytest.approx(0.0, abs=1e-9)
    assert math.isclose(back.apply(there.apply(x)), x, rel_tol=1e-9, abs_tol=1e-9)


# --------------------------------------------------------------------------- aliases


@pytest.mark.parametrize("alias", UNIT_ALIASES, ids=lambda a: a.spelling)
def test_alias_normalises_to_parseable_canonical(alias: UnitAlias) -> None:
    assert normalise_unit(alias.spelling) == alias.ucum
    assert normalise_unit(alias.ucum) == alias.ucum  # canonical forms are fixed points
    check_unit(alias.spelling)
    check_unit(alias.ucum)
    assert conversion(alias.spelling, alias.ucum) == IDENTITY


def test_alias_table_covers_the_briefed_spellings() -> None:
    spellings = {a.spelling for a in UNIT_ALIASES}
    for must in ("×10^9/L", "10E9/L", "mg/dl", "IU/L", "mIU/L", "uIU/mL", "mEq/L", "U/l"):
        assert must in spellings


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("  mmol/L ", "mmol/L"),
        ("mol/l", "mol/L"),  # the l of mol is not a litre
        ("mmol", "mmol"),
        ("Cel", "Cel"),
        ("[IU]/L", "[IU]/L"),  # already bracketed
        ("10*9/L", "10*9/L"),
        ("10/L", "10/L"),  # a plain factor is not a power of ten
        ("x10^-3", "10*-3"),
        ("cells/uL", "cells/uL"),  # unrecognised: left for the parser to refuse
        ("mg/kg", "mg/kg"),
        ("", ""),
    ],
)
def test_normalise_leaves_other_text_alone(text: str, expected: str) -> None:
    assert normalise_unit(text) == expected


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_normalise_never_raises_and_is_idempotent(text: str) -> None:
    once = normalise_unit(text)
    assert isinstance(once, str)
    assert normalise_unit(once) == once


# --------------------------------------------------------------------------- refusals


def _refused(source: str, target: str, **kw: Any) -> UnitError:
    with pytest.raises(UnitError) as caught:
        conversion(source, target, **kw)
    return caught.value


@pytest.mark.parametrize(
    ("source", "target", "factor"),
    [
        ("m[IU]/L", "u[IU]/mL", 1.0),
        ("mIU/L", "uIU/mL", 1.0),
        ("[IU]/L", "m[IU]/mL", 1.0),
        ("meq/L", "ueq/mL", 1.0),
        ("meq/L", "eq/L", 0.001),
        ("{cells}/uL", "{cells}/nL", 0.001),
    ],
)
def test_same_arbitrary_unit_scales_by_prefix(source: str, target: str, factor: float) -> None:
    # TSH in mIU/L and in uIU/mL is the same quantity; only [IU] itself never converts.
    assert conversion(source, target).factor == pytest.approx(factor, rel=1e-12)


@pytest.mark.parametrize(
    ("source", "target"),
    [
        ("[IU]/L", "U/L"),
        ("[IU]/L", "[iU]/L"),
        ("[IU]/L", "[arb'U]/L"),
        ("m[IU]/L", "mmol/L"),
        ("{cells}/uL", "{rbc}/uL"),
        ("[arb'U]/mL", "/mL"),
        ("{cells}/uL", "/uL"),
        ("10*9{cells}/L", "10*9/L"),
        ("meq/L", "mmol/L"),
        ("mEq/L", "mmol/L"),
        ("mosm/kg", "mmol/kg"),
        ("g%", "g/dL"),
        ("B", "dB"),
        ("[pH]", "1"),
    ],
)
def test_special_units_are_never_converted(source: str, target: str) -> None:
    error = _refused(source, target)
    assert error.code == "unit_incompatible"
    assert "never converted" in error.message
    assert _refused(target, source).code == "unit_incompatible"


@pytest.mark.parametrize(
    "unit", ["[IU]/L", "m[IU]/L", "{cells}/uL", "meq/L", "mosm/kg", "[arb'U]", "[pH]"]
)
def test_identical_special_units_are_identity(unit: str) -> None:
    check_unit(unit)
    assert conversion(unit, unit) == IDENTITY


def test_identical_after_normalising_is_identity() -> None:
    assert conversion("mIU/L", "m[IU]/L") == IDENTITY
    assert conversion("mEq/l", "meq/L") == IDENTITY


@pytest.mark.parametrize(
    ("source", "target"),
    [("%", "mmol/mol"), ("mmol/mol", "%"), ("L/L", "%"), ("mg/g", "mmol/mol"), ("rad", "1")],
)
def test_dimensionless_scales_are_not_mixed(source: str, target: str) -> None:
    error = _refused(source, target)
    assert error.code == "unit_incompatible"
    assert "dimensionless" in error.message


def test_hba1c_equation() -> None:
    to_ifcc = conversion("%", "mmol/mol", equation="hba1c_ngsp_ifcc")
    assert to_ifcc.apply(6.5) == pytest.approx(47.545, abs=1e-9)
    to_ngsp = conversion("mmol/mol", "%", equation="hba1c_ngsp_ifcc")
    assert to_ngsp.apply(48.0) == pytest.approx(6.5416, abs=1e-4)
    assert to_ngsp.apply(to_ifcc.apply(7.0)) == pytest.approx(7.0, rel=1e-12)
    assert conversion("%", "%", equation="hba1c_ngsp_ifcc") == IDENTITY
    assert conversion("mmol/mol", "mmol/mol", equation="hba1c_ngsp_ifcc") == IDENTITY


@pytest.mark.parametrize(
    ("source", "target"), [("mg/dL", "mmol/L"), ("umol/mol", "%"), ("mg/dL", "mg/dL")]
)
def test_hba1c_equation_only_for_percent_and_mmol_per_mol(source: str, target: str) -> None:
    assert _refused(source, target, equation="hba1c_ngsp_ifcc").code == "unit_incompatible"


def test_unknown_equation_is_refused() -> None:
    assert _refused("%", "mmol/mol", equation="nonsense").code == "unit_incompatible"


@pytest.mark.parametrize(
    ("source", "target"),
    [("mg/dL", "mmol/L"), ("mmol/L", "mg/dL"), ("ng/mL", "pmol/L"), ("mg", "mmol")],
)
def test_molar_conversion_needs_molar_mass(source: str, target: str) -> None:
    error = _refused(source, target)
    assert error.code == "unit_incompatible"
    assert "molar mass" in error.message


@pytest.mark.parametrize("bad", [0.0, -180.0, math.nan, math.inf])
def test_bad_molar_mass_is_refused(bad: float) -> None:
    assert _refused("mg/dL", "mmol/L", molar_mass=bad).code == "unit_incompatible"


@pytest.mark.parametrize(
    ("source", "target"),
    [
        ("mg/dL", "U/L"),  # enzyme activity is not moles of the analyte
        ("g/mol", "mol/mol"),  # a molar mass is not converted by a molar mass
        ("mg/dL", "mmol/kg"),  # per volume vs per mass
        ("mg/dL", "mg"),
    ],
)
def test_molar_mass_does_not_bridge_other_dimensions(source: str, target: str) -> None:
    error = _refused(source, target, molar_mass=180.0)
    assert error.code == "unit_incompatible"
    assert source in error.message and target in error.message


def test_dimension_mismatch_names_both_units_and_dimensions() -> None:
    error = _refused("mg/dL", "s")
    assert error.code == "unit_incompatible"
    assert "'mg/dL'" in error.message and "'s'" in error.message
    assert "[mass]" in error.message and "[time]" in error.message


@pytest.mark.parametrize(
    "unit", ["", "   ", "cells/uL", "mg/", "mg//dL", "xyz", "[foo]", "10*99999999/L", "m" * 200]
)
def test_unreadable_units_are_unknown(unit: str) -> None:
    with pytest.raises(UnitError) as caught:
        check_unit(unit)
    assert caught.value.code == "unit_unknown"
    assert _refused(unit, "mg/dL").code == "unit_unknown"
    assert _refused("mg/dL", unit).code == "unit_unknown"


def test_non_text_unit_is_unknown() -> None:
    with pytest.raises(UnitError) as caught:
        check_unit(None)  # type: ignore[arg-type]
    assert caught.value.code == "unit_unknown"
    assert _refused(None, "mg").code == "unit_unknown"  # type: ignore[arg-type]


def test_non_finite_factor_is_refused() -> None:
    huge = ".".join(["10*30"] * 12) + "/L"  # 10^360 per litre overflows a float
    with pytest.raises(UnitError):
        conversion(huge, "/L")


def test_unit_error_carries_code_and_message_and_pickles() -> None:
    error = UnitError("unit_unknown", "unit 'x' is not valid UCUM")
    assert (error.code, error.message, str(error)) == (
        "unit_unknown",
        "unit 'x' is not valid UCUM",
        "unit 'x' is not valid UCUM",
    )
    again = pickle.loads(pickle.dumps(error))
    assert (again.code, again.message) == (error.code, error.message)


UCUM_ISH = st.text(alphabet="mgdLlu/.*^%{}[]()0123456789IUEeqx'_ -µ", max_size=20)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=30), UCUM_ISH), st.one_of(st.text(max_size=30), UCUM_ISH))
def test_garbage_only_raises_unit_error(source: str, target: str) -> None:
    for molar_mass in (None, 180.16):
        try:
            result = conversion(source, target, molar_mass=molar_mass)
        except UnitError as error:
            assert error.code in ("unit_unknown", "unit_incompatible")
        else:
            assert isinstance(result, Conversion)
            assert math.isfinite(result.factor) and result.factor > 0
            assert math.isfinite(result.offset)
    try:
        check_unit(source)
    except UnitError as error:
        assert error.code == "unit_unknown"


# --------------------------------------------------------------------------- memoisation


@pytest.fixture
def parse_counter(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Record every string handed to the UCUM parser or to pint, starting from cold caches
    and without the outcomes recorded in units/_known.py (they would skip both)."""
    calls: list[str] = []
    monkeypatch.setattr(units, "KNOWN_UNITS", frozenset())
    monkeypatch.setattr(units, "KNOWN_CONVERSIONS", {})
    monkeypatch.setattr(units, "KNOWN_REFUSALS", {})

    def counting(real: Callable[[str], Any]) -> Callable[[str], Any]:
        def wrapper(text: str) -> Any:
            calls.append(text)
            return real(text)

        return wrapper

    monkeypatch.setattr(units, "_ucum_tree", counting(units._ucum_tree))
    monkeypatch.setattr(units, "_ucum_to_pint", counting(units._ucum_to_pint))
    units._parse.cache_clear()
    units._conversion.cache_clear()
    yield calls
    units._parse.cache_clear()
    units._conversion.cache_clear()


def test_second_conversion_does_not_reparse(parse_counter: list[str]) -> None:
    first = conversion("mg/dl", "mmol/L", molar_mass=180.16)
    assert parse_counter, "the first call must parse"
    seen = len(parse_counter)
    assert conversion("mg/dl", "mmol/L", molar_mass=180.16) == first
    assert conversion("mg/dL", "mmol/l", molar_mass=180.16) == first  # same after normalising
    check_unit("mg/dL")
    assert len(parse_counter) == seen


def test_refusals_are_memoised_too(parse_counter: list[str]) -> None:
    seen: list[int] = []
    for _ in range(3):
        with pytest.raises(UnitError):
            conversion("%", "mmol/mol")
        with pytest.raises(UnitError):
            check_unit("not a unit")
        seen.append(len(parse_counter))
    assert seen[0] > 0
    assert seen == [seen[0]] * 3


def test_units_shared_between_pairs_are_parsed_once(parse_counter: list[str]) -> None:
    conversion("mg/dL", "mmol/L", molar_mass=180.16)
    conversion("mg/dL", "g/L")
    assert parse_counter.count("mg/dL") == 2  # one lark parse and one pint parse


def test_concurrent_calls_agree() -> None:
    units._parse.cache_clear()
    units._conversion.cache_clear()
    pairs = [("mg/dL", "mmol/L", 180.16), ("U/L", "ukat/L", None), ("10^9/L", "/uL", None)] * 8

    def run(pair: tuple[str, str, float | None]) -> Conversion:
        return conversion(pair[0], pair[1], molar_mass=pair[2])

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(run, pairs))
    assert results == [run(p) for p in pairs]

"""Unit parsing and conversion, worked out once per unit (when a rule set loads, or when a
case first reports an undeclared unit) and memoised.

A wrong conversion could waive a test that should have been repeated, so this module fails
closed: anything ambiguous raises :class:`UnitError` instead of converting. pint is slow, so
every function that reaches it is memoised and evaluation only ever applies a
:class:`Conversion` (plain float arithmetic).
"""

from __future__ import annotations

import functools
import math
import threading
from dataclasses import dataclass
from typing import Any, Final, Literal

from lark import Token, Tree

from labrecog._errors import UnitError, UnitErrorCode
from labrecog.units._known import KNOWN_CONVERSIONS, KNOWN_REFUSALS, KNOWN_UNITS
from labrecog.units._spellings import normalise_unit

__all__ = ["IDENTITY", "Conversion", "Equation", "check_unit", "conversion"]

Equation = Literal["hba1c_ngsp_ifcc"]

_CACHE_SIZE: Final = 4096
# Lab units are short; the limits keep pint away from pathological input (``10*99999999``
# makes it compute a 100-million-digit integer).
_MAX_UNIT_LENGTH: Final = 100
_MAX_EXPONENT: Final = 30


@dataclass(frozen=True, slots=True)
class Conversion:
    """Affine map source-unit value -> canonical-unit value: y = factor*x + offset."""

    factor: float
    offset: float = 0.0

    def apply(self, x: float) -> float:
        return self.factor * x + self.offset


IDENTITY: Final = Conversion(1.0, 0.0)


# --------------------------------------------------------------------------- parsing

# Bracketed atoms that are ordinary ratio-scale units; every other [..] atom is arbitrary
# or special in UCUM and ucumvert would treat it as a plain number.
_BRACKET_ALLOWED: Final = frozenset(
    {
        "[in_i]", "[ft_i]", "[yd_i]", "[mi_i]", "[lb_av]", "[oz_av]",
        "[ppth]", "[ppm]", "[ppb]", "[degF]", "m[Hg]", "m[H2O]", "[in_i'Hg]",
    }
)  # fmt: skip
# eq/osm count charges/particles but ucumvert defines them as mol; g% is g/dL in UCUM but
# gram*percent in ucumvert; the rest are logarithmic levels pint would scale linearly.
_OPAQUE_ATOMS: Final = frozenset({"eq", "osm", "g%", "B", "Np", "bit_s"})
_UNSCALABLE_ATOMS: Final = frozenset({"g%", "B", "Np", "bit_s"})
# Atoms that are pure numbers, so converting between them is only a change of scale.
_PURE_ATOMS: Final = frozenset({"%", "10*", "10^", "[ppth]", "[ppm]", "[ppb]"})
_HBA1C_UNITS: Final = frozenset({"%", "mmol/mol"})
_G_PER_MOL: Final = "g/mol"


@dataclass(frozen=True, slots=True)
class _Factor:
    atom: str  # a UCUM atom, or the digits of a numeric factor
    exponent: int
    numeric: bool


@dataclass(frozen=True, slots=True)
class _Parsed:
    text: str
    quantity: Any  # pint Quantity; None only for opaque units pint cannot read ([pH])
    opaque: str | None  # why this unit is never converted, or None
    pure_number: bool
    signature: tuple[tuple[str, int, int], ...]  # per base dimension: (+exps, -exps)
    # The arbitrary/equivalent atoms with their exponents, plus annotations: two units with
    # the same key differ only by prefixes and ordinary units (m[IU]/L vs u[IU]/mL), which
    # is a plain change of scale. None when an atom is not safely scalable (g%, B, Np, ...).
    opaque_key: tuple[tuple[str, int], ...] | None = None


@dataclass(frozen=True, slots=True)
class _Refusal:
    code: UnitErrorCode
    message: str

    def error(self) -> UnitError:
        return UnitError(self.code, self.message)


class _Malformed(Exception):
    """A parse tree shape this module does not understand (fail closed)."""


_LOCK: Final = threading.RLock()
_tools: tuple[Any, Any] | None = None
# While units/_known.py is being made: the units and conversion keys asked for, and the
# recorded outcomes are not used (see record_known).
_RECORDED: tuple[set[str], set[tuple[str, str, float | None, str | None]]] | None = None


def _ucum_tools() -> tuple[Any, Any]:
    """The registry (~0.5 s to build) and UCUM parser, built once per process on first need."""
    global _tools
    with _LOCK:
        if _tools is None:
            from ucumvert import PintUcumRegistry, get_ucum_parser

            _tools = (PintUcumRegistry(), get_ucum_parser())
        return _tools


def _ucum_tree(text: str) -> object:
    """The lark tree of a UCUM string; kept separate so tests can count parses."""
    from ucumvert import parse_ucum

    return parse_ucum(text, _ucum_tools()[1])


def _ucum_to_pint(text: str) -> Any:
    """The pint quantity of a UCUM string; kept separate so tests can count parses."""
    return _ucum_tools()[0].from_ucum(text)


def _walk(node: object, sign: int, factors: list[_Factor], notes: list[str]) -> None:
    """Flatten a UCUM tree into signed factors without cancelling anything (L/L stays L/L)."""
    if isinstance(node, Token):
        if node.type == "ANNOTATION":
            notes.append(str(node))
            return
        raise _Malformed(node.type)
    if not isinstance(node, Tree):
        raise _Malformed(type(node).__name__)
    kids = node.children
    if node.data == "main_term":
        if len(kids) == 2 and str(kids[0]) == "/":
            _walk(kids[1], -sign, factors, notes)
        elif len(kids) == 1:
            _walk(kids[0], sign, factors, notes)
        else:
            raise _Malformed(node.data)
    elif node.data == "term" and len(kids) == 3:
        _walk(kids[0], sign, factors, notes)
        _walk(kids[2], sign if str(kids[1]) == "." else -sign, factors, notes)
    elif node.data == "component" and len(kids) == 2:
        _walk(kids[0], sign, factors, notes)
        _walk(kids[1], sign, factors, notes)
    elif node.data == "annotatable" and len(kids) == 2 and isinstance(kids[1], Token):
        exponent = int(kids[1])
        if abs(exponent) > _MAX_EXPONENT:
            raise _Malformed(f"exponent {exponent} is outside ±{_MAX_EXPONENT}")
        _walk(kids[0], sign * exponent, factors, notes)
    elif node.data == "simple_unit" and kids and all(isinstance(k, Token) for k in kids):
        last = kids[-1]
        assert isinstance(last, Token)
        factors.append(_Factor(str(last), sign, last.type == "FACTOR"))
    else:
        raise _Malformed(node.data)


def _opaque_reason(factors: list[_Factor], notes: list[str]) -> str | None:
    for f in factors:
        if f.numeric:
            continue
        if ("[" in f.atom and f.atom not in _BRACKET_ALLOWED) or f.atom in _OPAQUE_ATOMS:
            return f"it contains the arbitrary, special or equivalent unit {f.atom}"
    if notes:
        return f"it contains the annotation {notes[0]}"
    return None


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _atom_dimensions(atom: str) -> tuple[tuple[str, int], ...]:
    return tuple(sorted((str(k), int(v)) for k, v in _ucum_to_pint(atom).dimensionality.items()))


def _signature(factors: list[_Factor]) -> tuple[tuple[str, int, int], ...]:
    """Dimension exponents summed separately up and down, so mmol/mol is not L/L nor %."""
    totals: dict[str, list[int]] = {}
    for f in factors:
        if f.numeric:
            continue
        for dim, power in _atom_dimensions(f.atom):
            up_down = totals.setdefault(dim, [0, 0])
            exponent = power * f.exponent
            up_down[0 if exponent > 0 else 1] += exponent
    return tuple(sorted((dim, up, down) for dim, (up, down) in totals.items()))


def _parse_uncached(text: str) -> _Parsed | _Refusal:
    if not text:
        return _Refusal("unit_unknown", "the unit is empty")
    if len(text) > _MAX_UNIT_LENGTH:
        return _Refusal("unit_unknown", f"unit {text[:40]!r}… is too long to be a lab unit")
    with _LOCK:
        try:
            factors: list[_Factor] = []
            notes: list[str] = []
            _walk(_ucum_tree(text), 1, factors, notes)
        except Exception as exc:
            why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            return _Refusal("unit_unknown", f"unit {text!r} is not valid UCUM ({why})")
        opaque = _opaque_reason(factors, notes)
        try:
            quantity = _ucum_to_pint(text)
            signature = _signature(factors)
            float(quantity.magnitude)
        except Exception as exc:
            if opaque is None:
                return _Refusal("unit_unknown", f"unit {text!r} cannot be interpreted ({exc})")
            quantity, signature = None, ()
    pure = opaque is None and all(f.numeric or f.atom in _PURE_ATOMS for f in factors)
    return _Parsed(text, quantity, opaque, pure, signature, _opaque_key(factors, notes))


def _opaque_key(factors: list[_Factor], notes: list[str]) -> tuple[tuple[str, int], ...] | None:
    totals: dict[str, int] = {}
    for f in factors:
        if f.numeric:
            continue
        if f.atom in _UNSCALABLE_ATOMS or f.atom == "[pH]":
            return None
        if ("[" in f.atom and f.atom not in _BRACKET_ALLOWED) or f.atom in _OPAQUE_ATOMS:
            totals[f.atom] = totals.get(f.atom, 0) + f.exponent
    key = tuple(sorted((atom, exp) for atom, exp in totals.items() if exp))
    return key + tuple((note, 0) for note in sorted(notes))


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _parse(text: str) -> _Parsed | _Refusal:
    return _parse_uncached(text)


def check_unit(unit: str) -> None:
    """Raise UnitError('unit_unknown', ...) if the (normalised) unit does not parse.

    Opaque units pint cannot read (``[pH]``) pass: they are only ever compared for identity.
    """
    if not isinstance(unit, str):
        raise UnitError("unit_unknown", f"unit {unit!r} is not text")
    text = normalise_unit(unit)
    if _RECORDED is not None:
        _RECORDED[0].add(text)
    elif text in KNOWN_UNITS:
        return  # pint's verdict, recorded (units/_known.py)
    parsed = _parse(text)
    if isinstance(parsed, _Refusal):
        raise parsed.error()


# --------------------------------------------------------------------------- conversion


def conversion(
    source: str,
    target: str,
    *,
    molar_mass: float | None = None,
    equation: Equation | None = None,
) -> Conversion:
    """Conversion from source to target (both raw strings; normalise first). Memoised
    (functools.lru_cache or a dict + threading.Lock; must be thread-safe). Raises UnitError."""
    if not isinstance(source, str) or not isinstance(target, str):
        raise UnitError("unit_unknown", f"units {source!r} and {target!r} must be text")
    outcome = _conversion(normalise_unit(source), normalise_unit(target), molar_mass, equation)
    if isinstance(outcome, _Refusal):
        raise outcome.error()
    return outcome


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _conversion(
    source: str, target: str, molar_mass: float | None, equation: str | None
) -> Conversion | _Refusal:
    """Memoised outcome, refusals included, so a bad pair is not re-parsed each time."""
    key = (source, target, molar_mass, equation)
    if _RECORDED is not None:
        _RECORDED[1].add(key)
    else:
        known = KNOWN_CONVERSIONS.get(key)  # pint's outcomes, recorded (units/_known.py)
        if known is not None:
            return Conversion(*known)
        refused = KNOWN_REFUSALS.get(key)
        if refused is not None:
            return _Refusal(*refused)
    src, tgt = _parse(source), _parse(target)
    if isinstance(src, _Refusal):
        return src
    if isinstance(tgt, _Refusal):
        return tgt
    if molar_mass is not None and (
        isinstance(molar_mass, bool)
        or not isinstance(molar_mass, int | float)
        or not math.isfinite(molar_mass)
        or molar_mass <= 0
    ):
        return _Refusal(
            "unit_incompatible", f"molar mass {molar_mass!r} is not a positive number of g/mol"
        )
    if equation is not None:
        return _by_equation(source, target, equation)
    if source == target:
        return IDENTITY
    if (
        src.opaque is not None
        and tgt.opaque is not None
        and src.opaque_key is not None
        and src.opaque_key == tgt.opaque_key
        and src.quantity is not None
        and tgt.quantity is not None
    ):
        # Same arbitrary unit on both sides, only prefixes differ: a change of scale.
        with _LOCK:
            try:
                return _by_pint(src, tgt, None)
            except Exception as exc:
                return _Refusal(
                    "unit_incompatible", f"cannot convert {source!r} to {target!r} ({exc})"
                )
    for side in (src, tgt):
        if side.opaque is not None:
            return _Refusal(
                "unit_incompatible",
                f"cannot convert {source!r} to {target!r}: {side.text!r} is never converted "
                f"because {side.opaque}; arbitrary units, annotations and equivalents only "
                "convert into the same unit with other prefixes",
            )
    with _LOCK:
        try:
            return _by_pint(src, tgt, molar_mass)
        except Exception as exc:
            return _Refusal("unit_incompatible", f"cannot convert {source!r} to {target!r} ({exc})")


def _by_equation(source: str, target: str, equation: str) -> Conversion | _Refusal:
    if equation != "hba1c_ngsp_ifcc":
        return _Refusal("unit_incompatible", f"unknown conversion equation {equation!r}")
    if source not in _HBA1C_UNITS or target not in _HBA1C_UNITS:
        return _Refusal(
            "unit_incompatible",
            f"cannot convert {source!r} to {target!r}: the HbA1c NGSP/IFCC equation only "
            "converts between % (NGSP) and mmol/mol (IFCC)",
        )
    if source == target:
        return IDENTITY
    # IFCC (mmol/mol) = 10.93 × NGSP (%) − 23.5, and its exact inverse.
    if source == "%":
        return Conversion(10.93, -23.5)
    return Conversion(1 / 10.93, 23.5 / 10.93)


def _dimension_text(parsed: _Parsed) -> str:
    return str(parsed.quantity.dimensionality)


def _by_pint(src: _Parsed, tgt: _Parsed, molar_mass: float | None) -> Conversion | _Refusal:
    """The affine map pint gives; call with _LOCK held. Molar steps are done here, not by
    pint's chemistry context, which does not work with the ucumvert registry."""
    q_src, q_tgt = src.quantity, tgt.quantity
    dim_src, dim_tgt = q_src.dimensionality, q_tgt.dimensionality
    scale: Any = None  # quantity to divide the source by before converting
    if dim_src == dim_tgt:
        if not dim_src and not _same_kind_of_ratio(src, tgt):
            return _Refusal(
                "unit_incompatible",
                f"cannot convert {src.text!r} to {tgt.text!r}: both are dimensionless but "
                "they are different kinds of ratio (e.g. % and mmol/mol are different HbA1c "
                "scales), so they are never converted without an equation",
            )
    else:
        molar = _molar_direction(src, tgt)
        if molar is None:
            return _Refusal(
                "unit_incompatible",
                f"cannot convert {src.text!r} ({_dimension_text(src)}) to {tgt.text!r} "
                f"({_dimension_text(tgt)}): the dimensions differ",
            )
        if molar_mass is None:
            return _Refusal(
                "unit_incompatible",
                f"converting {src.text!r} to {tgt.text!r} needs the analyte's molar mass",
            )
        per_mole = _ucum_to_pint(_G_PER_MOL) * molar_mass
        scale = per_mole if molar == "mass_to_substance" else 1 / per_mole
    # ucumvert builds its quantities in pint's application registry, not in the
    # PintUcumRegistry itself, so new quantities must come from the source's own registry.
    registry = q_src._REGISTRY

    def at(x: float) -> float:
        value = registry.Quantity(x * q_src.magnitude, q_src.units)
        if scale is not None:
            value = value / scale
        return float(value.to(q_tgt.units).magnitude) / float(q_tgt.magnitude)

    zero, one, ten = at(0.0), at(1.0), at(10.0)
    # An offset unit (Cel, [degF]) needs the slope; a wide span keeps it precise.
    factor = one if zero == 0.0 else (at(1e6) - zero) / 1e6
    finite = all(math.isfinite(v) for v in (zero, one, ten, factor))
    if not finite or factor <= 0 or not math.isclose(ten, 10 * factor + zero, rel_tol=1e-9):
        return _Refusal(
            "unit_incompatible",
            f"cannot convert {src.text!r} to {tgt.text!r}: no finite linear conversion",
        )
    return Conversion(factor, zero)


def _same_kind_of_ratio(src: _Parsed, tgt: _Parsed) -> bool:
    """Dimensionless units convert only if both are pure numbers or the same kind of ratio."""
    if src.pure_number or tgt.pure_number:
        return src.pure_number and tgt.pure_number
    return bool(src.signature) and src.signature == tgt.signature


_MolarDirection = Literal["mass_to_substance", "substance_to_mass"]


def _molar_direction(src: _Parsed, tgt: _Parsed) -> _MolarDirection | None:
    """Only a plain mass (or amount) quantity per the same rest converts through molar mass;
    never anything per time (enzyme activity) or already per mole (molar mass itself)."""
    dims_src = dict(src.quantity.dimensionality.items())
    dims_tgt = dict(tgt.quantity.dimensionality.items())
    if "[time]" in dims_src or "[time]" in dims_tgt:
        return None
    if _mass_versus_amount(dims_src, dims_tgt):
        return "mass_to_substance"
    if _mass_versus_amount(dims_tgt, dims_src):
        return "substance_to_mass"
    return None


def _mass_versus_amount(mass: dict[Any, Any], amount: dict[Any, Any]) -> bool:
    return (
        mass.get("[mass]") == 1
        and "[substance]" not in mass
        and amount.get("[substance]") == 1
        and "[mass]" not in amount
        and {k: v for k, v in mass.items() if k != "[mass]"}
        == {k: v for k, v in amount.items() if k != "[substance]"}
    )

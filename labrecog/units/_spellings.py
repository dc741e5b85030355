"""Report spellings of units, read as UCUM: a table, applied once per spelling.

Kept as data (``UNIT_ALIASES``) so the documentation can list every rewrite. Nothing here
guesses: an all-capital spelling is read only from the table of whole spellings (in UCUM's
case-insensitive form M is milli, so rewriting it by the rules below would read mega), and
text no rule recognises comes back unchanged for parsing to refuse.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Final

__all__ = ["UNIT_ALIASES", "UnitAlias", "normalise_unit"]

_CACHE_SIZE: Final = 4096


@dataclass(frozen=True, slots=True)
class UnitAlias:
    """One report spelling and its UCUM form, kept as data so the docs can list it."""

    spelling: str
    ucum: str
    rule: str


# UCUM's case-insensitive ("c/i") symbols as US laboratory systems print them, and the US
# K/uL, M/uL count spellings (https://ucum.org/ucum §4.1 case-insensitive column; LOINC's
# example UCUM units for 6690-2 and 789-8 are 10*3/uL and 10*6/uL). A capitalised spelling
# not listed here is not rewritten, so it fails to parse rather than being guessed.
_WHOLE_SPELLINGS: Final[dict[str, str]] = {
    "MG/DL": "mg/dL", "G/DL": "g/dL", "G/L": "g/L", "MG/L": "mg/L", "UG/DL": "ug/dL",
    "UG/L": "ug/L", "NG/ML": "ng/mL", "NG/DL": "ng/dL", "NG/L": "ng/L", "PG/ML": "pg/mL",
    "MMOL/L": "mmol/L", "UMOL/L": "umol/L", "NMOL/L": "nmol/L", "PMOL/L": "pmol/L",
    "MMOL/MOL": "mmol/mol", "FL": "fL", "PG": "pg", "IU": "[IU]", "IU/L": "[IU]/L",
    "MIU/L": "m[IU]/L", "UIU/ML": "u[IU]/mL", "MIU/ML": "m[IU]/mL", "IU/ML": "[IU]/mL",
    "MEQ/L": "meq/L",
    "MOSM/KG": "mosm/kg", "ML/MIN/1.73M2": "mL/min/{1.73_m2}",
    "K/uL": "10*3/uL", "K/UL": "10*3/uL", "K/mm3": "10*3/mm3", "K/MM3": "10*3/mm3",
    "M/uL": "10*6/uL", "M/UL": "10*6/uL", "M/mm3": "10*6/mm3", "M/MM3": "10*6/mm3",
    "thou/uL": "10*3/uL", "THOU/UL": "10*3/uL", "mill/uL": "10*6/uL", "MILL/UL": "10*6/uL",
}  # fmt: skip
_CAPITALS: Final = re.compile(r"[A-Z]{2}")

UNIT_ALIASES: Final[tuple[UnitAlias, ...]] = (
    UnitAlias("μmol/L", "umol/L", "Greek mu (U+03BC) is the micro prefix u"),
    UnitAlias("µmol/L", "umol/L", "micro sign (U+00B5) is the micro prefix u"),
    UnitAlias("mcg/dL", "ug/dL", "mc (micro) before g, mol or L is u"),
    UnitAlias("mg / dL", "mg/dL", "spaces around / are dropped; ends are stripped"),
    UnitAlias("×10^9/L", "10*9/L", "×10^n, x10^n, X10^n, *10^n, 10^n, 10En, 10**n are 10*n"),
    UnitAlias("x10^9/L", "10*9/L", "as above"),
    UnitAlias("X10^9/L", "10*9/L", "as above"),
    UnitAlias("*10^9/L", "10*9/L", "as above"),
    UnitAlias("10^9/L", "10*9/L", "as above"),
    UnitAlias("10E9/L", "10*9/L", "as above"),
    UnitAlias("x10^12/L", "10*12/L", "any exponent"),
    UnitAlias("10^3/uL", "10*3/uL", "any denominator"),
    UnitAlias("×10⁹/L", "10*9/L", "superscript exponent after 10 is 10*n"),
    UnitAlias("/mm³", "/mm3", "superscript exponent after a unit is a UCUM exponent"),
    UnitAlias("/mm^3", "/mm3", "caret exponent after a unit is a UCUM exponent"),
    UnitAlias("mg/dl", "mg/dL", "lowercase litre l (with any prefix) is L"),
    UnitAlias("g/dl", "g/dL", "as above"),
    UnitAlias("mmol/l", "mmol/L", "as above"),
    UnitAlias("umol/l", "umol/L", "as above"),
    UnitAlias("ml", "mL", "as above"),
    UnitAlias("fl", "fL", "as above"),
    UnitAlias("U/l", "U/L", "as above"),
    UnitAlias("IU/L", "[IU]/L", "IU (with any prefix) is the UCUM arbitrary unit [IU]"),
    UnitAlias("mIU/L", "m[IU]/L", "as above"),
    UnitAlias("uIU/mL", "u[IU]/mL", "as above"),
    UnitAlias("µIU/ml", "u[IU]/mL", "as above"),
    UnitAlias("IU/mL", "[IU]/mL", "as above"),
    UnitAlias("mEq/L", "meq/L", "Eq/EQ (with any prefix) is the UCUM equivalent eq"),
    UnitAlias("meq/l", "meq/L", "as above"),
    UnitAlias("mOsm/kg", "mosm/kg", "Osm/OSM (with any prefix) is the UCUM osmole osm"),
    # Whole spellings, read only as listed (never by the rules above): all-capital units are
    # UCUM's case-insensitive form, where M is milli- not mega- (MIU/L is mIU/L); K and M
    # before /uL are the thousand and million US analysers print (K is kelvin in UCUM).
    *(
        UnitAlias(spelling, ucum, "whole spelling (UCUM case-insensitive form, or US count)")
        for spelling, ucum in _WHOLE_SPELLINGS.items()
    ),
)

_PREFIX = r"(?:da|[YZEPTGMkhdcmunpfazy])"
_NOT_ATOM_BEFORE = r"(?<![A-Za-z\[\]'_])"
_NOT_ATOM_AFTER = r"(?![A-Za-z\[\]'_])"
_SUPERSCRIPTS: Final = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻", "0123456789+-")

# Applied in order; each is documented by UNIT_ALIASES above.
_REWRITES: Final[tuple[tuple[re.Pattern[str], str], ...]] = (
    (re.compile(r"[μµ]"), "u"),
    (re.compile(r"\s*/\s*"), "/"),
    (re.compile(r"(^|[/.(])(?:[×xX*]\s*)?10\s*(?:\^|\*\*?|[Ee])\s*([+-]?\d+)"), r"\g<1>10*\g<2>"),
    (re.compile(r"(?<=[A-Za-z\]])\^([+-]?\d+)"), r"\g<1>"),
    (re.compile(_NOT_ATOM_BEFORE + r"mc(?=(?:g|mol|[lL])" + _NOT_ATOM_AFTER + ")"), "u"),
    (re.compile(_NOT_ATOM_BEFORE + f"({_PREFIX}?)l" + _NOT_ATOM_AFTER), r"\g<1>L"),
    (re.compile(_NOT_ATOM_BEFORE + f"({_PREFIX}?)IU" + _NOT_ATOM_AFTER), r"\g<1>[IU]"),
    (re.compile(_NOT_ATOM_BEFORE + f"({_PREFIX}?)(?:Eq|EQ)" + _NOT_ATOM_AFTER), r"\g<1>eq"),
    (re.compile(_NOT_ATOM_BEFORE + f"({_PREFIX}?)(?:Osm|OSM)" + _NOT_ATOM_AFTER), r"\g<1>osm"),
)
_MICRO: Final = re.compile(r"[μµ]")
_SUPERSCRIPT_RUN: Final = re.compile(r"[⁺⁻]?[⁰¹²³⁴⁵⁶⁷⁸⁹]+")


@functools.lru_cache(maxsize=_CACHE_SIZE)
def normalise_unit(text: str) -> str:
    """Common report spellings -> UCUM. Pure string work, lru_cached.

    Unrecognised text comes back unchanged so that parsing, not guessing, decides.
    """
    stripped = text.strip()
    whole = _WHOLE_SPELLINGS.get(_MICRO.sub("u", stripped).replace(" ", ""))
    if whole is not None:
        return whole
    if _CAPITALS.search(stripped) and not any(c.islower() for c in stripped):
        # UCUM's case-insensitive form, not listed above: M would read as mega, not milli.
        return stripped
    unit = _SUPERSCRIPT_RUN.sub(lambda m: "^" + m.group().translate(_SUPERSCRIPTS), stripped)
    for pattern, replacement in _REWRITES:
        unit = pattern.sub(replacement, unit)
    return unit

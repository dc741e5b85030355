"""Lab units: report spellings read as UCUM, and conversions that fail closed.

Used when a rule set compiles (declared units, reference ranges) and when a case is
evaluated (a result in a unit the rule set did not declare), so it is its own subsystem
rather than a compile step.

    from labrecog.units import conversion, normalise_unit
    conversion(normalise_unit("mg/dl"), "mmol/L", molar_mass=180.16).apply(100.0)  # 5.55…

:mod:`labrecog.units._spellings` holds the spelling table (``UNIT_ALIASES``, listed in
docs/rules.md); :mod:`labrecog.units._convert` the UCUM parsing and pint conversion.
"""

from labrecog._errors import UnitError, UnitErrorCode
from labrecog.units._convert import IDENTITY, Conversion, Equation, check_unit, conversion
from labrecog.units._spellings import UNIT_ALIASES, UnitAlias, normalise_unit

__all__ = [
    "IDENTITY",
    "UNIT_ALIASES",
    "Conversion",
    "Equation",
    "UnitAlias",
    "UnitError",
    "UnitErrorCode",
    "check_unit",
    "conversion",
    "normalise_unit",
]

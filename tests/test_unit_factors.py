"""Unit-conversion check for the shipped Chinese rule set (issue 5).

For every analyte in rules/cn-reference with a molar mass (a mass <-> substance conversion),
labrecog's conversion must agree with the published conventional -> SI factor (the
factors below, from the sources the rule set cites) within 1 %.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from labrecog.units import conversion

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "rules" / "cn-reference"

# code -> (conventional unit, SI unit, published factor, source row in domain-facts §3.2)
PUBLISHED: dict[str, tuple[str, str, float, str]] = {
    "GLU": ("mg/dL", "mmol/L", 0.05551, "Glucose mg/dL -> mmol/L x 0.05551"),
    "CREA": ("mg/dL", "umol/L", 88.4, "Creatinine mg/dL -> umol/L x 88.4"),
    "TC": ("mg/dL", "mmol/L", 0.02586, "Cholesterol mg/dL -> mmol/L x 0.02586"),
    "HDLC": ("mg/dL", "mmol/L", 0.02586, "Cholesterol (HDL) mg/dL -> mmol/L x 0.02586"),
    "LDLC": ("mg/dL", "mmol/L", 0.02586, "Cholesterol (LDL) mg/dL -> mmol/L x 0.02586"),
    "TRIG": ("mg/dL", "mmol/L", 0.01129, "Triglyceride mg/dL -> mmol/L x 0.01129"),
    "UREA": ("mg/dL", "mmol/L", 0.1665, "Urea mg/dL -> mmol/L x 0.1665"),
    "UA": ("mg/dL", "umol/L", 59.48, "Uric acid mg/dL -> umol/L x 59.48"),
    "TBIL": ("mg/dL", "umol/L", 17.1, "Bilirubin mg/dL -> umol/L x 17.1"),
    "CA": ("mg/dL", "mmol/L", 0.2495, "Calcium mg/dL -> mmol/L x 0.2495"),
    "PHOS": ("mg/dL", "mmol/L", 0.3229, "Phosphate (as P) mg/dL -> mmol/L x 0.3229"),
    "MG": ("mg/dL", "mmol/L", 0.4114, "Magnesium mg/dL -> mmol/L x 0.4114"),
    "HB": ("g/dL", "mmol/L", 1 / 1.61, "Haemoglobin g/dL -> mmol/L / 1.61"),
    "FT4": ("ng/dL", "pmol/L", 12.87, "Free T4 ng/dL -> pmol/L x 12.87"),
    "FT3": ("pg/mL", "pmol/L", 1.536, "Free T3 pg/mL -> pmol/L x 1.536"),
    # Total T4/T3 are the same molecules as free T4/T3: §3.2 has no total-T4/T3 row, so their
    # molar masses are checked against the free-hormone factors (same conversion).
    "T4": ("ng/dL", "pmol/L", 12.87, "Free T4 ng/dL -> pmol/L x 12.87 (same molecule; total T4)"),
    "T3": ("pg/mL", "pmol/L", 1.536, "Free T3 pg/mL -> pmol/L x 1.536 (same molecule; total T3)"),
}


def _molar_analytes() -> dict[str, float]:
    """Codes of the catalogue's tests that carry a molar mass, with that mass in g/mol."""
    out: dict[str, float] = {}
    for path in sorted(RULES.glob("*.yaml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for test in doc.get("tests", []) or []:
            mm = test.get("molar_mass")
            if mm is None:
                continue
            if isinstance(mm, dict):
                mm = mm["value"]
            out[test["code"]] = float(str(mm).split()[0])
    return out


pytestmark = pytest.mark.skipif(
    not RULES.is_dir(),
    reason="rules/cn-reference is not shipped yet (still in rules-wip/ until it validates "
    "and its own tests reach 100 % coverage)",
)


def test_every_molar_analyte_has_a_published_factor() -> None:
    missing = sorted(set(_molar_analytes()) - set(PUBLISHED))
    assert not missing, f"no published factor in domain-facts §3.2 for: {missing}"


@pytest.mark.parametrize("code", sorted(PUBLISHED))
def test_conversion_matches_published_factor(code: str) -> None:
    analytes = _molar_analytes()
    assert code in analytes, f"{code} has no molar_mass in rules/cn-reference"
    src, dst, factor, row = PUBLISHED[code]
    got = conversion(src, dst, molar_mass=analytes[code])
    assert got.offset == 0.0
    assert got.factor == pytest.approx(factor, rel=0.01), (
        f"{code}: {row}; labrecog gives {got.factor}"
    )

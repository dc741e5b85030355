"""Generate examples/cases.jsonl: hand-crafted cases for rules/demo, one idea per case.

    python examples/make_cases.py > examples/cases.jsonl     # write the batch
    python examples/make_cases.py --check                     # evaluate it and verify coverage

Every case is built by a few helpers and states, in a comment and in ``ext.note``, what it
demonstrates. The script is deterministic (no clock, no randomness): the output is byte for
byte the same on every run. ``--check`` evaluates each line the way ``labrecog evaluate``
does, compares every item with the status written next to the case here, and asserts that
together the good lines produce every code in ``labrecog.REASON_CODES``, every status, both
panels, and that each deliberately bad line becomes an error record (nothing lost).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CASES = HERE / "cases.jsonl"
RULES = ROOT / "rules" / "demo"
CST = timezone(timedelta(hours=8))  # Asia/Shanghai has had no DST since 1991

# --------------------------------------------------------------------------- institutions
# Ordering and performing institutions. All but WCSU are in rules/demo/institutions.yaml,
# whose entries are authoritative over what a result claims about its lab.

LZU2 = {"id": "LZU2", "name": "兰州大学第二医院", "region": "620102", "level": 3}
GSPH = {"id": "GSPH", "name": "甘肃省人民医院", "region": "620102", "level": 3}
LXRM = {"id": "LXRM", "name": "临夏市人民医院", "region": "621226", "level": 2}
XNCH = {"id": "XNCH", "name": "西宁市第一人民医院", "region": "630100", "level": 3}
CLINIC7 = {"id": "CLINIC7", "name": "七里河社区卫生服务中心", "region": "620103", "level": 1}
WCSU = {"id": "WCSU", "name": "四川大学华西医院", "region": "510107", "level": 3}  # unlisted

# A typical first LOINC and specimen per catalogue code, so cases only say what differs.
LOINC = {
    "GLU": "2345-7",
    "HBA1C": "4548-4",
    "K": "2823-3",
    "NA": "2951-2",
    "CREA": "2160-0",
    "ALT": "1742-6",
    "AST": "1920-8",
    "TBIL": "1975-2",
    "ALB": "1751-7",
    "TC": "2093-3",
    "TRIG": "2571-8",
    "WBC": "6690-2",
    "TSH": "3016-3",
    "HBSAG": "5196-1",
}
WHOLE_BLOOD = {"HBA1C", "WBC"}

# --------------------------------------------------------------------------- helpers


def ago(text: str) -> timedelta:
    """'3d', '20h', '2d6h', '-1h' (after the order) -> timedelta."""
    sign = -1 if text.startswith("-") else 1
    days = hours = minutes = 0
    number = ""
    for ch in text.lstrip("-"):
        if ch.isdigit():
            number += ch
            continue
        if ch == "d":
            days = int(number)
        elif ch == "h":
            hours = int(number)
        elif ch == "m":
            minutes = int(number)
        else:
            raise ValueError(text)
        number = ""
    return sign * timedelta(days=days, hours=hours, minutes=minutes)


def prior(
    rid: str,
    code: str,
    value: float | str | None,
    unit: str | None,
    *,
    age: str,
    ref: tuple[float | None, float | None] | None = None,
    ref_unit: str | None = None,
    inst: dict[str, Any] = LXRM,
    mark: str | None = "本省HR",
    report_after: str = "3h",
    **extra: Any,
) -> dict[str, Any]:
    """One external result ``age`` before the order; ``value`` str means value_text.

    Timestamps are filled in by :func:`case`, which knows the order time. ``extra`` sets or,
    with ``None``, removes fields (``loinc=None``, ``specimen="urine"``, ``status=...``).
    """
    out: dict[str, Any] = {
        "id": rid,
        "code": code,
        "loinc": LOINC.get(code),
        "specimen": "whole blood" if code in WHOLE_BLOOD else "serum",
    }
    if isinstance(value, str):
        out["value_text"] = value
    elif value is not None:
        out["value"] = value
    if unit is not None:
        out["unit"] = unit
    if ref is not None:
        low, high = ref
        rr: dict[str, Any] = {}
        if low is not None:
            rr["low"] = low
        if high is not None:
            rr["high"] = high
        rr["unit"] = ref_unit or unit
        out["reference_range"] = rr
    out["_age"] = ago(age)
    out["_report_after"] = ago(report_after)
    out["institution"] = dict(inst)
    if mark is not None:
        out["mark"] = mark
    out["status"] = "final"
    for key, val in extra.items():
        if val is None:
            out.pop(key, None)
        else:
            out[key] = val
    return out


@dataclass
class Case:
    """A case plus what --check expects of it: item statuses and reason codes shown."""

    data: dict[str, Any]
    expect: dict[str, str]
    shows: set[str] = field(default_factory=set)
    hidden: set[str] = field(default_factory=set)  # result ids that must not be output


@dataclass
class Bad:
    """A deliberately broken line and the error path its record must name."""

    text: str
    path: str


def _stamp(at: datetime, naive: bool) -> str:
    if naive:
        return at.replace(tzinfo=None).isoformat()
    return at.isoformat()


def case(
    order_id: str,
    ordered_at: str,
    tests: list[str | dict[str, Any]],
    priors: list[dict[str, Any]],
    *,
    expect: dict[str, str],
    shows: set[str] | None = None,
    note: str,
    patient: dict[str, Any] | None = None,
    institution: dict[str, Any] = LZU2,
    setting: str = "outpatient",
    department: str | None = None,
    flags: list[str] | None = None,
    granted: bool = True,
    naive: bool = False,
) -> Case:
    """An order (at LZU2 by default) with its patient's prior results."""
    at = datetime.fromisoformat(ordered_at)
    if at.tzinfo is None:
        at = at.replace(tzinfo=CST)
    pat = patient or {"id": "P-000", "sex": "male", "birth_date": "1970-01-01"}
    results = []
    hidden = set()
    for p in priors:
        p = dict(p)
        collected = at - p.pop("_age")
        reported = collected + p.pop("_report_after")
        out = {"id": p.pop("id"), "patient_id": p.pop("patient_id", pat["id"])}
        out.update(p)
        # Keep the documented field order: timestamps after the reference range.
        tail = {k: out.pop(k) for k in ("institution", "mark", "status", "shared") if k in out}
        out["collected_at"] = _stamp(collected, naive)
        out["reported_at"] = _stamp(reported, naive)
        out.update(tail)
        if out.get("shared") is False:
            hidden.add(out["id"])
        results.append(out)
    context: dict[str, Any] = {"setting": setting}
    if department is not None:
        context["department"] = department
    context["flags"] = flags or []
    data = {
        "order_id": order_id,
        "ordered_at": _stamp(at, naive),
        "patient": pat,
        "institution": dict(institution),
        "context": context,
        "authorization": {"granted": granted},
        "tests": [t if isinstance(t, dict) else {"code": t} for t in tests],
        "prior_results": results,
        "ext": {"note": note},
    }
    return Case(data, expect, shows or set(), hidden)


def lft(prefix: str, age: str, inst: dict[str, Any], *, sex: str = "male") -> list[dict[str, Any]]:
    """A complete, unremarkable liver panel from one lab: ALT, AST, TBIL, ALB."""
    alt, ast = ((9, 50), (15, 40)) if sex == "male" else ((7, 40), (13, 35))
    mark = "全国HR" if inst is GSPH else "本省HR"
    kw: dict[str, Any] = {"age": age, "inst": inst, "mark": mark}
    return [
        prior(f"{prefix}-ALT", "ALT", 23, "U/L", ref=alt, **kw),
        prior(f"{prefix}-AST", "AST", 21, "U/L", ref=ast, **kw),
        prior(f"{prefix}-TBIL", "TBIL", 11.8, "μmol/L", ref=(0, 26), **kw),
        prior(f"{prefix}-ALB", "ALB", 44.6, "g/L", ref=(40, 55), **kw),
    ]


# --------------------------------------------------------------------------- the cases


def cases() -> list[Case | Bad]:
    out: list[Case | Bad] = []
    add = out.append

    # ---- 1. Recognised: results that pass every check are waived --------------------

    # The story of docs/case.md (Example), in Chinese: an endocrinology outpatient brings a
    # glucose from 临夏 done 4 days ago (本省HR, level 2 — enough). GLU is waived although
    # 6.4 is above the interval (abnormal_prior: allow for GLU). His HbA1c is 72 days old
    # (limit 60 d) and he has no liver results, so HbA1c and the liver panel are repeated.
    add(
        case(
            "O-2025-000123",
            "2025-03-02T09:30:00+08:00",
            ["HBA1C", "LFT", "GLU"],
            [
                prior("R-88", "GLU", 6.4, "mmol/L", ref=(3.9, 6.1), age="4d1h20m",
                      method="hexokinase"),
                prior("R-12", "HBA1C", 6.8, "%", ref=(4.0, 6.0), age="72d", inst=GSPH,
                      mark="全国HR"),
            ],
            patient={"id": "P-001", "sex": "male", "birth_date": "1961-05-14"},
            department="内分泌科",
            expect={"HBA1C": "retest", "LFT": "retest", "GLU": "waive"},
            shows={"too_old", "no_prior"},
            note="§4 story: 临夏 glucose 4 days old recognised; HbA1c too old; no liver results",
        )
    )  # fmt: skip

    # Unit conversions done at load time: glucose and creatinine in mg/dL (molar mass),
    # HbA1c in IFCC mmol/mol (NGSP/IFCC master equation). All three are waived.
    add(
        case(
            "O-2025-000201",
            "2025-03-03T10:15:00+08:00",
            ["GLU", "CREA", "HBA1C"],
            [
                prior("R-201", "GLU", 99, "mg/dL", ref=(70, 110), age="2d2h", inst=GSPH,
                      mark="兰州HR", specimen="plasma"),
                prior("R-202", "CREA", 0.92, "mg/dL", ref=(0.7, 1.3), age="2d2h", inst=GSPH,
                      mark="兰州HR"),
                prior("R-203", "HBA1C", 41, "mmol/mol", ref=(20, 42), age="40d", inst=GSPH,
                      mark="全国HR", loinc="59261-8"),
            ],
            patient={"id": "P-002", "sex": "male", "birth_date": "1958-11-02"},
            department="心内科",
            expect={"GLU": "waive", "CREA": "waive", "HBA1C": "waive"},
            note="units: glucose and creatinine in mg/dL, HbA1c in mmol/mol, all converted",
        )
    )  # fmt: skip

    # A qualitative result (乙肝表面抗原 阴性) and a 2-day-old blood count before a gastroscopy.
    add(
        case(
            "O-2025-000202",
            "2025-03-04T08:40:00+08:00",
            ["HBSAG", "WBC"],
            [
                prior("R-204", "HBSAG", "阴性", None, age="6d", method="CLIA"),
                prior("R-205", "WBC", 6.2, "×10^9/L", ref=(3.5, 9.5), ref_unit="×10^9/L",
                      age="2d"),
            ],
            patient={"id": "P-003", "sex": "female", "birth_date": "1985-07-19"},
            department="消化内科",
            expect={"HBSAG": "waive", "WBC": "waive"},
            note="qualitative HBsAg 阴性 and a white count written ×10^9/L, both recognised",
        )
    )  # fmt: skip

    # The whole liver panel, female reference intervals, from the provincial hospital.
    add(
        case(
            "O-2025-000203",
            "2025-03-04T14:00:00+08:00",
            ["LFT"],
            lft("R-21", "9d", GSPH, sex="female"),
            patient={"id": "P-004", "sex": "female", "birth_date": "1979-03-30"},
            department="感染科",
            expect={"LFT": "waive"},
            note="LFT panel: all four components recognised, the panel price saved",
        )
    )

    # The doctor ticks ALT and the liver panel: ALT is saved once (credited to the single
    # order), the panel saves 60 − 8.
    add(
        case(
            "O-2025-000204",
            "2025-03-05T09:05:00+08:00",
            ["ALT", "LFT"],
            lft("R-22", "3d", LXRM),
            patient={"id": "P-005", "sex": "male", "birth_date": "1990-12-01"},
            expect={"ALT": "waive", "LFT": "waive"},
            shows={"duplicate_order"},
            note="ALT ordered alone and inside LFT: its saving is counted once",
        )
    )

    # Lipid panel and total cholesterol again: the panel is waived, TC counted once.
    add(
        case(
            "O-2025-000205",
            "2025-03-05T10:20:00+08:00",
            ["LIPID", "TC"],
            [
                prior("R-231", "TC", 4.62, "mmol/L", ref=(None, 5.2), age="12d", inst=GSPH,
                      mark="全国HR"),
                prior("R-232", "TRIG", 1.31, "mmol/L", ref=(None, 1.7), age="12d", inst=GSPH,
                      mark="全国HR"),
            ],
            patient={"id": "P-006", "sex": "female", "birth_date": "1966-04-08"},
            department="心内科",
            expect={"LIPID": "waive", "TC": "waive"},
            shows={"duplicate_order"},
            note="LIPID panel waived; TC also ordered alone is saved once",
        )
    )  # fmt: skip

    # Three glucose results: the freshest eligible one is used and the older one is
    # 'superseded'. The freshest of all was not shared by the patient: it must not be
    # used and must not appear anywhere in the decision.
    add(
        case(
            "O-2025-000206",
            "2025-03-06T08:30:00+08:00",
            ["GLU"],
            [
                prior("R-241", "GLU", 5.6, "mmol/L", ref=(3.9, 6.1), age="5d"),
                prior("R-242", "GLU", 5.3, "mmol/L", ref=(3.9, 6.1), age="2d", inst=GSPH,
                      mark="全国HR"),
                prior("R-243", "GLU", 5.1, "mmol/L", ref=(3.9, 6.1), age="1d", shared=False),
            ],
            patient={"id": "P-007", "sex": "male", "birth_date": "1972-09-15"},
            expect={"GLU": "waive"},
            shows={"superseded"},
            note="freshest eligible result used, older one superseded, unshared one invisible",
        )
    )  # fmt: skip

    # A HIS export without UTC offsets: accepted because the rule set declares
    # timezone Asia/Shanghai.
    add(
        case(
            "O-2025-000207",
            "2025-03-06T11:00:00",
            ["K", "NA"],
            [
                prior("R-251", "K", 4.1, "mmol/L", ref=(3.5, 5.3), age="3d"),
                prior("R-252", "NA", 140, "mmol/L", ref=(137, 147), age="3d"),
            ],
            patient={"id": "P-008", "sex": "female", "birth_date": "1950-02-11"},
            naive=True,
            expect={"K": "waive", "NA": "waive"},
            note="naive timestamps read in the rule set's timezone (Asia/Shanghai)",
        )
    )  # fmt: skip

    # ---- 2. Panels: partial and retest ---------------------------------------------

    # The county lab prints the old bilirubin interval 3.4–20.5: TBIL is not comparable,
    # so the panel is 'partial' — order TBIL alone, save 60 − 6.
    priors = lft("R-26", "6d", LXRM)
    priors[2] = prior("R-26-TBIL", "TBIL", 12.4, "μmol/L", ref=(3.4, 20.5), age="6d")
    add(
        case(
            "O-2025-000301",
            "2025-03-07T09:10:00+08:00",
            ["LFT"],
            priors,
            patient={"id": "P-009", "sex": "male", "birth_date": "1968-06-21"},
            expect={"LFT": "partial"},
            shows={"reference_range_incompatible"},
            note="LFT partial: bilirubin reference range differs beyond tolerance",
        )
    )

    # ALT is raised (ALT has abnormal_prior: reject) and albumin has no reference range:
    # partial, order ALT and ALB, save 60 − 8 − 5.
    priors = lft("R-27", "10d", GSPH)
    priors[0] = prior("R-27-ALT", "ALT", 86, "U/L", ref=(9, 50), age="10d", inst=GSPH,
                      mark="全国HR")  # fmt: skip
    priors[3] = prior("R-27-ALB", "ALB", 42.3, "g/L", age="10d", inst=GSPH, mark="全国HR")
    add(
        case(
            "O-2025-000302",
            "2025-03-07T15:45:00+08:00",
            ["LFT"],
            priors,
            patient={"id": "P-010", "sex": "male", "birth_date": "1975-10-03"},
            department="肝病科",
            expect={"LFT": "partial"},
            shows={"abnormal_value", "reference_range_missing"},
            note="LFT partial: raised ALT is re-tested, albumin lacks a reference range",
        )
    )

    # Triglycerides only preliminary: the lipid panel cannot be split, so it is repeated,
    # and the usable cholesterol is named (partial_not_allowed).
    add(
        case(
            "O-2025-000303",
            "2025-03-08T08:20:00+08:00",
            ["LIPID"],
            [
                prior("R-281", "TC", 5.01, "mmol/L", ref=(None, 5.2), age="4d"),
                prior("R-282", "TRIG", 1.42, "mmol/L", ref=(None, 1.7), age="4d",
                      status="preliminary"),
            ],
            patient={"id": "P-011", "sex": "female", "birth_date": "1981-01-27"},
            expect={"LIPID": "retest"},
            shows={"result_status", "partial_not_allowed"},
            note="LIPID retest: partial not allowed, triglycerides only preliminary",
        )
    )  # fmt: skip

    # ---- 3. Time ---------------------------------------------------------------------

    # Glucose 9 days old (limit 7 d), one collected after the order was placed and one
    # collected before but reported after it: nothing usable.
    add(
        case(
            "O-2025-000401",
            "2025-03-09T09:30:00+08:00",
            ["GLU"],
            [
                prior("R-301", "GLU", 5.4, "mmol/L", ref=(3.9, 6.1), age="9d"),
                prior("R-302", "GLU", 5.0, "mmol/L", ref=(3.9, 6.1), age="-1h", inst=GSPH,
                      mark="全国HR"),
                prior("R-303", "GLU", 5.2, "mmol/L", ref=(3.9, 6.1), age="2h", inst=GSPH,
                      mark="全国HR", report_after="3h"),
            ],
            patient={"id": "P-012", "sex": "female", "birth_date": "1959-08-08"},
            expect={"GLU": "retest"},
            shows={"too_old", "future_result"},
            note="too old, collected after the order, reported after the order",
        )
    )  # fmt: skip

    # On insulin: the condition 'insulin-glucose' shortens glucose to 3 days, so a 5-day
    # glucose is too old; HbA1c is not affected and is waived.
    add(
        case(
            "O-2025-000402",
            "2025-03-09T10:00:00+08:00",
            ["GLU", "HBA1C"],
            [
                prior("R-311", "GLU", 7.9, "mmol/L", ref=(3.9, 6.1), age="5d"),
                prior("R-312", "HBA1C", 7.4, "%", ref=(4.0, 6.0), age="30d"),
            ],
            patient={"id": "P-013", "sex": "male", "birth_date": "1955-05-05"},
            department="内分泌科",
            flags=["on_insulin"],
            expect={"GLU": "retest", "HBA1C": "waive"},
            shows={"too_old"},
            note="conditional rule: on_insulin limits glucose to 3 days",
        )
    )

    # An inpatient on the renal ward: electrolytes accepted only within 24 h. Yesterday's
    # potassium is fresh enough but critical (6.8 ≥ 6.5); the 2-day one is too old.
    add(
        case(
            "O-2025-000403",
            "2025-03-10T07:30:00+08:00",
            ["K", "NA"],
            [
                prior("R-321", "K", 6.8, "mmol/L", ref=(3.5, 5.3), age="20h", inst=GSPH,
                      mark="全国HR"),
                prior("R-322", "K", 5.0, "mmol/L", ref=(3.5, 5.3), age="2d", inst=GSPH,
                      mark="全国HR"),
                prior("R-323", "NA", 139, "mmol/L", ref=(137, 147), age="30h", inst=GSPH,
                      mark="全国HR"),
            ],
            patient={"id": "P-014", "sex": "male", "birth_date": "1948-12-24"},
            setting="inpatient",
            department="肾内科",
            expect={"K": "retest", "NA": "retest"},
            shows={"critical_value", "too_old"},
            note="inpatient electrolytes: 24 h limit; a fresh potassium is critical",
        )
    )  # fmt: skip

    # ---- 4. Indicator: specimen, method, unit, value, identity ---------------------

    # A urine glucose under the serum code, and a result whose unit was exported as
    # Chinese text: neither can be used.
    add(
        case(
            "O-2025-000501",
            "2025-03-11T09:00:00+08:00",
            ["GLU"],
            [
                prior("R-401", "GLU", 5.5, "mmol/L", ref=(3.9, 6.1), age="2d", specimen="urine"),
                prior("R-402", "GLU", 5.5, "毫摩尔/升", ref=(3.9, 6.1), age="3d"),
            ],
            patient={"id": "P-015", "sex": "female", "birth_date": "1988-10-10"},
            expect={"GLU": "retest"},
            shows={"specimen_mismatch", "unit_unknown"},
            note="urine specimen; unit written in Chinese is not UCUM",
        )
    )

    # TSH needs a CLIA/ECLIA method: an RIA result is refused; a CLIA result in μIU/mL is
    # the same scale as mIU/L and is used (the arbitrary unit [IU] is the same on both
    # sides, only prefixes differ). Potassium in mEq/L is not converted: an equivalent is
    # not a mole.
    add(
        case(
            "O-2025-000502",
            "2025-03-11T10:30:00+08:00",
            ["TSH", "K"],
            [
                prior("R-411", "TSH", 2.1, "mIU/L", ref=(0.27, 4.2), age="10d", method="RIA"),
                prior("R-412", "TSH", 1.9, "μIU/mL", ref=(0.27, 4.2), age="12d",
                      method="CLIA"),
                prior("R-413", "K", 4.2, "mEq/L", ref=(3.5, 5.3), age="2d"),
            ],
            patient={"id": "P-016", "sex": "female", "birth_date": "1977-02-14"},
            department="内分泌科",
            expect={"TSH": "waive", "K": "retest"},
            shows={"method_mismatch", "unit_incompatible"},
            note="TSH by RIA refused, TSH in μIU/mL used; K in mEq/L is not converted",
        )
    )  # fmt: skip

    # HBsAg reported as 弱阳性 (weakly positive) is not a value the rule set knows; a
    # result coded GLU but carrying potassium's LOINC is ambiguous and used for neither.
    add(
        case(
            "O-2025-000503",
            "2025-03-12T08:50:00+08:00",
            ["HBSAG", "GLU", "K"],
            [
                prior("R-421", "HBSAG", "弱阳性", None, age="5d"),
                prior("R-422", "GLU", 5.1, "mmol/L", ref=(3.9, 6.1), age="1d",
                      loinc="2823-3"),
            ],
            patient={"id": "P-017", "sex": "male", "birth_date": "1983-03-03"},
            expect={"HBSAG": "retest", "GLU": "retest", "K": "retest"},
            shows={"value_unrecognised", "identity_conflict"},
            note="HBsAg 弱阳性 not recognised; GLU code with potassium LOINC is ambiguous",
        )
    )  # fmt: skip

    # ---- 5. Institution: level, region, mark, quality assessment -------------------

    # Glucose from a community centre (level 1) and creatinine from West China Hospital in
    # Chengdu (nationwide mark, but Sichuan is outside the Gansu/Qinghai agreement).
    add(
        case(
            "O-2025-000601",
            "2025-03-12T09:40:00+08:00",
            ["GLU", "CREA"],
            [
                prior("R-501", "GLU", 5.0, "mmol/L", ref=(3.9, 6.1), age="1d", inst=CLINIC7),
                prior("R-502", "CREA", 78, "μmol/L", ref=(57, 111), age="8d", inst=WCSU,
                      mark="全国HR"),
            ],
            patient={"id": "P-018", "sex": "male", "birth_date": "1964-07-07"},
            expect={"GLU": "retest", "CREA": "retest"},
            shows={"institution_level", "institution_region"},
            note="level-1 community centre; lab in Sichuan outside the recognition area",
        )
    )  # fmt: skip

    # The registry overrides what results claim: the provincial hospital lost its TSH
    # approval, the Xining registry entry expired on 2024-12-31, and a Linxia potassium
    # without HR mark has no evidence of quality assessment.
    add(
        case(
            "O-2025-000602",
            "2025-03-13T10:10:00+08:00",
            ["TSH", "WBC", "K"],
            [
                prior("R-511", "TSH", 1.6, "mIU/L", ref=(0.27, 4.2), age="7d", inst=GSPH,
                      mark="全国HR", method="ECLIA"),
                prior("R-512", "WBC", 5.4, "10^9/L", ref=(3.5, 9.5), age="1d", inst=XNCH,
                      mark="全国HR"),
                prior("R-513", "K", 4.0, "mmol/L", ref=(3.5, 5.3), age="2d", mark=None),
            ],
            patient={"id": "P-019", "sex": "female", "birth_date": "1992-11-30"},
            expect={"TSH": "retest", "WBC": "retest", "K": "retest"},
            shows={"quality_not_assured", "mark_missing"},
            note="registry: TSH approval withdrawn, entry expired; no HR mark",
        )
    )  # fmt: skip

    # Mutual recognition the other way: ordered in 临夏. A Lanzhou-only mark (兰州HR) does
    # not cover Linxia, while a province-wide mark (本省HR) does.
    add(
        case(
            "O-2025-000603",
            "2025-03-13T11:25:00+08:00",
            ["GLU", "CREA"],
            [
                prior("R-521", "GLU", 4.8, "mmol/L", ref=(3.9, 6.1), age="3d", inst=GSPH,
                      mark="兰州HR"),
                prior("R-522", "CREA", 64, "μmol/L", ref=(41, 81), age="3d", inst=GSPH,
                      mark="本省HR"),
            ],
            patient={"id": "P-020", "sex": "female", "birth_date": "1970-05-20"},
            institution=LXRM,
            expect={"GLU": "retest", "CREA": "waive"},
            shows={"institution_region"},
            note="ordered in 临夏: 兰州HR does not cover Linxia, 本省HR does",
        )
    )  # fmt: skip

    # ---- 6. Consent and exceptions -------------------------------------------------

    # The patient has not authorised access to external results: nothing is used.
    add(
        case(
            "O-2025-000701",
            "2025-03-14T08:15:00+08:00",
            ["GLU"],
            [prior("R-601", "GLU", 5.2, "mmol/L", ref=(3.9, 6.1), age="2d")],
            patient={"id": "P-021", "sex": "male", "birth_date": "1980-08-18"},
            granted=False,
            expect={"GLU": "retest"},
            shows={"no_authorization"},
            note="no patient authorisation: external results are not used",
        )
    )

    # Emergency department: the 'emergency' flag forces every test; also shows a per-item
    # flag (patient_request on K) that would force K on its own.
    add(
        case(
            "O-2025-000702",
            "2025-03-14T23:40:00+08:00",
            ["GLU", {"code": "K", "flags": ["patient_request"]}],
            [
                prior("R-611", "GLU", 5.6, "mmol/L", ref=(3.9, 6.1), age="1d", inst=GSPH,
                      mark="全国HR"),
                prior("R-612", "K", 4.4, "mmol/L", ref=(3.5, 5.3), age="1d", inst=GSPH,
                      mark="全国HR"),
            ],
            patient={"id": "P-022", "sex": "male", "birth_date": "1946-01-09"},
            setting="emergency",
            department="急诊科",
            flags=["emergency"],
            expect={"GLU": "retest", "K": "retest"},
            shows={"exception"},
            note="急危重症 (emergency) and a patient request force a re-test",
        )
    )  # fmt: skip

    # ---- 7. Bad lines: every one still yields a record (nothing lost) --------------

    # A line cut off by a failed export: not JSON at all.
    add(
        Bad(
            '{"order_id": "O-2025-000901", "ordered_at": "2025-03-15T09:00:00+08:00", '
            '"patient": {"id": "P-901", "sex": "fem',
            path="",
        )
    )

    # A child (8 years): the 'children' condition raises the paediatric exception for
    # every test, even with a perfectly good prior result.
    add(
        case(
            "O-2025-000703",
            "2025-03-15T09:20:00+08:00",
            ["GLU", "WBC"],
            [
                prior("R-621", "GLU", 4.9, "mmol/L", ref=(3.9, 6.1), age="2d"),
                prior("R-622", "WBC", 7.1, "×10^9/L", ref=(3.5, 9.5), age="1d"),
            ],
            patient={"id": "P-023", "sex": "female", "birth_date": "2016-09-01"},
            department="儿科",
            expect={"GLU": "retest", "WBC": "retest"},
            shows={"exception"},
            note="paediatric patient: the children condition forces a re-test",
        )
    )

    # Mixed-up patients (offsets everywhere, nothing else wrong): the second result belongs
    # to another patient, so the whole case is an input error, not a re-test.
    mixed = case(
        "O-2025-000902",
        "2025-03-15T10:00:00+08:00",
        ["GLU", "K"],
        [
            prior("R-911", "GLU", 5.3, "mmol/L", ref=(3.9, 6.1), age="2d"),
            prior("R-912", "K", 4.3, "mmol/L", ref=(3.5, 5.3), age="2d", patient_id="P-903"),
        ],
        patient={"id": "P-902", "sex": "male", "birth_date": "1975-04-04"},
        expect={},
        note="mixed-up patients: prior_results[1] belongs to P-903",
    )
    add(Bad(_dumps(mixed.data), path="prior_results[1].patient_id"))

    # A value written as a bare NaN token (what Python's json.dumps emits for float('nan')):
    # not valid JSON, and not a finite number either way.
    nan = case(
        "O-2025-000903",
        "2025-03-15T10:30:00+08:00",
        ["GLU"],
        [prior("R-921", "GLU", 0.0, "mmol/L", ref=(3.9, 6.1), age="1d")],
        patient={"id": "P-904", "sex": "male", "birth_date": "1969-12-12"},
        expect={},
        note="a NaN value exported as a bare token",
    )
    text = _dumps(nan.data)
    assert text.count('"value":0.0') == 1
    add(Bad(text.replace('"value":0.0', '"value":NaN'), path=""))

    # No birth date, so the 'children' condition (age under 14) cannot be decided and every
    # test is re-tested. Also: procalcitonin is not on the recognised list, hs-CRP is not
    # in the catalogue, and GLUC (an alias of GLU) is ordered under its alias.
    add(
        case(
            "O-2025-000704",
            "2025-03-15T11:00:00+08:00",
            ["PCT", "HSCRP", "GLUC"],
            [
                prior("R-631", "PCT", 0.03, "ng/mL", ref=(None, 0.05), age="1d", inst=GSPH,
                      mark="全国HR"),
                prior("R-632", "GLU", 5.0, "mmol/L", ref=(3.9, 6.1), age="1d", inst=GSPH,
                      mark="全国HR"),
            ],
            patient={"id": "P-024", "sex": "unknown"},
            department="呼吸科",
            expect={"PCT": "retest", "HSCRP": "retest", "GLUC": "retest"},
            shows={"condition_undecidable", "not_recognisable", "unknown_test"},
            note="no birth date: age condition undecidable; PCT not recognisable; HSCRP unknown",
        )
    )  # fmt: skip
    return out


# --------------------------------------------------------------------------- output


def _dumps(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def lines() -> list[str]:
    return [item.text if isinstance(item, Bad) else _dumps(item.data) for item in cases()]


def render() -> str:
    return "".join(line + "\n" for line in lines())


# --------------------------------------------------------------------------- --check


def check(path: Path) -> int:
    """Evaluate every line as the CLI does; verify expectations and coverage."""
    import labrecog
    from labrecog.batch.records import evaluate_line

    built = cases()
    expected = render()
    problems: list[str] = []
    if not path.exists():
        problems.append(f"{path} does not exist; run this script without --check first")
    elif path.read_text(encoding="utf-8") != expected:
        problems.append(f"{path} is stale; regenerate it with this script")

    engine = labrecog.Engine.from_path(RULES)
    reasons: Counter[str] = Counter()
    statuses: Counter[str] = Counter()
    panels: set[tuple[str, str]] = set()
    saving = 0.0
    print(f"{'line':>4}  {'order':<14} {'saving':>7}  items")
    for number, (item, raw) in enumerate(zip(built, lines(), strict=True), start=1):
        record = evaluate_line(engine, number, raw.encode("utf-8"))
        if isinstance(item, Bad):
            err = record.get("error")
            if not err or err.get("code") != "invalid_input" or record.get("line") != number:
                problems.append(f"line {number}: expected an invalid_input record, got {record}")
            elif item.path != err["path"]:
                problems.append(f"line {number}: error path {err['path']!r}, not {item.path!r}")
            print(f"{number:>4}  {record.get('order_id')!s:<14} {'-':>7}  ERROR {err}")
            continue
        if "error" in record:
            problems.append(f"line {number}: unexpected error {record['error']}")
            continue
        got = {entry["code"]: entry["status"] for entry in record["items"]}
        if got != item.expect:
            problems.append(f"line {number} {record['order_id']}: {got} != {item.expect}")
        shown = {r["code"] for entry in record["items"] for r in entry["reasons"]}
        if not item.shows <= shown:
            problems.append(f"line {number}: missing reasons {sorted(item.shows - shown)}")
        text = json.dumps(record, ensure_ascii=False)
        for rid in item.hidden:
            if f'"{rid}"' in text:
                problems.append(f"line {number}: unshared result {rid} appears in the decision")
        reasons.update(shown)
        for entry in record["items"]:
            statuses[entry["status"]] += 1
            if entry["code"] in engine.rules.panels:
                panels.add((entry["code"], entry["status"]))
        saving += float(record["saving"])
        summary = " ".join(f"{c}:{s}" for c, s in got.items())
        print(f"{number:>4}  {record['order_id']:<14} {record['saving']:>7}  {summary}")

    missing = sorted(set(labrecog.REASON_CODES) - set(reasons))
    if missing:
        problems.append(f"reason codes never produced: {missing}")
    for status in ("waive", "partial", "retest"):
        if not statuses[status]:
            problems.append(f"status {status} never produced")
    for panel in ("LFT", "LIPID"):
        if not any(code == panel for code, _ in panels):
            problems.append(f"panel {panel} never ordered")

    good = sum(1 for item in built if isinstance(item, Case))
    bad = len(built) - good
    print(
        f"\n{len(built)} lines: {good} decided, {bad} error records; items "
        + ", ".join(f"{s} {statuses[s]}" for s in ("waive", "partial", "retest"))
        + f"; saving {saving:.2f} CNY"
    )
    print(f"reason codes produced: {len(reasons)}/{len(labrecog.REASON_CODES)}")
    story = next(i for i in built if isinstance(i, Case) and i.data["order_id"] == "O-2025-000123")
    decision = engine.evaluate(story.data, lang="zh").model_dump(mode="json")
    print("\n§4 story in Chinese:")
    for entry in decision["items"]:
        why = "；".join(r["message"] for r in entry["reasons"]) or f"采用 {entry.get('result_id')}"
        print(f"  {entry['code']:<6} {entry['status']:<7} {entry['saving']:>6}  {why}")
    if problems:
        print("\nFAILED:", file=sys.stderr)
        for p in problems:
            print(f"  {p}", file=sys.stderr)
        return 1
    print("\nOK: every reason code, status and panel is covered; every bad line is reported.")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="evaluate and verify coverage")
    parser.add_argument("--file", type=Path, default=CASES, help="cases file for --check")
    args = parser.parse_args(argv)
    if args.check:
        return check(args.file)
    sys.stdout.buffer.write(render().encode("utf-8"))
    return 0


if __name__ == "__main__":
    sys.exit(main())

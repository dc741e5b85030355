"""Every reason code, produced through ``Engine.evaluate`` with ``rules/demo``.

Each row states one case, the item it looks at, the exact status, the exact set of reason
codes and, for each code, the ``result_id`` the reason must carry (``None`` for reasons
about the order rather than a prior result). The defaults of ``tests/builders.py`` give a
waivable GLU case, so a row that changes one field isolates one check.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest

from labrecog import REASON_CODES, Engine, InputError
from labrecog.words import MESSAGES
from tests.builders import DELETE, DEMO, case, decide, demo_engine, item, prior, reason_codes

# --------------------------------------------------------------------------- priors


def k_prior(**overrides: Any) -> dict[str, Any]:
    """A potassium result that passes every check (K: electrolytes, 7 d, no molar mass)."""
    base: dict[str, Any] = {
        "code": "K",
        "loinc": "2823-3",
        "value": 4.0,
        "unit": "mmol/L",
        "reference_range": {"low": 3.5, "high": 5.3, "unit": "mmol/L"},
    }
    return prior(**{**base, **overrides})


def tsh_prior(**overrides: Any) -> dict[str, Any]:
    """TSH needs a method (CLIA/ECLIA) and is reported in m[IU]/L (arbitrary units)."""
    base: dict[str, Any] = {
        "code": "TSH",
        "loinc": "3016-3",
        "value": 2.0,
        "unit": "mIU/L",
        "reference_range": {"low": 0.27, "high": 4.2, "unit": "mIU/L"},
        "method": "ECLIA",
    }
    return prior(**{**base, **overrides})


def hba1c_prior(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "code": "HBA1C",
        "loinc": "4548-4",
        "specimen": "whole blood",
        "value": 5.5,
        "unit": "%",
        "reference_range": {"low": 4.0, "high": 6.0, "unit": "%"},
    }
    return prior(**{**base, **overrides})


def crea_prior(**overrides: Any) -> dict[str, Any]:
    """Creatinine with the *male* interval (57-111 umol/L)."""
    base: dict[str, Any] = {
        "code": "CREA",
        "loinc": "2160-0",
        "value": 80.0,
        "unit": "umol/L",
        "reference_range": {"low": 57, "high": 111, "unit": "umol/L"},
    }
    return prior(**{**base, **overrides})


def alt_prior(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "code": "ALT",
        "loinc": "1742-6",
        "value": 30.0,
        "unit": "U/L",
        "reference_range": {"low": 9, "high": 50, "unit": "U/L"},
    }
    return prior(**{**base, **overrides})


def tbil_prior(**overrides: Any) -> dict[str, Any]:
    """Total bilirubin: the local interval has only an upper limit (26 umol/L)."""
    base: dict[str, Any] = {
        "code": "TBIL",
        "loinc": "1975-2",
        "value": 12.0,
        "unit": "umol/L",
        "reference_range": {"high": 26.0, "unit": "umol/L"},
    }
    return prior(**{**base, **overrides})


def hbsag_prior(**overrides: Any) -> dict[str, Any]:
    """A qualitative result: value_text, no value, unit or reference range."""
    base: dict[str, Any] = {
        "code": "HBSAG",
        "loinc": "5196-1",
        "value": DELETE,
        "unit": DELETE,
        "reference_range": DELETE,
        "value_text": "negative",
    }
    return prior(**{**base, **overrides})


def pct_prior() -> dict[str, Any]:
    return prior(
        code="PCT",
        loinc="33959-8",
        value=0.02,
        unit="ng/mL",
        reference_range={"high": 0.05, "unit": "ng/mL"},
    )


# Timestamps around the default order time 2025-03-02T09:30:00+08:00.
SEVEN_DAYS = "2025-02-23T09:30:00+08:00"
SEVEN_DAYS_AND_1S = "2025-02-23T09:29:59+08:00"
LATE_REPORT = "2025-02-27T11:00:00+08:00"  # builders' default reported_at


def collected(at: str, reported: str = LATE_REPORT) -> dict[str, str]:
    return {"collected_at": at, "reported_at": reported}


# --------------------------------------------------------------------------- the table


@dataclass(frozen=True)
class Row:
    id: str
    data: dict[str, Any]
    status: str
    reasons: dict[str, str | None] = field(default_factory=dict)  # code -> result_id
    code: str = "GLU"
    index: int | None = None  # pick the item by position (duplicate codes)
    result_id: str | None = None  # of the item (waive)


def waive(id: str, data: dict[str, Any], code: str = "GLU", **kw: Any) -> Row:
    return Row(id, data, "waive", code=code, result_id=kw.pop("result_id", "R-1"), **kw)


def retest(id: str, data: dict[str, Any], reasons: dict[str, str | None], **kw: Any) -> Row:
    return Row(id, data, "retest", reasons, **kw)


R1 = "R-1"
ORDER_LEVEL = None

ROWS: list[Row] = [
    # --- baseline and catalogue
    waive("baseline", case(prior())),
    retest("unknown_test", case(prior(), tests=["XYZ"]), {"unknown_test": None}, code="XYZ"),
    retest(
        "not_recognisable_pct",
        case(pct_prior(), tests=["PCT"]),
        {"not_recognisable": None},
        code="PCT",
    ),
    retest("no_prior", case(tests=["GLU"]), {"no_prior": None}),
    retest(
        "loinc_the_rule_set_does_not_map_cannot_confirm_the_code",
        case(prior(loinc="2350-7")),  # urine glucose, filed under the local code GLU
        {"identity_conflict": R1},
    ),
    retest(
        "partial_not_allowed_names_the_usable_component",
        case(
            prior(code="TC", loinc="2093-3", value=4.0, reference_range={"high": 5.2}),
            tests=["LIPID"],
        ),
        {"partial_not_allowed": R1, "no_prior": None},
        code="LIPID",
    ),
    # --- time
    waive("age_exactly_max_age", case(prior(**collected(SEVEN_DAYS)))),
    retest("one_second_too_old", case(prior(**collected(SEVEN_DAYS_AND_1S))), {"too_old": R1}),
    waive(
        "max_age_inclusive_across_offsets",
        case(prior(collected_at="2025-02-23T01:30:00Z", reported_at="2025-02-23T03:00:00Z")),
    ),
    waive("category_max_age_k_7d", case(k_prior(**collected(SEVEN_DAYS)), tests=["K"]), "K"),
    retest(
        "category_max_age_k_too_old",
        case(k_prior(**collected(SEVEN_DAYS_AND_1S)), tests=["K"]),
        {"too_old": R1},
        code="K",
    ),
    waive(
        "hba1c_60d_from_test_beats_category",
        case(hba1c_prior(**collected("2025-01-01T09:30:00+08:00")), tests=["HBA1C"]),
        "HBA1C",
    ),
    retest(
        "hba1c_60d_and_1s_too_old",
        case(hba1c_prior(**collected("2025-01-01T09:29:59+08:00")), tests=["HBA1C"]),
        {"too_old": R1},
        code="HBA1C",
    ),
    retest(
        "future_result_collected_after_order",
        case(prior(**collected("2025-03-02T09:31:00+08:00", "2025-03-02T10:00:00+08:00"))),
        {"future_result": R1},
    ),
    retest(
        "future_result_reported_after_order",
        case(prior(reported_at="2025-03-02T10:00:00+08:00")),
        {"future_result": R1},
    ),
    # --- conditional rules
    waive(
        "inpatient_electrolytes_24h_ok",
        case(
            k_prior(**collected("2025-03-01T09:30:00+08:00", "2025-03-01T10:00:00+08:00")),
            tests=["K"],
            context__setting="inpatient",
        ),
        "K",
    ),
    retest(
        "inpatient_electrolytes_24h_exceeded",
        case(
            k_prior(**collected("2025-03-01T09:29:00+08:00", "2025-03-01T10:00:00+08:00")),
            tests=["K"],
            context__setting="inpatient",
        ),
        {"too_old": R1},
        code="K",
    ),
    waive(
        "inpatient_rule_spares_chemistry",
        case(prior(), context__setting="inpatient"),
    ),
    waive(
        "outpatient_k_two_days_ok",
        case(
            k_prior(**collected("2025-02-28T09:30:00+08:00", "2025-02-28T10:00:00+08:00")),
            tests=["K"],
        ),
        "K",
    ),
    retest(
        "children_paediatric_exception",
        case(prior(), patient__birth_date="2011-03-03"),
        {"exception": ORDER_LEVEL},
    ),
    waive("age_band_max_is_exclusive", case(prior(), patient__birth_date="2011-03-02")),
    retest(
        "age_band_without_birth_date",
        case(prior(), patient__birth_date=DELETE),
        {"condition_undecidable": ORDER_LEVEL},
    ),
    retest(
        "on_insulin_glucose_3d",
        case(prior(), context__flags=["on_insulin"]),
        {"too_old": R1},
    ),
    retest(
        "on_insulin_on_the_ordered_item_also_tightens_the_limit",
        case(prior(), tests=[{"code": "GLU", "flags": ["on_insulin"]}]),
        {"too_old": R1},
    ),
    waive(
        "on_insulin_on_another_item_does_not_touch_glucose",
        case(prior(), tests=["GLU", {"code": "K", "flags": ["on_insulin"]}]),
    ),
    waive(
        "on_insulin_glucose_exactly_3d",
        case(
            prior(**collected("2025-02-27T09:30:00+08:00")),
            context__flags=["on_insulin"],
        ),
    ),
    waive(
        "on_insulin_spares_potassium",
        case(k_prior(), tests=["K"], context__flags=["on_insulin"]),
        "K",
    ),
    # --- specimen and method
    retest("specimen_missing", case(prior(specimen=DELETE)), {"specimen_mismatch": R1}),
    waive("specimen_chinese_name_is_an_alias", case(prior(specimen="血清"))),
    retest(
        "specimen_chinese_urine_is_still_urine",
        case(prior(specimen="尿液")),
        {"specimen_mismatch": R1},
    ),
    retest("specimen_mismatch", case(prior(specimen="urine")), {"specimen_mismatch": R1}),
    waive("specimen_case_insensitive", case(prior(specimen="SERUM"))),
    waive("tsh_baseline", case(tsh_prior(), tests=["TSH"]), "TSH"),
    retest(
        "method_missing",
        case(tsh_prior(method=DELETE), tests=["TSH"]),
        {"method_mismatch": R1},
        code="TSH",
    ),
    retest(
        "method_mismatch",
        case(tsh_prior(method="RIA"), tests=["TSH"]),
        {"method_mismatch": R1},
        code="TSH",
    ),
    waive("method_case_insensitive", case(tsh_prior(method="eclia"), tests=["TSH"]), "TSH"),
    # --- units
    waive(
        "glu_mg_dl_with_mg_dl_range",
        case(
            prior(
                value=93.7,
                unit="mg/dL",
                reference_range={"low": 70.3, "high": 109.9, "unit": "mg/dL"},
            )
        ),
    ),
    waive(
        "hba1c_ifcc_mmol_mol",
        case(
            hba1c_prior(
                value=37.0,
                unit="mmol/mol",
                reference_range={"low": 20.2, "high": 42.1, "unit": "mmol/mol"},
            ),
            tests=["HBA1C"],
        ),
        "HBA1C",
    ),
    waive(
        "alt_ukat_per_litre",
        case(
            alt_prior(
                value=0.5,
                unit="ukat/L",
                reference_range={"low": 0.15, "high": 0.83, "unit": "ukat/L"},
            ),
            tests=["ALT"],
        ),
        "ALT",
    ),
    retest("unit_garbage", case(prior(unit="furlongs")), {"unit_unknown": R1}),
    retest("unit_missing", case(prior(unit=DELETE)), {"unit_unknown": R1}),
    retest("unit_enzyme_for_glucose", case(prior(unit="U/L")), {"unit_incompatible": R1}),
    retest("unit_percent_for_glucose", case(prior(unit="%")), {"unit_incompatible": R1}),
    retest("unit_meq_never_converts", case(prior(unit="mEq/L")), {"unit_incompatible": R1}),
    retest(
        "hba1c_unit_not_in_units_list",
        case(hba1c_prior(unit="mmol/L"), tests=["HBA1C"]),
        {"unit_incompatible": R1},
        code="HBA1C",
    ),
    retest(
        "tsh_arbitrary_units_never_convert",
        case(
            tsh_prior(
                unit="[arb'U]/mL",
                reference_range={"low": 0.27, "high": 4.2, "unit": "[arb'U]/mL"},
            ),
            tests=["TSH"],
        ),
        {"unit_incompatible": R1},
        code="TSH",
    ),
    waive(
        "tsh_uiu_per_ml_is_the_same_scale_as_miu_per_l",
        case(
            tsh_prior(unit="uIU/mL", reference_range={"low": 0.27, "high": 4.2, "unit": "uIU/mL"}),
            tests=["TSH"],
        ),
        "TSH",
    ),
    retest(
        "tsh_in_international_units_per_litre_is_a_thousandfold_off",
        case(
            tsh_prior(unit="IU/L", reference_range={"low": 0.27, "high": 4.2, "unit": "IU/L"}),
            tests=["TSH"],
        ),
        # 2.0 IU/L is 2,000 mIU/L: beyond TSH's plausible limits as well
        {"reference_range_incompatible": R1, "implausible_value": R1},
        code="TSH",
    ),
    # --- reference range
    retest(
        "reference_range_absent",
        case(prior(reference_range=DELETE)),
        {"reference_range_missing": R1},
    ),
    retest(
        "reference_range_text_only",
        case(prior(reference_range={"text": "3.9-6.1 mmol/L"})),
        {"reference_range_missing": R1},
    ),
    retest(
        "reference_range_lacks_lower_bound",
        case(prior(reference_range={"high": 6.1, "unit": "mmol/L"})),
        {"reference_range_missing": R1},
    ),
    retest(
        "reference_range_too_different",
        case(prior(reference_range={"low": 3.0, "high": 7.0, "unit": "mmol/L"})),
        {"reference_range_incompatible": R1},
    ),
    waive(
        "reference_range_within_tolerance",
        case(prior(reference_range={"low": 4.1, "high": 5.9, "unit": "mmol/L"})),
    ),
    waive(
        "reference_range_unit_defaults_to_value_unit",
        case(prior(reference_range={"low": 3.9, "high": 6.1})),
    ),
    retest(
        "reference_range_unit_incompatible",
        case(prior(reference_range={"low": 3.9, "high": 6.1, "unit": "U/L"})),
        {"unit_incompatible": R1},
    ),
    waive("tbil_one_sided", case(tbil_prior(), tests=["TBIL"]), "TBIL"),
    waive(
        "tbil_prior_with_extra_lower_bound",
        case(
            tbil_prior(reference_range={"low": 0, "high": 26.0, "unit": "umol/L"}), tests=["TBIL"]
        ),
        "TBIL",
    ),
    retest(
        "tbil_upper_bound_too_different",
        case(tbil_prior(reference_range={"high": 30.0, "unit": "umol/L"}), tests=["TBIL"]),
        {"reference_range_incompatible": R1},
        code="TBIL",
    ),
    retest(
        "tbil_prior_lacks_upper_bound",
        case(tbil_prior(reference_range={"low": 0, "unit": "umol/L"}), tests=["TBIL"]),
        {"reference_range_missing": R1},
        code="TBIL",
    ),
    waive("crea_male_interval", case(crea_prior(), tests=["CREA"]), "CREA"),
    retest(
        "crea_male_interval_for_female_patient",
        case(crea_prior(), tests=["CREA"], patient__sex="female"),
        {"reference_range_incompatible": R1},
        code="CREA",
    ),
    waive(
        "crea_female_interval",
        case(
            crea_prior(reference_range={"low": 41, "high": 81, "unit": "umol/L"}),
            tests=["CREA"],
            patient__sex="female",
        ),
        "CREA",
    ),
    retest(
        "crea_sex_unknown",
        case(crea_prior(), tests=["CREA"], patient__sex="unknown"),
        {"reference_range_missing": R1},
        code="CREA",
    ),
    retest(
        "crea_sex_absent",
        case(crea_prior(), tests=["CREA"], patient__sex=DELETE),
        {"reference_range_missing": R1},
        code="CREA",
    ),
    # --- abnormal and critical values
    retest(
        "alt_abnormal_rejected",
        case(alt_prior(value=80.0), tests=["ALT"]),
        {"abnormal_value": R1},
        code="ALT",
    ),
    retest(
        "alt_abnormal_for_female_interval",
        case(
            alt_prior(value=45.0, reference_range={"low": 7, "high": 40, "unit": "U/L"}),
            tests=["ALT"],
            patient__sex="female",
        ),
        {"abnormal_value": R1},
        code="ALT",
    ),
    waive("glu_abnormal_allowed", case(prior(value=7.5))),
    retest(
        "k_critical",
        case(k_prior(value=7.0), tests=["K"]),
        {"critical_value": R1},
        code="K",
    ),
    retest("glu_critical_high_inclusive", case(prior(value=25.0)), {"critical_value": R1}),
    retest("glu_critical_low_inclusive", case(prior(value=2.8)), {"critical_value": R1}),
    retest(
        "glu_critical_after_conversion",
        case(
            prior(
                value=500.0,
                unit="mg/dL",
                reference_range={"low": 70.3, "high": 109.9, "unit": "mg/dL"},
            )
        ),
        {"critical_value": R1},
    ),
    # --- institution
    retest(
        "institution_level_from_registry",
        case(prior(institution={"id": "CLINIC7"})),
        {"institution_level": R1},
    ),
    retest(
        "registry_level_beats_claimed_level",
        case(prior(institution={"id": "CLINIC7", "level": 3, "region": "620103"})),
        {"institution_level": R1},
    ),
    retest(
        "institution_level_unknown",
        case(prior(institution={"id": "ZZZ", "region": "621226"})),
        {"institution_level": R1},
    ),
    waive(
        "unlisted_institution_claims_used",
        case(prior(institution={"id": "ZZZ", "region": "620105", "level": 3})),
    ),
    retest(
        "institution_region_outside",
        case(prior(institution={"id": "ZZZ", "region": "110101", "level": 3}, mark="全国HR")),
        {"institution_region": R1},
    ),
    retest(
        "institution_region_unknown",
        case(prior(institution={"id": "ZZZ", "level": 3}, mark="全国HR")),
        {"institution_region": R1},
    ),
    waive(
        "registry_region_beats_claimed_region",
        case(prior(institution={"id": "LXRM", "region": "110101", "level": 3})),
    ),
    retest(
        "ordering_region_unknown_mark_cannot_cover",
        case(prior(), institution__id="NOT-LISTED", institution__region=DELETE),
        {"institution_region": R1, "quality_not_assured": R1},
    ),
    # The case leaves the region out; the rule set's registry entry for LZU2 says it.
    waive("ordering_region_from_the_registry", case(prior(), institution__region=DELETE)),
    waive(
        "qinghai_by_agreement_with_national_mark",
        case(prior(institution={"id": "ZZZ", "region": "630100", "level": 3}, mark="全国HR")),
    ),
    waive("city_mark_covers_ordering_city", case(prior(mark="兰州HR"))),
    retest(
        "city_mark_does_not_cover_ordering_region",
        case(prior(mark="兰州HR"), institution__region="621201"),
        {"institution_region": R1, "quality_not_assured": R1},
    ),
    retest(
        "province_mark_from_other_province",
        case(prior(institution={"id": "ZZZ", "region": "630100", "level": 3}, mark="本省HR")),
        {"institution_region": R1, "quality_not_assured": R1},
    ),
    retest(
        "withdrawn_tsh_even_with_national_mark",
        case(tsh_prior(institution={"id": "GSPH"}, mark="全国HR"), tests=["TSH"]),
        {"quality_not_assured": R1},
        code="TSH",
    ),
    waive(
        "withdrawal_is_per_item",
        case(prior(institution={"id": "GSPH"}, mark="全国HR")),
    ),
    retest(
        "registry_entry_expired",
        case(prior(institution={"id": "XNCH"}, mark="全国HR")),
        {"quality_not_assured": R1},
    ),
    waive(
        "registry_entry_still_valid",
        case(
            prior(
                institution={"id": "XNCH"},
                mark="全国HR",
                **collected("2024-12-29T08:00:00+08:00", "2024-12-29T10:00:00+08:00"),
            ),
            ordered_at="2024-12-31T09:00:00+08:00",
        ),
    ),
    retest(
        "no_mark_not_registry_passed",
        case(prior(mark=DELETE)),
        {"mark_missing": R1, "quality_not_assured": R1},
    ),
    retest(
        "blank_mark",
        case(prior(mark="  ")),
        {"mark_missing": R1, "quality_not_assured": R1},
    ),
    retest(
        "no_mark_but_registry_passed",
        case(prior(institution={"id": "GSPH"}, mark=DELETE)),
        {"mark_missing": R1},
    ),
    retest(
        "unknown_mark_string",
        case(prior(mark="市级HR")),
        {"mark_missing": R1, "quality_not_assured": R1},
    ),
    waive("bracketed_mark", case(prior(mark="【全国HR】"))),
    waive("square_bracketed_mark", case(prior(mark="[本省HR]"))),
    # --- authorisation, status, exceptions
    retest(
        "authorization_not_granted",
        case(prior(), authorization__granted=False),
        {"no_authorization": ORDER_LEVEL},
    ),
    retest(
        "authorization_absent",
        case(prior(), authorization=DELETE),
        {"no_authorization": ORDER_LEVEL},
    ),
    retest("status_preliminary", case(prior(status="preliminary")), {"result_status": R1}),
    retest("status_cancelled", case(prior(status="cancelled")), {"result_status": R1}),
    retest(
        "status_entered_in_error",
        case(prior(status="entered-in-error")),
        {"result_status": R1},
    ),
    retest("status_registered", case(prior(status="registered")), {"result_status": R1}),
    waive("status_amended", case(prior(status="amended"))),
    waive("status_corrected", case(prior(status="corrected"))),
    waive("status_default_final", case(prior(status=DELETE))),
    retest(
        "exception_context_flag",
        case(prior(), context__flags=["emergency"]),
        {"exception": ORDER_LEVEL},
    ),
    retest(
        "exception_item_flag",
        case(prior(), tests=[{"code": "GLU", "flags": ["patient_request"]}]),
        {"exception": ORDER_LEVEL},
    ),
    # --- identity
    waive("prior_via_alias", case(prior(code="FBG", loinc=DELETE))),
    waive("prior_via_loinc_only", case(prior(code=DELETE, loinc="14749-6"))),
    waive("unknown_code_with_known_loinc", case(prior(code="LOCAL-99"))),
    retest(
        "unknown_code_without_loinc_ignored",
        case(prior(code="LOCAL-99", loinc=DELETE)),
        {"no_prior": None},
    ),
    retest(
        "never_matched_by_display_name",
        case(prior(code="Glucose", loinc=DELETE)),
        {"no_prior": None},
    ),
    retest(
        "identity_conflict_code_vs_loinc",
        case(prior(loinc="2823-3")),
        {"identity_conflict": R1},
    ),
    # --- values
    retest("value_missing", case(prior(value=DELETE)), {"value_unrecognised": R1}),
    retest(
        "quantitative_with_text_only",
        case(prior(value=DELETE, value_text="5.2")),
        {"value_unrecognised": R1},
    ),
    waive("hbsag_negative", case(hbsag_prior(), tests=["HBSAG"]), "HBSAG"),
    waive("hbsag_chinese_negative", case(hbsag_prior(value_text="阴性"), tests=["HBSAG"]), "HBSAG"),
    waive(
        "hbsag_text_case_and_space",
        case(hbsag_prior(value_text=" Negative "), tests=["HBSAG"]),
        "HBSAG",
    ),
    retest(
        "hbsag_positive",
        case(hbsag_prior(value_text="positive"), tests=["HBSAG"]),
        {"abnormal_value": R1},
        code="HBSAG",
    ),
    retest(
        "hbsag_unknown_text",
        case(hbsag_prior(value_text="weakly reactive"), tests=["HBSAG"]),
        {"value_unrecognised": R1},
        code="HBSAG",
    ),
    retest(
        "hbsag_without_text",
        case(hbsag_prior(value_text=DELETE), tests=["HBSAG"]),
        {"value_unrecognised": R1},
        code="HBSAG",
    ),
    # --- selection
    waive(
        "superseded_by_fresher",
        case(
            prior(id="R-A"),
            prior(id="R-B", **collected("2025-02-28T08:00:00+08:00", "2025-02-28T09:00:00+08:00")),
        ),
        result_id="R-B",
        reasons={"superseded": "R-A"},
    ),
    waive(
        "fresher_ineligible_is_explained",
        case(
            prior(id="R-A"),
            prior(
                id="R-B",
                status="preliminary",
                **collected("2025-02-28T08:00:00+08:00", "2025-02-28T09:00:00+08:00"),
            ),
        ),
        result_id="R-A",
        reasons={"result_status": "R-B"},
    ),
    retest(
        "newer_critical_overrides_older",
        case(
            k_prior(id="R-A"),
            k_prior(
                id="R-B",
                value=6.9,
                **collected("2025-02-28T08:00:00+08:00", "2025-02-28T09:00:00+08:00"),
            ),
            tests=["K"],
        ),
        {"newer_result_conflicts": "R-A", "critical_value": "R-B"},
        code="K",
    ),
    retest("implausible_negative", case(prior(value=-5.2)), {"implausible_value": R1}),
    waive(
        "newer_unmapped_is_named",
        case(
            prior(id="R-A"),
            prior(
                id="R-X",
                code="ZZZ",
                loinc=DELETE,
                **collected("2025-02-28T08:00:00+08:00", "2025-02-28T09:00:00+08:00"),
            ),
        ),
        result_id="R-A",
        reasons={"unmapped_result": "R-X"},
    ),
    waive(
        "duplicate_order_second_line",
        case(prior(), tests=["GLU", "GLU"]),
        index=1,
        reasons={"duplicate_order": None},
    ),
    # An adapter could not read a newer GLU result (issue 11): no waiver on R-1.
    retest(
        "unreadable_newer_result",
        case(
            prior(),
            unreadable_results=[
                {
                    "id": "U-1",
                    "loinc": "2345-7",
                    "collected_at": "2025-03-01T08:00:00+08:00",
                    "problems": [{"path": "entry[9].resource.performer", "message": "none"}],
                }
            ],
        ),
        {"unreadable_result": "U-1"},
    ),
]


def _entry(row: Row) -> dict[str, Any]:
    decision = decide(row.data)
    if row.index is not None:
        return dict(decision["items"][row.index])
    return item(row.data, row.code)


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_decision_row(row: Row) -> None:
    entry = _entry(row)
    assert entry["status"] == row.status
    assert reason_codes(entry) == set(row.reasons)
    for reason in entry["reasons"]:
        assert reason.get("result_id") == row.reasons[reason["code"]], reason
        assert reason["message"].strip(), reason
    if row.status == "waive":
        assert entry["result_id"] == row.result_id
    else:
        assert "result_id" not in entry
        assert entry["saving"] == "0.00"


def test_table_covers_every_reason_code() -> None:
    produced = {code for row in ROWS for code in row.reasons}
    assert produced == set(REASON_CODES)


def test_every_reason_code_has_messages_in_both_languages() -> None:
    prefixes = {key.split(".", 1)[0] for key in MESSAGES}
    assert prefixes == set(REASON_CODES)
    for key, (en, zh) in MESSAGES.items():
        assert en.strip() and zh.strip(), key


# --------------------------------------------------------------------------- details


def test_too_old_carries_max_age_source() -> None:
    glu = item(case(prior(**collected(SEVEN_DAYS_AND_1S))))
    assert glu["reasons"][0]["source"] == "assumed"
    k = item(case(k_prior(**collected(SEVEN_DAYS_AND_1S)), tests=["K"]), "K")
    assert k["reasons"][0]["source"] == "Hubei list (鄂卫通〔2023〕56号)"
    inpatient = item(
        case(
            k_prior(**collected("2025-03-01T09:29:00+08:00", "2025-03-01T10:00:00+08:00")),
            tests=["K"],
            context__setting="inpatient",
        ),
        "K",
    )
    assert inpatient["reasons"][0]["source"] == "assumed local committee 2025-03"
    assert inpatient["reasons"][0]["message"] == (
        "collected 1d 1min before the order; results older than 1d are not recognised"
    )


def test_too_old_under_condition_carries_the_condition_source() -> None:
    entry = item(case(prior(), context__flags=["on_insulin"]))
    assert entry["reasons"][0]["code"] == "too_old"
    assert entry["reasons"][0].get("source") == "assumed"


def test_exception_reason_names_the_flag() -> None:
    emergency = item(case(prior(), context__flags=["emergency"]))
    (reason,) = emergency["reasons"]
    assert reason["flag"] == "emergency"
    assert reason["source"] == "NHC press conference, 6 situations"
    assert reason["message"] == "re-test required: emergency or resuscitation"
    child = item(case(prior(), patient__birth_date="2015-06-01"))
    (reason,) = child["reasons"]
    assert reason["flag"] == "paediatric"
    assert "children" in reason["message"]


def test_condition_undecidable_names_the_missing_datum() -> None:
    entry = item(case(prior(), patient__birth_date=DELETE))
    (reason,) = entry["reasons"]
    assert "patient.birth_date" in reason["message"]
    assert "children" in reason["message"]


def test_undecidable_age_band_applies_to_every_test() -> None:
    data = case(prior(), k_prior(id="R-2"), tests=["GLU", "K"], patient__birth_date=DELETE)
    for entry in decide(data)["items"]:
        assert entry["status"] == "retest"
        assert reason_codes(entry) == {"condition_undecidable"}


def test_identity_conflict_is_used_for_neither_test() -> None:
    data = case(prior(loinc="2823-3"), tests=["GLU", "K"])
    for code in ("GLU", "K"):
        entry = item(data, code)
        assert entry["status"] == "retest"
        assert "identity_conflict" in reason_codes(entry)


def test_every_candidate_is_explained() -> None:
    data = case(
        prior(id="R-OLD", **collected("2025-01-01T08:00:00+08:00", "2025-01-01T10:00:00+08:00")),
        prior(id="R-PRE", status="preliminary"),
        prior(id="R-URINE", specimen="urine"),
    )
    entry = item(data)
    assert entry["status"] == "retest"
    by_id = {(r["code"], r["result_id"]) for r in entry["reasons"]}
    assert by_id == {
        ("too_old", "R-OLD"),
        ("result_status", "R-PRE"),
        ("specimen_mismatch", "R-URINE"),
    }


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (
            {"reported_at": "2025-02-27T12:00:00+08:00"},
            {"reported_at": "2025-02-27T11:00:00+08:00"},
        ),
        ({}, {}),
    ],
    ids=["tie_broken_by_reported_at", "tie_broken_by_id"],
)
def test_ties_are_broken_deterministically(first: dict[str, Any], second: dict[str, Any]) -> None:
    a = prior(id="R-A", **first)
    b = prior(id="R-B", **second)
    expected_used = "R-A" if first else "R-B"
    expected_superseded = "R-B" if first else "R-A"
    for data in (case(a, b), case(b, a)):
        entry = item(data)
        assert entry["status"] == "waive"
        assert entry["result_id"] == expected_used
        assert entry["reasons"][0]["code"] == "superseded"
        assert entry["reasons"][0]["result_id"] == expected_superseded


def test_input_order_of_priors_does_not_matter() -> None:
    priors = [
        prior(id="R-A"),
        prior(id="R-B", status="cancelled"),
        prior(id="R-C", **collected("2025-02-28T08:00:00+08:00", "2025-02-28T09:00:00+08:00")),
        k_prior(id="R-K"),
    ]
    first = orjson.dumps(decide(case(*priors, tests=["GLU", "K"])))
    second = orjson.dumps(decide(case(*reversed(priors), tests=["GLU", "K"])))
    assert first == second


def test_unshared_result_never_appears() -> None:
    hidden = prior(id="R-HIDDEN", shared=False)
    alone = decide(case(hidden))
    assert alone["items"][0]["status"] == "retest"
    assert reason_codes(alone["items"][0]) == {"no_prior"}
    assert b"R-HIDDEN" not in orjson.dumps(alone)
    # Even a fresher, otherwise rejected unshared result leaves no trace beside a waiver.
    fresher = prior(
        id="R-HIDDEN",
        shared=False,
        status="preliminary",
        **collected("2025-02-28T08:00:00+08:00", "2025-02-28T09:00:00+08:00"),
    )
    mixed = decide(case(prior(id="R-SHOWN"), fresher, tests=["GLU", "LFT"]))
    assert mixed["items"][0]["status"] == "waive"
    assert mixed["items"][0]["result_id"] == "R-SHOWN"
    assert mixed["items"][0]["reasons"] == []
    assert b"R-HIDDEN" not in orjson.dumps(mixed)


def test_unshared_result_is_not_used_even_if_eligible() -> None:
    entry = item(case(prior(shared=False)))
    assert entry["status"] == "retest"
    assert reason_codes(entry) == {"no_prior"}


def test_blockers_skip_candidate_checks() -> None:
    # An exception answers for the item: candidate reasons would only add noise.
    entry = item(case(prior(status="cancelled"), context__flags=["emergency"]))
    assert reason_codes(entry) == {"exception"}


def test_hba1c_not_accepted_message_lists_the_units_list() -> None:
    entry = item(case(hba1c_prior(unit="mmol/L"), tests=["HBA1C"]), "HBA1C")
    (reason,) = entry["reasons"]
    assert reason["message"].startswith("unit mmol/L is not among the units")


def test_not_accepted_message_lists_only_the_accepted_units() -> None:
    engine = Engine.from_path(DEMO)
    entry = item(case(hba1c_prior(unit="g/L"), tests=["HBA1C"]), "HBA1C", engine)
    assert entry["reasons"][0]["message"].endswith("(%, mmol/mol)")
    entry = item(case(hba1c_prior(unit="mmol/L"), tests=["HBA1C"]), "HBA1C", engine)
    assert entry["reasons"][0]["message"] == (
        "unit mmol/L is not among the units the rule set accepts for Haemoglobin A1c (%, mmol/mol)"
    )


def test_decision_does_not_depend_on_earlier_cases() -> None:
    data = case(hba1c_prior(unit="mmol/L"), tests=["HBA1C"])
    fresh = orjson.dumps(decide(data, Engine.from_path(DEMO)))
    used = Engine.from_path(DEMO)
    decide(case(hba1c_prior(unit="g/L"), tests=["HBA1C"]), used)
    assert orjson.dumps(decide(data, used)) == fresh


def test_omitted_setting_does_not_loosen_the_inpatient_rule() -> None:
    two_days = k_prior(**collected("2025-02-28T09:30:00+08:00", "2025-02-28T10:00:00+08:00"))
    for data in (
        case(two_days, tests=["K"], context=DELETE),
        case(two_days, tests=["K"], context__setting=DELETE),
    ):
        try:
            entry = item(data, "K")
        except InputError as exc:
            assert exc.path in ("context", "context.setting")
            continue
        assert entry["status"] == "retest"
        assert reason_codes(entry) == {"condition_undecidable"}


def test_registry_expiry_is_judged_in_the_rule_set_timezone() -> None:
    xnch = prior(
        institution={"id": "XNCH"},
        mark="全国HR",
        **collected("2024-12-30T08:00:00+08:00", "2024-12-30T10:00:00+08:00"),
    )
    local = item(case(xnch, ordered_at="2025-01-01T01:00:00+08:00"))
    utc = item(case(xnch, ordered_at="2024-12-31T17:00:00Z"))  # the same instant
    assert local["status"] == "retest"
    assert reason_codes(local) == {"quality_not_assured"}
    assert utc == local


def test_patient_age_is_judged_in_the_rule_set_timezone() -> None:
    child = {"patient__birth_date": "2011-03-02"}
    local = item(case(prior(), ordered_at="2025-03-01T23:30:00+08:00", **child))
    tokyo = item(case(prior(), ordered_at="2025-03-02T00:30:00+09:00", **child))
    assert local["status"] == "retest"
    assert reason_codes(local) == {"exception"}
    assert tokyo == local


# --------------------------------------------------------------------------- messages


@pytest.fixture(scope="module")
def zh_engine() -> Engine:
    return Engine.from_path(DEMO, lang="zh")


def test_chinese_messages(zh_engine: Engine) -> None:
    assert zh_engine.lang == "zh"
    old = item(case(prior(**collected(SEVEN_DAYS_AND_1S))), engine=zh_engine)
    assert old["reasons"][0]["message"] == "采集于开单前 7天1秒，超过互认时效 7天"
    none = item(case(tests=["GLU"]), engine=zh_engine)
    assert none["reasons"][0]["message"] == "该患者没有可用的 葡萄糖 既往结果"
    emergency = item(case(prior(), context__flags=["emergency"]), engine=zh_engine)
    assert emergency["reasons"][0]["message"] == "需重新检查：急危重症抢救"


def test_language_can_be_chosen_per_call() -> None:
    decision = demo_engine().evaluate(case(tests=["GLU"]), lang="zh")
    assert decision.items[0].reasons[0].message == "该患者没有可用的 葡萄糖 既往结果"
    # The engine's own language is unchanged.
    assert item(case(tests=["GLU"]))["reasons"][0]["message"].startswith("no prior result")


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_produced_reason_has_a_message(lang: str) -> None:
    engine = Engine.from_path(DEMO, lang=lang)  # type: ignore[arg-type]
    seen: set[str] = set()
    for row in ROWS:
        for entry in engine.evaluate(row.data).model_dump(mode="json")["items"]:
            for reason in entry["reasons"]:
                assert reason["message"].strip(), (row.id, reason)
                assert "{" not in reason["message"], (row.id, reason)
                seen.add(reason["code"])
    assert seen == set(REASON_CODES)

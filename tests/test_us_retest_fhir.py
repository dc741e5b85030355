"""rules/us-retest on US-shaped FHIR feeds (issue 17): Synthea-style Bundles of patients
re-ordering their own recent tests, read with ``labrecog.fhir.read_bundle`` and decided.

The Bundles are written by ``tests/fixtures/fhir-us/make_bundles.py`` (its STORIES say what
each is about); every Bundle's decision is pinned below, item by item: status, the exact
set of reason codes and the saving, the components a partial waiver leaves to order, and
that each waiver names an Observation of the Bundle. ``bench/us_corpus.py`` prints the
corpus counts these add up to.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from collections import Counter
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from labrecog import Engine
from labrecog.fhir import read_bundle

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "fhir-us"
RULES = ROOT / "rules" / "us-retest"


def _load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    return module


make = _load("fhir_us_make_bundles", FIXTURES / "make_bundles.py")
corpus = _load("bench_us_corpus", ROOT / "bench" / "us_corpus.py")

NONE: frozenset[str] = frozenset()
Item = tuple[str, str, frozenset[str], str]


def _i(code: str, status: str, reasons: set[str] | frozenset[str], saving: str) -> Item:
    return code, status, frozenset(reasons), saving


# Bundle number (line of bundles.ndjson) -> its items in order: code as ordered, status,
# the exact reason codes, saving (USD).
EXPECTED: dict[int, list[Item]] = {
    1: [_i("80048", "waive", NONE, "8.45")],
    2: [_i("BMP", "partial", {"specimen_mismatch"}, "0.00")],
    3: [_i("80048", "retest", {"too_old"}, "0.00")],
    4: [_i("CMP", "waive", NONE, "10.56")],
    5: [_i("80053", "partial", {"result_status"}, "5.35")],
    6: [_i("CBC", "waive", NONE, "8.55")],
    7: [_i("85025", "retest", {"no_prior", "partial_not_allowed"}, "0.00")],
    8: [_i("CBCD", "waive", NONE, "10.69")],
    9: [_i("LIPID", "waive", NONE, "17.45")],
    10: [_i("80061", "retest", {"too_old"}, "0.00")],
    11: [_i("HBA1C", "waive", NONE, "13.42")],
    12: [_i("83036", "retest", {"too_old"}, "0.00")],
    13: [_i("HBA1C", "retest", {"too_old"}, "0.00")],
    14: [_i("TSH", "waive", {"unmapped_result"}, "16.80")],
    15: [_i("84443", "retest", {"too_old"}, "0.00")],
    16: [_i("BMP", "waive", NONE, "8.45")],
    17: [_i("80048", "retest", {"too_old"}, "0.00")],
    18: [_i("K", "retest", {"critical_value"}, "0.00")],
    19: [_i("GLU", "retest", {"specimen_mismatch", "newer_result_conflicts"}, "0.00")],
    20: [
        _i("BMP", "retest", {"no_prior"}, "0.00"),
        _i("CBC", "retest", {"no_prior"}, "0.00"),
        _i("TSH", "retest", {"no_prior"}, "0.00"),
    ],
    21: [
        _i("80053", "retest", {"too_old"}, "0.00"),
        _i("85027", "retest", {"too_old"}, "0.00"),
        _i("80061", "retest", {"too_old"}, "0.00"),
        _i("83036", "retest", {"too_old"}, "0.00"),
    ],
    22: [_i("84132", "retest", {"exception"}, "0.00"), _i("TSH", "waive", NONE, "16.80")],
    23: [_i("10839-9", "retest", {"unknown_test"}, "0.00"), _i("BMP", "waive", NONE, "8.45")],
    24: [_i("HBA1C", "waive", NONE, "13.42")],
    25: [
        _i("GLU", "waive", NONE, "3.93"),
        _i("84295", "waive", NONE, "4.79"),
        _i("WBC", "waive", NONE, "2.16"),
        _i("84460", "waive", NONE, "5.21"),
    ],
    26: [_i("GLU", "waive", NONE, "3.93")],
    27: [_i("CREA", "retest", {"implausible_value"}, "0.00")],
    28: [_i("CMP", "waive", NONE, "10.56"), _i("CBC", "waive", NONE, "8.55")],
    29: [_i("HBA1C", "retest", {"result_status"}, "0.00")],
    30: [_i("CMP", "partial", {"no_prior"}, "0.00")],
    31: [_i("CBC", "retest", {"future_result"}, "0.00")],
    32: [_i("TSH", "retest", {"no_prior"}, "0.00")],
    33: [_i("LIPID", "waive", NONE, "17.45")],
    34: [_i("85027", "waive", NONE, "8.55")],
    35: [_i("HBA1C", "waive", NONE, "13.42")],
    36: [_i("84295", "waive", NONE, "4.79")],
    37: [_i("84132", "retest", {"specimen_mismatch"}, "0.00")],
    38: [_i("TSH", "waive", NONE, "16.80")],
    39: [_i("HB", "retest", {"result_status", "newer_result_conflicts"}, "0.00")],
    40: [_i("BMP", "waive", NONE, "8.45"), _i("85027", "waive", NONE, "8.55")],
    41: [
        _i("BMP", "retest", {"specimen_mismatch", "too_old"}, "0.00"),
        _i("CBC", "retest", {"too_old"}, "0.00"),
        _i("LIPID", "waive", NONE, "17.45"),
    ],
    42: [_i("CBC", "waive", NONE, "8.55")],
}

# Partial waivers: what is left to order.
LEFT_TO_ORDER = {
    2: {"GLU", "K", "CREA", "CA"},  # whole-blood codes refused for these four
    5: {"ALT"},  # its earlier ALT is preliminary
    30: {"ALB", "TP", "ALT", "AST", "ALP", "TBIL"},  # a BMP does not cover the CMP's rest
}


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.from_path(RULES)


@pytest.fixture(scope="module")
def bundles() -> list[dict[str, Any]]:
    lines = (FIXTURES / "bundles.ndjson").read_text("utf-8").splitlines()
    return [json.loads(line) for line in lines]


def test_bundles_are_current() -> None:
    committed = (FIXTURES / "bundles.ndjson").read_bytes()
    assert committed == make.payload(), "run python tests/fixtures/fhir-us/make_bundles.py"
    assert len(make.STORIES) == len(EXPECTED)


@pytest.mark.parametrize("number", sorted(EXPECTED))
def test_each_bundle_decides_as_its_story_says(
    number: int, engine: Engine, bundles: list[dict[str, Any]]
) -> None:
    bundle = bundles[number - 1]
    fhir_case = read_bundle(bundle, engine)
    decision = engine.evaluate(fhir_case.case)
    story = make.story_names()[number - 1]
    got = [
        (item.code, item.status, frozenset(r.code for r in item.reasons), item.saving)
        for item in decision.items
    ]
    assert got == EXPECTED[number], story
    assert fhir_case.case.order_id == f"REQ-US-{number:03d}"
    assert len(fhir_case.requests) == len(decision.items)
    for item in decision.items:
        if item.status == "waive" and item.result_id is not None:
            assert fhir_case.observations[item.result_id].startswith("Observation/")
        if item.status == "partial":
            assert set(item.retest or ()) == LEFT_TO_ORDER[number], story
            for component in item.waived or ():
                assert component.result_id in fhir_case.observations


def test_bundles_are_shaped_like_us_feeds(bundles: list[dict[str, Any]]) -> None:
    """No performer, specimen or referenceRange on any Observation; Encounters carry the
    serviceProvider; LOINC under both spellings; date-only times; vitals mixed in; orders in
    LOINC and CPT; AMB, IMP and EMER encounters; transaction and collection Bundles."""
    systems: Counter[str] = Counter()
    categories: Counter[str] = Counter()
    classes: Counter[str] = Counter()
    order_systems: Counter[str] = Counter()
    date_only = 0
    for bundle in bundles:
        for entry in bundle["entry"]:
            res = entry["resource"]
            kind = res["resourceType"]
            if kind == "Observation":
                assert not {"performer", "specimen", "referenceRange"} & set(res), res["id"]
                categories.update(c["coding"][0]["code"] for c in res["category"])
                systems.update(c["system"] for c in res["code"]["coding"])
                date_only += len(res["effectiveDateTime"]) == 10
            elif kind == "Encounter":
                assert "serviceProvider" in res
                classes[res["class"]["code"]] += 1
            elif kind == "ServiceRequest":
                assert res["status"] == "draft"
                order_systems.update(c["system"] for c in res["code"]["coding"])
    assert {make.LOINC, make.LOINC_OID} <= set(systems)
    assert {"laboratory", "vital-signs", "social-history"} <= set(categories)
    assert {"AMB", "IMP", "EMER"} <= set(classes)
    assert {make.LOINC, make.CPT} <= set(order_systems)
    assert date_only >= 20
    assert {b["type"] for b in bundles} == {"transaction", "collection"}
    assert 30 <= len(bundles) <= 50


def test_bundles_are_valid_fhir_r4(bundles: list[dict[str, Any]]) -> None:
    r4b = pytest.importorskip("fhir.resources.R4B.bundle")
    for bundle in bundles:
        r4b.Bundle.model_validate(bundle)


def test_corpus_counts() -> None:
    """The figures bench/us_corpus.py prints add up to the table above."""
    counts = corpus.corpus_counts(FIXTURES / "bundles.ndjson", RULES)
    items = [item for entries in EXPECTED.values() for item in entries]
    assert counts.bundles == len(EXPECTED) and counts.errors == []
    assert counts.items == len(items)
    assert counts.status == Counter(status for _, status, _, _ in items)
    assert counts.waivers == sum(status == "waive" for _, status, _, _ in items)
    assert counts.saving == sum(Decimal(saving) for *_, saving in items)
    assert counts.reasons == Counter(code for _, _, reasons, _ in items for code in reasons)
    # Neither other shipped rule set waives anything on these feeds (the finding).
    for other in ("uk-mri", "cn-reference"):
        elsewhere = corpus.corpus_counts(FIXTURES / "bundles.ndjson", ROOT / "rules" / other)
        assert elsewhere.waivers == 0 and elsewhere.status["partial"] == 0, other

"""The generated example batches (examples/*.jsonl.gz): current, deterministic, realistic.

A stale batch fails here: the committed file must hold exactly the cases that
``examples/generate.py`` makes today from the rule set it was generated for (regenerate
with ``python examples/generate.py --shipped``). The realism checks say what the batches
are for: every line is decided, every outcome and many reasons occur, results come from
several labs, and each rule set's own situations appear (UK children, Chinese registry).
"""

from __future__ import annotations

import gzip
import importlib.util
import sys
from collections import Counter
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from labrecog import Engine

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
MAX_BYTES = 1_500_000
# Distinct reason codes each batch must produce. uk-mri and us-retest cannot produce the
# institution, mark, authorisation and qualitative-value codes: their rule sets do not
# check them.
MIN_REASONS = {"cn-reference.jsonl.gz": 20, "uk-mri.jsonl.gz": 14, "us-retest.jsonl.gz": 14}
# Units other than the test's own that each batch's labs report in (a sample).
OTHER_UNITS = {
    "cn-reference.jsonl.gz": {"mg/dL", "μkat/L"},
    "uk-mri.jsonl.gz": {"mg/dL", "μkat/L"},
    "us-retest.jsonl.gz": {"MG/DL", "mg/dl", "K/uL", "M/uL", "x10E3/uL", "IU/L", "mEq/L", "mmol/L"},
}


def _load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("examples_generate", EXAMPLES / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    return module


gen = _load_generator()


@dataclass
class Batch:
    name: str
    rules: Path
    engine: Engine
    committed: bytes
    payload: bytes  # regenerated now
    summary: Any  # generate.Summary of the regenerated batch, with every decision kept


@pytest.fixture(scope="module", params=sorted(gen.SHIPPED))
def batch(request: pytest.FixtureRequest) -> Batch:
    name: str = request.param
    shipped = gen.SHIPPED[name]
    path = EXAMPLES / name
    assert path.is_file(), f"{path} is missing: python examples/generate.py --shipped"
    rules = ROOT / shipped.rules
    engine = Engine.from_path(rules)
    payload = gen.generate(rules, shipped.cases, shipped.seed, engine)
    summary = gen.summarise(engine, payload, keep=True)
    return Batch(name, rules, engine, path.read_bytes(), payload, summary)


# --------------------------------------------------------------------------- current


def test_committed_batch_is_current(batch: Batch) -> None:
    assert batch.committed[:2] == b"\x1f\x8b", "not gzip"
    committed = gzip.decompress(batch.committed)
    if committed != batch.payload:
        old, new = committed.splitlines(), batch.payload.splitlines()
        first = next(
            (i for i, (a, b) in enumerate(zip(old, new, strict=False), 1) if a != b),
            min(len(old), len(new)) + 1,
        )
        pytest.fail(
            f"examples/{batch.name} is stale (the rule set or the generator changed; first "
            f"difference on line {first}): run python examples/generate.py --shipped"
        )
    # The gzip wrapper carries no time and no file name: the compressed bytes are the same
    # wherever the same zlib runs (another zlib build may compress the same lines otherwise,
    # which is why the lines, not the compressed bytes, are compared above).
    assert batch.committed[3] == 0, "gzip header has a file name or other optional fields"
    assert batch.committed[4:8] == b"\0\0\0\0", "gzip header has a modification time"
    assert len(batch.committed) < MAX_BYTES


def test_generator_is_deterministic_and_seeded() -> None:
    rules = ROOT / gen.SHIPPED["cn-reference.jsonl.gz"].rules
    engine = Engine.from_path(rules)
    first = gen.generate(rules, 40, 7, engine)
    assert gen.generate(rules, 40, 7, engine) == first
    assert gen.generate(rules, 40, 8, engine) != first
    packed = gen.compress(first)
    assert gzip.decompress(packed) == first
    # No time and no file name in the header: compress() gives the same bytes on every run.
    assert packed[3] == 0, "gzip header has a file name or other optional fields"
    assert packed[4:8] == b"\0\0\0\0", "gzip header has a modification time"
    assert first.count(b"\n") == 40


# --------------------------------------------------------------------------- realistic


def test_every_line_is_decided(batch: Batch) -> None:
    s = batch.summary
    assert s.cases == gen.SHIPPED[batch.name].cases
    assert s.errors == 0, f"error records on lines {s.error_lines[:10]}"


def test_outcome_mix(batch: Batch) -> None:
    s = batch.summary
    share = {k: s.status[k] / s.items for k in ("waive", "partial", "retest")}
    assert share["waive"] >= 0.12, share
    assert share["partial"] >= 0.03, share
    assert share["retest"] >= 0.35, share
    assert s.panel_status["waive"] and s.panel_status["partial"] and s.panel_status["retest"]
    assert s.saving > 0


def test_reason_codes_are_spread(batch: Batch) -> None:
    reasons = batch.summary.reasons
    assert len(reasons) >= MIN_REASONS[batch.name], sorted(reasons)
    for common in ("too_old", "no_prior", "superseded", "exception", "result_status"):
        assert reasons[common] >= 20, (common, reasons[common])
    for rare in ("future_result", "specimen_mismatch", "identity_conflict", "unknown_test"):
        assert reasons[rare] >= 1, rare


def test_results_come_from_several_labs(batch: Batch) -> None:
    s = batch.summary
    registry = set(batch.engine.rules.institutions)
    assert len(s.labs) >= 3
    assert set(s.labs) & registry, "no results from registry labs"
    assert set(s.labs) - registry, "no results from labs outside the registry"
    assert 5 <= s.priors / s.cases <= 25


def test_the_rule_set_is_covered(batch: Batch) -> None:
    """Every test and panel of the rule set (whatever it holds today) is ordered somewhere,
    and every test has prior results: the generator reads the catalogue, it does not copy it."""
    rules = batch.engine.rules
    ordered: set[str] = set()
    reported: set[str] = set()
    for case, _ in batch.summary.kept:
        ordered.update(rules.order_codes.get(t["code"], t["code"]) for t in case["tests"])
        for p in case["prior_results"]:
            code = p.get("code")
            reported.add(rules.result_codes.get(code, "") if code else rules.loinc[p["loinc"]])
    assert set(rules.panels) <= ordered, sorted(set(rules.panels) - ordered)
    assert set(rules.tests) <= ordered, sorted(set(rules.tests) - ordered)
    assert set(rules.tests) <= reported, sorted(set(rules.tests) - reported)


def test_results_vary_as_real_feeds_do(batch: Batch) -> None:
    rules = batch.engine.rules
    units: Counter[str] = Counter()
    statuses: Counter[str] = Counter()
    unshared = naive = no_range = 0
    for case, _ in batch.summary.kept:
        naive += "+" not in case["ordered_at"] and "Z" not in case["ordered_at"]
        for p in case["prior_results"]:
            statuses[p.get("status", "final")] += 1
            unshared += p.get("shared") is False
            if "value" in p:
                test = (
                    rules.tests[rules.result_codes.get(p.get("code", ""), "")]
                    if p.get("code") in rules.result_codes
                    else None
                )
                if test is not None and p["unit"] != test.unit:
                    units[p["unit"]] += 1
                no_range += "reference_range" not in p
    assert OTHER_UNITS[batch.name] <= set(units), units.most_common(20)
    assert {"%", "mmol/mol"} & set(units), "no HbA1c in the other unit"
    assert statuses["preliminary"] and statuses["amended"] and statuses["corrected"]
    assert unshared and naive and no_range


def test_uk_children_get_the_paediatric_exception(batch: Batch) -> None:
    if batch.name != "uk-mri.jsonl.gz":
        pytest.skip("the paediatric rule is uk-mri's")
    children = 0
    for case, record in batch.summary.kept:
        born = case["patient"].get("birth_date")
        if born is None:
            continue
        on = date.fromisoformat(case["ordered_at"][:10])
        b = date.fromisoformat(born)
        age = on.year - b.year - ((on.month, on.day) < (b.month, b.day))
        if age >= 18:
            continue
        children += 1
        for item in record["items"]:
            if item["code"] not in batch.engine.rules.order_codes:
                continue  # unknown_test: not in the catalogue at all
            assert item["status"] == "retest", (case["order_id"], item)
            flags = {r.get("flag") for r in item["reasons"] if r["code"] == "exception"}
            assert "paediatric" in flags, (case["order_id"], item)
    assert children >= 100
    assert batch.summary.children_paediatric >= children


def test_cn_registry_and_marks_matter(batch: Batch) -> None:
    if batch.name != "cn-reference.jsonl.gz":
        pytest.skip("registry and marks are cn-reference's")
    s = batch.summary
    for code in (
        "institution_level",
        "institution_region",
        "quality_not_assured",
        "mark_missing",
        "no_authorization",
        "reference_range_incompatible",
    ):
        assert s.reasons[code] >= 20, (code, s.reasons[code])
    assert len(s.performing) >= 3, s.performing  # waivers rely on several labs


def test_us_feeds_look_like_fhir_feeds(batch: Batch) -> None:
    """us-retest's labs send what US FHIR feeds send: often no specimen (the LOINC code
    says it), often no reference interval, "in Blood" codes for serum analytes; and the rule
    set still waives from such results, refusing whole-blood codes only where it says so."""
    if batch.name != "us-retest.jsonl.gz":
        pytest.skip("US feed habits are us-retest's")
    rules = batch.engine.rules
    refused_blood = {"GLU", "K", "CREA", "CA"}  # catalogue.yaml: whole blood not accepted
    priors = no_specimen = no_range = 0
    waived_without_specimen = 0
    mismatch_codes: Counter[str] = Counter()
    for case, record in batch.summary.kept:
        by_id = {p["id"]: p for p in case["prior_results"]}
        for p in case["prior_results"]:
            priors += 1
            no_specimen += "specimen" not in p
            no_range += "reference_range" not in p
        for item in record["items"]:
            used = by_id.get(item.get("result_id") or "")
            waived_without_specimen += used is not None and "specimen" not in used
            for reason in item["reasons"]:
                if reason["code"] != "specimen_mismatch":
                    continue
                prior = by_id[reason["result_id"]]
                if "specimen" in prior:
                    assert prior["specimen"] == "urine", prior  # the filing fault
                    continue
                test = rules.loinc[prior["loinc"]]
                system, _ = rules.loinc_specimens[prior["loinc"]]
                assert system == "Bld" and test in refused_blood, (test, prior["loinc"])
                mismatch_codes[test] += 1
    assert no_specimen / priors > 0.3 and no_range / priors > 0.3, (no_specimen, no_range, priors)
    assert waived_without_specimen >= 200, waived_without_specimen
    assert set(mismatch_codes) == refused_blood, mismatch_codes
    reasons = batch.summary.reasons
    assert reasons["newer_result_conflicts"] >= 20 and reasons["critical_value"] >= 20
    ordered = Counter(t["code"] for case, _ in batch.summary.kept for t in case["tests"])
    assert {"80048", "80053", "85025", "80061", "83036"} & set(ordered), "no CPT-coded orders"

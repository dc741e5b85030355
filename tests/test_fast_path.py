"""Issue 21: the msgspec path (model/_fast.py) accepts only what the models accept, builds
what they build, and decides byte for byte as they do.

Whatever ``fast_case`` accepts, pydantic must accept, with every attribute equal (types,
tuple vs list, int vs float, datetimes with the same tzinfo object); its refusals go
to the models, whose errors stay the only ones. Generated and mutated cases, the shipped
examples and batches and the bench workload are all compared, for every rule set.
"""

from __future__ import annotations

import copy
import enum
import gzip
import importlib.util
import math
from datetime import date, datetime
from pathlib import Path
from typing import Any

import msgspec
import orjson
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

import labrecog.engine
from labrecog import Engine, InputError
from labrecog import model as models
from labrecog.load import loads_strict
from labrecog.model import _case, _fast, _values, fast_case
from labrecog.testing.strategies import cases
from tests.builders import case as demo_case
from tests.builders import prior as demo_prior
from tests.test_validation_speed_equivalence import HOSTILE, TIMESTAMP_TEXT, json_paths

ROOT = Path(__file__).resolve().parent.parent
RULE_SETS = ("demo", "cn-reference", "uk-mri", "us-retest")
ENGINES = {name: Engine.from_path(ROOT / "rules" / name) for name in RULE_SETS}
BATCHES = {
    "demo": ROOT / "examples" / "cases.jsonl",
    "cn-reference": ROOT / "examples" / "cn-reference.jsonl.gz",
    "uk-mri": ROOT / "examples" / "uk-mri.jsonl.gz",
    "us-retest": ROOT / "examples" / "us-retest.jsonl.gz",
}
SLOW = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]


def _lines(path: Path) -> list[bytes]:
    raw = path.read_bytes()
    text = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
    return [line for line in text.splitlines() if line.strip()]


def _bench_cases(n: int) -> list[dict[str, Any]]:
    spec = importlib.util.spec_from_file_location(
        "_fast_bench_workload", ROOT / "bench" / "_workload.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    generated: list[dict[str, Any]] = module.Generator(ENGINES["demo"]).cases(n)
    return generated


# --- comparing what the two paths build ---------------------------------------------------
def _same(model: Any, fast: Any, at: str = "case") -> None:
    """Equal attribute by attribute, with equal types and shared tzinfo objects."""
    if model is fast:
        return
    if isinstance(model, BaseModel):
        assert isinstance(fast, msgspec.Struct), at
        assert type(fast).__name__ == type(model).__name__, at
        assert set(fast.__struct_fields__) == set(type(model).model_fields), at
        for name in type(model).model_fields:
            _same(getattr(model, name), getattr(fast, name), f"{at}.{name}")
        return
    assert type(model) is type(fast), (at, model, fast)
    if isinstance(model, tuple | list):
        assert len(model) == len(fast), at
        for i, (a, b) in enumerate(zip(model, fast, strict=True)):
            _same(a, b, f"{at}[{i}]")
    elif isinstance(model, dict):
        assert list(model) == list(fast), at
        for (ka, a), (kb, b) in zip(model.items(), fast.items(), strict=True):
            assert type(ka) is type(kb), at
            _same(a, b, f"{at}.{ka}")
    elif isinstance(model, datetime):
        assert (model, model.fold, model.utcoffset()) == (fast, fast.fold, fast.utcoffset()), at
        assert model.tzinfo is fast.tzinfo, at
        assert repr(model) == repr(fast), at
    elif isinstance(model, float):
        assert repr(model) == repr(fast), at
    else:
        assert model == fast, (at, model, fast)


def _decide(engine: Engine, data: Any, fast: bool) -> Any:
    """The decision's JSON, or the error, with the fast path on or off; bytes are read
    by evaluate_json, anything else given to evaluate."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(labrecog.engine, "_FAST", fast)
        try:
            if isinstance(data, bytes):
                return engine.evaluate_json(data).model_dump_json()
            return engine.evaluate(data).model_dump_json()
        except InputError as exc:
            return ("error", str(exc), [(p.path, p.message) for p in exc.problems], exc.order_id)


def _check(engine: Engine, data: Any, *, plain: bool = False) -> bool:
    """The property; True when the fast path accepted ``data``."""
    tz = engine.rules.timezone
    fast = fast_case(data, tz, plain=plain)
    event("fast path: " + ("refused" if fast is None else "accepted"))
    if fast is None:
        return False
    model = models.Case.model_validate(data, context={"timezone": tz})  # must not raise
    _same(model, fast)
    assert _decide(engine, data, True) == _decide(engine, data, False)
    return True


# --- mutations: real shapes made odd -----------------------------------------------------
class _Text(str):
    pass


class _Code(enum.StrEnum):
    GLU = "GLU"


def _deep(levels: int) -> dict[str, Any]:
    node: dict[str, Any] = {}
    for _ in range(levels - 1):
        node = {"a": node}
    return node


ODD = st.one_of(
    HOSTILE,
    TIMESTAMP_TEXT,
    st.sampled_from([
        math.nan, math.inf, -math.inf, 1e308, -0.0, 0, -1, 10**30, 2**63, True, "", "x" * 129,
        "620102", 620102, 10**13, "62 01", "١٢", "é", "a\ud800", _Text("GLU"), _Code.GLU, "男",
        "😀" * 128, "😀" * 129, "e\u0301" * 65,
        "女", "M", "f", "Male", "2000-02-30", "1990-01-01", "2999-01-01", date(1990, 1, 1),
        ("GLU",), {}, [], _deep(32), _deep(33), {"k": [1, {"b": math.nan}]}, {_Text("k"): 1},
        "2345-7", "2345-7\n", "12345678-9", "final", "registered", "checkup", "emergency",
        "2025-03-01T09:00:00+08:00", "2025-03-01T09:00:00", "2025-03-01T09:00:00Z",
        "2025-03-01T09:00:00-00:00", "2025-03-01T09:00:00+05:45", "1900-01-01T00:00:00Z",
        "8999-12-31T23:59:59+08:00", "2025-03-09T02:30:00", "2025-10-26T01:30:00",
    ]),
)  # fmt: skip


def _mutate(case: Any, data: st.DataObject) -> None:
    paths = json_paths(case)
    if not paths:
        return
    path = data.draw(st.sampled_from(paths))
    parent: Any = case
    for step in path[:-1]:
        parent = parent[step]
    key = path[-1]
    how = data.draw(st.sampled_from(["odd", "odd", "odd", "drop", "extra", "copy", "sibling"]))
    if how == "odd":
        parent[key] = data.draw(ODD)
    elif how == "drop":
        del parent[key]
    elif how == "extra" and isinstance(parent[key], dict):
        parent[key][data.draw(st.sampled_from(["ext", "extra", "id"]))] = data.draw(ODD)
    elif how == "copy" and isinstance(parent[key], list) and parent[key]:
        parent[key].append(copy.deepcopy(parent[key][0]))  # a duplicate result id
    elif how == "sibling" and isinstance(case, dict) and _priors(case):
        other = data.draw(st.sampled_from(case["prior_results"]))
        if isinstance(other, dict) and key in other:
            parent[key] = copy.deepcopy(other[key])  # another's value: patient, id, times


def _priors(case: dict[str, Any]) -> list[Any]:
    priors = case.get("prior_results")
    return priors if isinstance(priors, list) else []


def _twist(case: dict[str, Any], data: st.DataObject) -> None:
    """One of the things only fast_case's Python checks (the models' validators) catch."""
    priors = _priors(case)
    prior = data.draw(st.sampled_from(priors)) if priors else {}
    patient = case["patient"] if isinstance(case.get("patient"), dict) else {}
    if not isinstance(prior, dict):
        return
    inst = prior.get("institution") if isinstance(prior.get("institution"), dict) else {}
    how = data.draw(st.integers(0, 11))
    number = data.draw(st.sampled_from([0, 5, 620102, 10**11, 10**12, 10**13, -1]))
    if how == 0:
        inst["region"] = number
    elif how == 1:
        prior["reference_range"] = {"low": 5.0, "high": data.draw(st.sampled_from([4.9, 5, 5.0]))}
    elif how == 2:
        prior["value_text"] = "negative"
    elif how == 3:
        prior.pop("code", None)
        prior[data.draw(st.sampled_from(["loinc", "code"]))] = None
    elif how == 4:
        prior["reported_at"] = data.draw(
            st.sampled_from([prior.get("collected_at"), "2000-01-01T00:00:00Z"])
        )
    elif how == 5:
        case["authorization"] = {
            "granted": True,
            "granted_at": "2025-01-01T00:00:00+08:00",
            "expires_at": data.draw(
                st.sampled_from(
                    ["2025-01-01T00:00:00+08:00", "2024-12-31T16:00:00Z", "2099-01-01T00:00:00"]
                )
            ),
            "ends_with_visit": data.draw(st.booleans()),
            **data.draw(st.sampled_from([{}, {"encounter": "V-1"}])),
        }
    elif how == 6:
        patient["birth_date"] = data.draw(
            st.sampled_from(["2025-03-01", "2100-01-01", "1900-02-29", "2000-02-29", "1961-5-14"])
        )
    elif how == 7:
        patient["sex"] = data.draw(
            st.sampled_from([*sorted(_values._SEX_SPELLINGS), "Male", "X", 1])
        )
    elif how == 8:
        prior["patient_id"] = data.draw(st.sampled_from(["P-2", patient.get("id", "P-1")]))
    elif how == 9:
        prior["loinc"] = data.draw(
            st.sampled_from(["2345-7", "2345-7\n", "12345678-9", "2345-77", "٢345-7"])
        )
    elif how == 10:
        prior["ext"] = data.draw(st.sampled_from([_deep(32), _deep(33), {"a": [_deep(32)]}]))
    else:
        unreadable = case.get("unreadable_results")
        case["unreadable_results"] = [
            *(unreadable if isinstance(unreadable, list) else [])[:3],
            {
                "loinc": data.draw(st.sampled_from(["2345-7", "x"])),
                "problems": [{"path": "p", "message": "m"}],
                "collected_at": prior.get("collected_at"),
            },
        ]


def _seeds() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for name, path in BATCHES.items():
        for line in _lines(path)[:40]:
            try:
                data = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue  # cases.jsonl shows bad lines too
            if isinstance(data, dict):
                out.append((name, data))
    out += [("demo", c) for c in _bench_cases(8)]
    out.append(("demo", demo_case(demo_prior(), demo_prior(id="R-2", loinc=None))))
    return out


SEEDS = _seeds()


@settings(max_examples=250, deadline=None, suppress_health_check=SLOW)
@given(data=st.data())
def test_mutants_of_real_cases_are_built_and_decided_alike(data: st.DataObject) -> None:
    name, seed = data.draw(st.sampled_from(SEEDS))
    engine, mutant = ENGINES[name], copy.deepcopy(seed)
    for _ in range(data.draw(st.integers(1, 3))):
        if data.draw(st.booleans()):
            _twist(mutant, data)
        elif data.draw(st.booleans()) or not _priors(mutant):
            _mutate(mutant, data)
        else:  # a prior's own fields, where most of the checks are
            _mutate(data.draw(st.sampled_from(_priors(mutant))), data)
    _check(engine, mutant)
    try:
        text = orjson.dumps(mutant)
    except (TypeError, orjson.JSONEncodeError):
        return
    _check(engine, loads_strict(text), plain=True)  # the JSON the API and CLI read


@settings(max_examples=80, deadline=None, suppress_health_check=SLOW)
@given(data=st.data(), name=st.sampled_from(RULE_SETS))
def test_generated_cases_are_accepted_built_and_decided_alike(
    data: st.DataObject, name: str
) -> None:
    engine = ENGINES[name]
    case = data.draw(cases(engine))
    plain = orjson.loads(orjson.dumps(case))
    try:
        models.Case.model_validate(plain, context={"timezone": engine.rules.timezone})
    except ValidationError:  # the strategy's rare slip (a report an hour before, in BST)
        assert not _check(engine, plain, plain=True)
        return
    assert _check(engine, plain, plain=True)
    assert _check(engine, plain)


# --- the mirrors cannot drift from the models --------------------------------------------
@pytest.mark.parametrize("name", sorted(_fast.FAST_MODELS))
def test_each_struct_has_the_models_fields_and_defaults(name: str) -> None:
    model: type[BaseModel] = getattr(_case, name)
    struct = _fast.FAST_MODELS[name]
    fields = {f.name: f for f in msgspec.structs.fields(struct)}
    assert set(fields) == set(model.model_fields)
    for field_name, info in model.model_fields.items():
        mirror = fields[field_name]
        assert mirror.required == info.is_required(), field_name
        if not info.is_required():
            default = (
                mirror.default_factory() if mirror.default is msgspec.NODEFAULT else mirror.default
            )
            _same(info.default, default, f"{name}.{field_name}")
    assert struct.__struct_config__.forbid_unknown_fields


# --- every shipped case takes the fast path; refused ones keep their errors -------------
@pytest.mark.parametrize("name", RULE_SETS)
def test_every_valid_example_takes_the_fast_path_and_decides_alike(name: str) -> None:
    engine = ENGINES[name]
    lines = _lines(BATCHES[name])
    taken = 0
    for line in lines:
        try:
            data = loads_strict(line)
        except (orjson.JSONDecodeError, InputError):
            continue  # not JSON or a duplicate key: never reaches either path
        if not isinstance(data, dict):
            continue
        try:
            engine.validate_case(data)
        except InputError:
            assert _decide(engine, data, True) == _decide(engine, data, False)
            continue
        assert engine._fast(data, plain=True) is not None, line[:80]
        assert engine._fast(data, plain=False) is not None, line[:80]  # evaluate(dict)
        taken += 1
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(labrecog.engine, "_FAST", False)
            before = engine.evaluate_json(line).model_dump_json()
        assert engine.evaluate_json(line).model_dump_json() == before
    assert taken >= len(lines) - 5


def test_the_bench_workload_takes_the_fast_path_and_decides_alike() -> None:
    engine = ENGINES["demo"]
    for case in _bench_cases(40):
        assert engine._fast(case, plain=True) is not None
        assert engine._fast(case, plain=False) is not None
        assert _decide(engine, case, True) == _decide(engine, case, False)


BAD = [
    demo_case(demo_prior(), context={"flags": ["emergncy"]}),  # a misspelt flag
    demo_case(demo_prior(), tests=[{"code": "GLU", "flags": ["nope"]}]),
    demo_case(demo_prior(patient_id="P-2")),
    demo_case(demo_prior(), demo_prior()),  # a duplicate result id
    demo_case(demo_prior(value=math.nan)),
    demo_case(demo_prior(collected_at="2025-02-27")),
    demo_case(demo_prior(collected_at="2025-03-30T02:30:00"), ordered_at="2025-03-30T09:00:00"),
    demo_case(demo_prior(institution={"id": "X", "region": "62\n"})),
    demo_case(demo_prior(), patient={"id": "P-1", "sex": "Male"}),
    demo_case(demo_prior(), patient={"id": "P-1", "birth_date": "2030-01-01"}),
    demo_case(demo_prior(reported_at="2025-02-26T08:00:00+08:00")),
    demo_case(demo_prior(), extra=1),
]
# valid, but not plainly: the models read them (and make the str a str)
ODD_BUT_VALID = [
    demo_case(demo_prior(institution={"id": _Text("LXRM"), "region": "621226", "level": 2})),
    demo_case(demo_prior(), order_id=_Code.GLU),
    demo_case(demo_prior(collected_at="2025-02-27 08:00")),
    demo_case(demo_prior(collected_at="2025-02-27T08:00:00.5+08:00")),
    demo_case(demo_prior(), patient={"id": "P-1", "birth_date": date(1961, 5, 14)}),
]


@pytest.mark.parametrize("bad", BAD)
def test_a_refused_case_raises_the_same_input_error_as_before(bad: dict[str, Any]) -> None:
    engine = ENGINES["demo"]
    assert fast_case(bad, engine.rules.timezone) is None or engine._fast(bad, plain=False) is None
    before = _decide(engine, bad, False)
    assert before[0] == "error"
    assert _decide(engine, bad, True) == before
    text = orjson.dumps(bad)  # NaN becomes null: valid, and decided alike
    assert _decide(engine, text, True) == _decide(engine, text, False)


@pytest.mark.parametrize("odd", ODD_BUT_VALID)
def test_a_valid_case_the_fast_path_refuses_is_decided_as_before(odd: dict[str, Any]) -> None:
    engine = ENGINES["demo"]
    assert fast_case(odd, engine.rules.timezone) is None
    before = _decide(engine, odd, False)
    assert before[0] == "{"
    assert _decide(engine, odd, True) == before

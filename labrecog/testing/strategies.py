"""Strategies that generate valid cases for one rule set, and helpers to state expectations.

Every case :func:`cases` draws passes ``engine.validate_case``: the generated data is
*valid* input, not necessarily *waivable* input (ages reach twice the test's max_age,
statuses and marks vary, institutions may be unlisted), so both outcomes occur.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any, get_args

from hypothesis import strategies as st

from labrecog.compile import CompiledRules, CTest
from labrecog.decide import Trace
from labrecog.engine import Engine
from labrecog.model import Decision, ResultStatus, Setting

__all__ = [
    "assert_never_waived_older_than_max_age",
    "cases",
    "priors",
    "used_result",
    "waived_items",
]

PATIENT_ID = "P-1"
STATUSES: tuple[str, ...] = get_args(ResultStatus)
SETTINGS: tuple[str, ...] = get_args(Setting)
UNLISTED_REGIONS = ("110000", "310000", "440100")
_MIN_ORDER = datetime(2024, 1, 1)
_MAX_ORDER = datetime(2026, 12, 31)


# --------------------------------------------------------------------------- catalogue


def _analytes(rules: CompiledRules, code: str) -> tuple[str, ...]:
    """Catalogue tests an ordered code stands for (a panel's components, or the test)."""
    resolved = rules.order_codes.get(code, code)
    if resolved in rules.panels:
        return rules.panels[resolved].components
    if resolved in rules.tests:
        return (resolved,)
    return ()


def _identities(rules: CompiledRules, code: str) -> list[dict[str, str]]:
    """The ways a prior result may name ``code``: its local codes and its LOINC codes."""
    out: list[dict[str, str]] = [
        {"code": local} for local, test in sorted(rules.result_codes.items()) if test == code
    ]
    out += [{"loinc": loinc} for loinc, test in sorted(rules.loinc.items()) if test == code]
    return out or [{"code": code}]


def _institution(rules: CompiledRules) -> st.SearchStrategy[dict[str, Any]]:
    listed = [
        {k: v for k, v in (("id", i.id), ("region", i.region), ("level", i.level)) if v is not None}
        for i in sorted(rules.institutions.values(), key=lambda i: i.id)
    ]
    regions = sorted({i.region for i in rules.institutions.values() if i.region})
    unlisted = st.fixed_dictionaries(
        {"id": st.sampled_from(("UNLISTED-1", "UNLISTED-2"))},
        optional={
            "region": st.sampled_from([*regions, *UNLISTED_REGIONS]),
            "level": st.integers(min_value=1, max_value=3),
        },
    )
    if not listed:
        return unlisted
    return st.one_of(st.sampled_from(listed), unlisted)


def _unit(test: CTest) -> str | None:
    """The unit a generated value is written in: the test's canonical unit if accepted."""
    if not test.unit:
        return None
    if test.accepted_units and test.unit not in test.accepted_units:
        return test.accepted_units[0]
    return test.unit


def _bounds(test: CTest, sex: str | None, age: int | None) -> tuple[float | None, float | None]:
    local = test.local_range(sex, age)
    if not local:
        local = test.ranges[0] if test.ranges else None
    if local is None:
        return None, None
    return local.low, local.high


@st.composite
def _value(draw: st.DrawFn, test: CTest, sex: str | None, age: int | None) -> dict[str, Any]:
    """value (or value_text), unit and reference_range: plausible around the local range."""
    if test.qualitative:
        texts = sorted(test.normal_values | test.abnormal_values) or ["negative"]
        return {"value_text": draw(st.sampled_from(texts))}
    low, high = _bounds(test, sex, age)
    lo = low if low is not None else 0.0
    hi = high if high is not None else max(lo * 2, 1.0)
    span = max(hi - lo, abs(hi) * 0.1, 1e-3)
    value = draw(
        st.floats(
            min_value=max(lo - span / 2, 0.0) if lo >= 0 else lo - span / 2,
            max_value=hi + span / 2,
            allow_nan=False,
            allow_infinity=False,
        )
    )
    out: dict[str, Any] = {"value": round(value, 3)}
    unit = _unit(test)
    if unit is not None:
        out["unit"] = unit
    if draw(st.integers(0, 4)) and (low is not None or high is not None):
        rr: dict[str, Any] = {}
        if low is not None:
            rr["low"] = low
        if high is not None:
            rr["high"] = high
        if unit is not None:
            rr["unit"] = unit
        out["reference_range"] = rr
    return out


def _later(when: datetime, minutes: int) -> datetime:
    """``minutes`` of real time after ``when`` (before, if negative), in its zone.

    ``when - timedelta`` on an aware datetime counts wall-clock minutes: across a clock
    change it lands an hour off, or in the hour that does not exist (01:30 the night
    Europe/London springs forward, read as 01:30+00:00, after 02:00+01:00)."""
    if when.tzinfo is None:
        return when + timedelta(minutes=minutes)
    return (when.astimezone(UTC) + timedelta(minutes=minutes)).astimezone(when.tzinfo)


@st.composite
def _prior(
    draw: st.DrawFn,
    engine: Engine,
    code: str,
    result_id: str,
    patient_id: str,
    ordered_at: datetime,
    sex: str | None,
    age: int | None,
) -> dict[str, Any]:
    rules = engine.rules
    test = rules.tests[code]
    limit = max(int(test.policy.max_age.total_seconds() // 60) * 2, 60)
    minutes = draw(st.integers(min_value=0, max_value=limit))
    collected = _later(ordered_at, -minutes)
    prior: dict[str, Any] = {"id": result_id, "patient_id": patient_id}
    prior.update(draw(st.sampled_from(_identities(rules, code))))
    specimens = sorted(test.specimens)
    keep_specimen: int = draw(st.integers(0, 5))
    if specimens and keep_specimen:
        prior["specimen"] = draw(st.sampled_from(specimens))
    prior.update(draw(_value(test, sex, age)))
    prior["collected_at"] = collected.isoformat()
    if draw(st.booleans()):
        reported = _later(collected, draw(st.integers(0, min(minutes, 24 * 60))))
        prior["reported_at"] = reported.isoformat()
    prior["institution"] = draw(_institution(rules))
    marks = sorted(rules.recognition.mark_scopes)
    mark = draw(st.one_of(st.sampled_from(marks), st.none()) if marks else st.none())
    if mark is not None:
        prior["mark"] = mark
    prior["status"] = draw(st.sampled_from(("final",) * 8 + STATUSES))
    prior["shared"] = draw(st.integers(0, 5)) > 0
    return prior


#: The visits generated orders and authorisations name (FHIR ids, so a Bundle keeps them).
VISITS = ("V-1", "V-2")


@st.composite
def _authorization(
    draw: st.DrawFn, ordered_at: datetime, prior_list: list[dict[str, Any]]
) -> dict[str, Any]:
    """Granted (mostly), and in two cases of three some of: a code, when given and expiring
    (around the order: it may not hold), the visit, the institutions or results covered."""
    auth: dict[str, Any] = {"granted": draw(st.integers(0, 5)) > 0}
    if draw(st.integers(0, 2)) == 0:
        return auth
    if draw(st.booleans()):
        auth["code"] = f"{draw(st.integers(0, 999_999)):06d}"
    ordered = ordered_at.astimezone(UTC)  # minutes counted in real time, across clock changes
    start: datetime | None = None
    if draw(st.booleans()):
        start = ordered - timedelta(minutes=draw(st.integers(-60, 2 * 24 * 60)))
        auth["granted_at"] = start.isoformat()
    if draw(st.booleans()):
        later = timedelta(minutes=draw(st.integers(1, 3 * 24 * 60)))
        end = (start or ordered - timedelta(hours=2)) + later
        auth["expires_at"] = end.isoformat()
    if draw(st.booleans()):
        auth["encounter"] = draw(st.sampled_from(VISITS))
        auth["ends_with_visit"] = draw(st.booleans())
    labs = sorted({p["institution"]["id"] for p in prior_list})
    if labs and draw(st.integers(0, 3)) == 0:
        auth["institutions"] = draw(st.lists(st.sampled_from(labs), min_size=1, unique=True))
    ids = [p["id"] for p in prior_list]
    if ids and draw(st.integers(0, 3)) == 0:
        auth["results"] = draw(st.lists(st.sampled_from(ids), min_size=1, unique=True))
    return auth


def _default_ordered_at(rules: CompiledRules) -> st.SearchStrategy[datetime]:
    zone = rules.timezone or UTC
    return st.datetimes(min_value=_MIN_ORDER, max_value=_MAX_ORDER, timezones=st.just(zone)).map(
        lambda d: d.replace(microsecond=0)
    )


def priors(
    engine: Engine,
    code: str,
    *,
    ordered_at: datetime | None = None,
    patient_id: str = PATIENT_ID,
    sex: str | None = None,
    age: int | None = None,
    max_size: int = 4,
    id_prefix: str | None = None,
) -> st.SearchStrategy[list[dict[str, Any]]]:
    """Prior results for one catalogue test ``code`` (unique ids ``<code>-<n>``).

    Ages run from 0 to twice the test's max_age before ``ordered_at`` (default
    2025-03-02T09:30 in the rule set's timezone, else UTC).
    """
    rules = engine.rules
    if code not in rules.tests:
        raise KeyError(f"{code!r} is not a test of rule set {rules.id}")
    when = ordered_at or datetime(2025, 3, 2, 9, 30, tzinfo=rules.timezone or UTC)
    prefix = id_prefix or code

    @st.composite
    def build(draw: st.DrawFn) -> list[dict[str, Any]]:
        n = draw(st.integers(min_value=0, max_value=max_size))
        return [
            draw(_prior(engine, code, f"{prefix}-{i}", patient_id, when, sex, age))
            for i in range(n)
        ]

    return build()


def cases(
    engine: Engine,
    *,
    tests: Iterable[str] | None = None,
    max_priors: int = 8,
    ordered_at: datetime | None = None,
) -> st.SearchStrategy[dict[str, Any]]:
    """Valid case dicts for ``engine``: every one passes ``engine.validate_case``.

    ``tests`` limits the ordered items to these order codes (tests or panels); by
    default they are drawn from the whole catalogue.
    """
    rules = engine.rules
    catalogue = sorted(tests) if tests is not None else [*sorted(rules.tests), *rules.panels]
    for code in catalogue:
        if not _analytes(rules, code):
            raise KeyError(f"{code!r} is not a test or panel of rule set {rules.id}")
    flags = sorted(rules.flags)
    flag_lists: st.SearchStrategy[list[str]] = (
        st.one_of(st.just([]), st.lists(st.sampled_from(flags), max_size=2, unique=True))
        if flags
        else st.just([])
    )

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        when = ordered_at or draw(_default_ordered_at(rules))
        local_day = when.astimezone(rules.timezone).date() if rules.timezone else when.date()
        # Half the cases are plain: no flags, the patient's sex and birth date given, the
        # authorisation granted without limits; the other half vary all of these. Varied
        # alone, nearly every case meets an exception, an undecidable condition or a
        # limit of its authorisation before its results are looked at (demo's GLU: one
        # waive in 2,000 cases), and a property about waives would hold vacuously.
        varied = draw(st.booleans())  # shrinks to a plain case
        sexes = ("male", "female", "unknown", None) if varied else ("male", "female")
        sex = draw(st.sampled_from(sexes))
        born = st.dates(min_value=local_day - timedelta(days=365 * 95), max_value=local_day)
        birth: date | None = draw(st.one_of(born, st.none()) if varied else born)
        age = None
        if birth is not None:
            age = (
                local_day.year
                - birth.year
                - ((local_day.month, local_day.day) < (birth.month, birth.day))
            )
        codes = draw(
            st.lists(
                st.sampled_from(catalogue), min_size=1, max_size=min(4, len(catalogue)), unique=True
            )
        )
        items = []
        for code in codes:
            item: dict[str, Any] = {"code": code}
            item_flags = draw(flag_lists) if varied else []
            if item_flags:
                item["flags"] = item_flags
            items.append(item)
        analytes = sorted({a for code in codes for a in _analytes(rules, code)})
        prior_list: list[dict[str, Any]] = []
        for analyte in analytes:
            room = max_priors - len(prior_list)
            if room <= 0:
                break
            prior_list += draw(
                priors(
                    engine,
                    analyte,
                    ordered_at=when,
                    sex=sex if sex in ("male", "female") else None,
                    age=age,
                    max_size=min(room, 3),
                )
            )
        patient: dict[str, Any] = {"id": PATIENT_ID}
        if sex is not None:
            patient["sex"] = sex
        if birth is not None:
            patient["birth_date"] = birth.isoformat()
        context: dict[str, Any] = {"flags": draw(flag_lists) if varied else []}
        setting = draw(st.one_of(st.sampled_from(SETTINGS), st.none()))
        if setting is not None:
            context["setting"] = setting
        visit = draw(st.sampled_from((None, *VISITS)))
        if visit is not None:
            context["encounter"] = visit
        return {
            "order_id": "O-1",
            "ordered_at": when.isoformat(),
            "patient": patient,
            "institution": draw(_institution(rules)),
            "context": context,
            "authorization": (
                draw(_authorization(when, prior_list)) if varied else {"granted": True}
            ),
            "tests": items,
            "prior_results": draw(st.permutations(prior_list)),
        }

    return build()


# --------------------------------------------------------------------------- expectations


def waived_items(decision: Decision) -> list[tuple[str, str]]:
    """(code, result_id) for every waived analyte: whole items, and panel components."""
    out: list[tuple[str, str]] = []
    for item in decision.items:
        if item.waived:
            out += [(w.code, w.result_id) for w in item.waived]
        elif item.status == "waive" and item.result_id is not None:
            out.append((item.code, item.result_id))
    return out


def used_result(decision: Decision, case: Mapping[str, Any], code: str) -> dict[str, Any] | None:
    """The prior result (as given in ``case``) the decision used for ``code``, if any.

    ``code`` is an ordered code or a panel component's code.
    """
    for waived_code, result_id in waived_items(decision):
        if waived_code == code:
            for prior in case.get("prior_results", ()):
                if prior.get("id") == result_id:
                    return dict(prior)
    return None


def assert_never_waived_older_than_max_age(
    engine: Engine, case: Mapping[str, Any], decision: Decision, trace: Trace | None = None
) -> None:
    """Fail if a waived analyte rests on a result older than its effective max_age.

    The effective max_age is the test's policy after the conditions that match this case
    and the ordered item's flags (conditions may shorten or lengthen it).
    """
    rules = engine.rules
    valid = engine.validate_case(case)
    if trace is None:  # the policies as evaluation applied them, not recomputed here
        trace = Trace()
        engine.evaluate(valid, trace=trace)
    by_id = {p.id: p for p in valid.prior_results}
    flags_of: dict[str, frozenset[str]] = {}
    for item in valid.tests:
        for analyte in (item.code, *_analytes(rules, item.code)):
            flags_of.setdefault(analyte, frozenset(item.flags))
    for entry in decision.items:
        pairs = (
            [(w.code, w.result_id) for w in entry.waived]
            if entry.waived
            else [(entry.code, entry.result_id)]
            if entry.status == "waive" and entry.result_id is not None
            else []
        )
        item_flags = flags_of.get(entry.code, frozenset())
        for code, result_id in pairs:
            test_code = rules.order_codes.get(code, code)
            test = rules.tests[test_code]
            policy = trace.policies[(test.code, item_flags)]
            prior = by_id[result_id]
            age = valid.ordered_at - prior.collected_at
            assert age <= policy.max_age, (
                f"{code} waived on {result_id}, {age} old; max_age is {policy.max_age}"
            )

"""Issue 21: the faster deciding words, files and decides exactly as before.

The former implementations are kept here as oracles (copied from before the change):
durations, their Chinese wording, reason messages and the grouping of prior results by
test must come out the same, and the memos they now keep per rule set only save work: a
case decides to the same bytes and trace on a fresh engine as on one warmed by others.
"""

from __future__ import annotations

import re
import string
from datetime import timedelta
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labrecog import Engine
from labrecog.check import index_priors
from labrecog.compile import CompiledRules
from labrecog.decide import Trace
from labrecog.model import PriorResult, make_reason
from labrecog.testing import cases
from labrecog.words import LANGUAGES, MESSAGES, Duration, format_duration, text

SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NAMES = ("demo", "cn-reference", "uk-mri", "us-retest")
ENGINES = {name: Engine.from_path(f"labrecog/rulesets/{name}") for name in NAMES}


# --- oracles: the code as it was ----------------------------------------------------------


def _old_format_duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [
        f"{n}{unit}" for n, unit in ((days, "d"), (hours, "h"), (minutes, "min"), (secs, "s")) if n
    ]
    return sign + (" ".join(parts) or "0s")


_ZH_UNITS = {"d": "天", "h": "小时", "min": "分钟", "s": "秒"}
_PART = re.compile(r"(\d+)(d|h|min|s)")


def _old_zh(duration: str) -> str:
    sign = "-" if duration.startswith("-") else ""
    return sign + "".join(n + _ZH_UNITS[unit] for n, unit in _PART.findall(duration))


def _old_message(key: str, lang: str, params: dict[str, object]) -> tuple[str, str]:
    texts = {lang: text(f"reason:{key}", lang) for lang in LANGUAGES}
    return key.split(".", 1)[0], (texts.get(lang) or texts["en"]).format_map(params)


def _old_index(
    rules: CompiledRules, priors: tuple[PriorResult, ...], wanted: frozenset[str]
) -> tuple[dict[str, list[str]], dict[str, tuple[str, ...]], list[str]]:
    out: dict[str, list[str]] = {}
    conflicts: dict[str, tuple[str, ...]] = {}
    unmapped: list[str] = []
    for prior in priors:
        if not prior.shared:
            continue
        code, given_loinc = prior.code, prior.loinc
        by_code = rules.result_codes.get(code) if code is not None else None
        by_loinc = rules.loinc.get(given_loinc) if given_loinc is not None else None
        if by_code is not None and (given_loinc is None or by_loinc == by_code):
            target = by_code
        elif by_code is None and code is None and by_loinc is not None:
            target = by_loinc
        else:
            tests = set(rules.resolve_result_code(code) if code is not None else ())
            if by_loinc is not None:
                tests.add(by_loinc)
            if not tests:
                unmapped.append(prior.id)
                continue
            if len(tests) != 1:
                conflict = tuple(sorted(tests))
                for test in conflict:
                    if test in wanted:
                        out.setdefault(test, []).append(prior.id)
                        conflicts[prior.id] = conflict
                continue
            target = tests.pop()
            if given_loinc is not None and by_loinc is None:
                if target in wanted:
                    out.setdefault(target, []).append(prior.id)
                    conflicts[prior.id] = (target,)
                continue
        if target in wanted:
            out.setdefault(target, []).append(prior.id)
    return out, conflicts, unmapped


# --- durations ------------------------------------------------------------------------------

EDGES = [
    timedelta(0),
    timedelta(microseconds=-1),
    timedelta(microseconds=1),
    timedelta(seconds=-1),
    timedelta(days=1, microseconds=-1),
    timedelta.max,
    timedelta.min,
    timedelta(days=999_999_999, microseconds=999_999),
    timedelta(days=30),
    timedelta(days=8, hours=2),
    timedelta(days=7, seconds=1),
]


@pytest.mark.parametrize("delta", EDGES, ids=str)
def test_durations_at_the_edges(delta: timedelta) -> None:
    found = format_duration(delta)
    assert type(found) is Duration
    assert found == _old_format_duration(delta)
    assert format(found, "zh") == format(found, "zh") == _old_zh(found)


@SETTINGS
@given(st.timedeltas())
def test_durations_as_before(delta: timedelta) -> None:
    found = format_duration(delta)
    assert (type(found), str(found)) == (Duration, _old_format_duration(delta))
    # twice: the Chinese wording is memoised by text, the second answer from the memo
    assert format(found, "zh") == format(found, "zh") == _old_zh(found)
    assert format(found, "") == f"{found}" == str(found)


@SETTINGS
@given(st.text())
def test_any_duration_text_in_chinese_as_before(written: str) -> None:
    """A Duration made from any text (a card shows ``Duration(item.max_age or "-")``)."""
    assert format(Duration(written), "zh") == format(Duration(written), "zh") == _old_zh(written)


# --- reason messages --------------------------------------------------------------------------


def _params(template: str) -> dict[str, object]:
    """A value for every field of a template: a duration serves both ``{x}`` and ``{x:zh}``."""
    names = {name for _, name, _, _ in string.Formatter().parse(template) if name}
    return {name: Duration(f"{i + 1}d 2h") for i, name in enumerate(sorted(names))}


@pytest.mark.parametrize("lang", ["en", "zh", "xx"])
def test_every_reason_message_as_before(lang: str) -> None:
    for key in MESSAGES:
        params = _params(text(f"reason:{key}", "en") + text(f"reason:{key}", "zh"))
        reason = make_reason(key, lang, result_id="R-1", source="S", **params)  # type: ignore[arg-type]
        assert (reason.code, reason.message) == _old_message(key, lang, params)
        parts = (reason.result_id, reason.test, reason.flag, reason.source)
        assert parts == ("R-1", None, None, "S")
        assert reason.model_fields_set == set(type(reason).model_fields)


# --- results by test ---------------------------------------------------------------------------


def _index_ids(
    rules: CompiledRules, priors: tuple[PriorResult, ...], wanted: frozenset[str]
) -> tuple[dict[str, list[str]], dict[str, tuple[str, ...]], list[str]]:
    found = index_priors(rules, priors, wanted)
    by_test = {code: [p.id for p in ps] for code, ps in found.by_test.items()}
    return by_test, found.conflicts, [p.id for p in found.unmapped]


def _identities(rules: CompiledRules) -> list[dict[str, Any]]:
    """Every kind of (code, LOINC) pair: known codes, aliases in full width, pattern-like
    and unknown codes, invisible characters, agreeing, disagreeing and unknown LOINCs."""
    codes: list[str | None] = [None, "NOPE", "GLU\u200b", " GLU ", "ＧＬＵ"]
    codes += sorted(rules.result_codes)[:12]
    loincs: list[str | None] = [None, "0000-0", *sorted(rules.loinc)[:8]]
    pairs = [{"code": code, "loinc": loinc} for code in codes for loinc in loincs]
    return [pair for pair in pairs if pair != {"code": None, "loinc": None}]


@pytest.mark.parametrize("name", NAMES)
def test_results_grouped_as_before(name: str) -> None:
    engine = ENGINES[name]
    rules = engine.rules

    @settings(SETTINGS, max_examples=10)
    @given(cases(engine).filter(lambda case: bool(case["prior_results"])))
    def check(data: dict[str, Any]) -> None:
        template = data["prior_results"][0]
        priors = []
        for i, ident in enumerate(_identities(rules)):
            prior = {k: v for k, v in template.items() if k not in ("code", "loinc")}
            prior.update({k: v for k, v in ident.items() if v is not None}, id=f"X-{i}")
            prior["shared"] = True
            priors.append(prior)
        case = engine.validate_case({**data, "prior_results": priors})
        for wanted in (frozenset(rules.tests), frozenset(sorted(rules.tests)[::2]), frozenset()):
            rules.identity_memo.clear()
            cold = _index_ids(rules, case.prior_results, wanted)  # filling the memo
            assert cold == _old_index(rules, case.prior_results, wanted)
            assert rules.identity_memo  # each pair resolved once, and kept
            assert _index_ids(rules, case.prior_results, wanted) == cold  # from the memo

    check()


@pytest.mark.parametrize("name", NAMES)
def test_generated_cases_grouped_as_before(name: str) -> None:
    engine = ENGINES[name]
    rules = engine.rules

    @SETTINGS
    @given(cases(engine))
    def check(data: dict[str, Any]) -> None:
        case = engine.validate_case(data)
        wanted = frozenset(rules.tests)
        assert _index_ids(rules, case.prior_results, wanted) == _old_index(
            rules, case.prior_results, wanted
        )

    check()


# --- whole decisions: the memos only save work -----------------------------------------------


def _decided(engine: Engine, case: dict[str, Any], lang: str) -> tuple[bytes, str]:
    trace = Trace()
    decision = engine.evaluate(case, lang=lang, trace=trace)  # type: ignore[arg-type]
    return orjson.dumps(decision.model_dump(mode="json")), repr(trace)


@pytest.mark.parametrize("name", NAMES)
def test_decisions_alike_on_a_fresh_and_a_warm_engine(name: str) -> None:
    warm = ENGINES[name]

    @SETTINGS
    @given(cases(warm), st.sampled_from(["en", "zh"]))
    def check(case: dict[str, Any], lang: str) -> None:
        found = _decided(warm, case, lang)
        fresh = Engine.from_path(f"labrecog/rulesets/{name}")
        assert _decided(fresh, case, lang) == found
        assert _decided(warm, case, lang) == found

    check()

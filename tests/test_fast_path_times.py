"""Issue 21: timestamps and dates on the msgspec path (model/_fast_times.py) are read to
the models' values, with the same shared tzinfo objects, or refused; its memos stay
bounded."""

from __future__ import annotations

import re
from datetime import datetime, tzinfo
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from labrecog import model as models
from labrecog.model import _fast_times, _values
from tests.test_fast_path import _same
from tests.test_validation_speed_equivalence import TIMESTAMP_TEXT

# --- timestamps: the model's verdicts and values, cold and warm ---------------------------
ZONES: list[tzinfo | None] = [None, ZoneInfo("Asia/Shanghai"), ZoneInfo("Europe/London")]
TIMESTAMP: TypeAdapter[datetime] = TypeAdapter(models.Timestamp)


@settings(max_examples=600, deadline=None)
@given(value=TIMESTAMP_TEXT, zone=st.sampled_from(ZONES))
def test_a_timestamp_the_fast_path_reads_is_the_models(value: str, zone: tzinfo | None) -> None:
    for _ in range(2):  # cold, then from the memos
        try:
            fast = _fast_times.when(value, zone, _fast_times.naive_stamps(zone))
        except _fast_times.Refused:
            continue
        try:
            model = TIMESTAMP.validate_python(value, context={"timezone": zone})
        except ValidationError:
            pytest.fail(f"fast path accepted {value!r}, the model refuses it")
        _same(model, fast)


@settings(max_examples=600)
@given(
    when=st.datetimes(min_value=datetime(1000, 1, 1)),
    at=st.integers(0, 18),
    char=st.sampled_from("0123456789-T:t ٢+Z."),
)
def test_separators_and_fromisoformat_are_the_canonical_pattern(
    when: datetime, at: int, char: str
) -> None:
    """Why _read may skip the regex: its check accepts a 19-character text exactly when
    _CANONICAL (without offset) does and the date exists."""
    text = when.strftime("%Y-%m-%dT%H:%M:%S")
    text = text[:at] + char + text[at + 1 :]
    try:
        datetime.fromisoformat(text)
        parsed = True
    except ValueError:
        parsed = False
    ours = text[4:17:3] == "--T::" and parsed
    assert ours == (_values._CANONICAL(text) is not None and parsed)
    assert not ours or re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}", text)


def test_the_memos_stay_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_fast_times, "MEMO_LIMIT", 8)
    monkeypatch.setattr(_fast_times, "_DAYS", {})
    monkeypatch.setattr(_fast_times, "_CLOCKS", {})
    monkeypatch.setattr(_fast_times, "_NAIVE", {})
    naive = _fast_times.naive_stamps(ZoneInfo("Asia/Shanghai"))
    for day in range(1, 29):
        for hour in range(10):
            for offset in ("", "+08:00", "Z"):
                text = f"2025-02-{day:02d}T{hour:02d}:00:00{offset}"
                _same(
                    TIMESTAMP.validate_python(
                        text, context={"timezone": ZoneInfo("Asia/Shanghai")}
                    ),
                    _fast_times.when(text, ZoneInfo("Asia/Shanghai"), naive),
                )
    assert len(naive) <= 8 and len(_fast_times._CLOCKS) <= 8
    assert all(len(days) <= 8 for days in _fast_times._DAYS.values())

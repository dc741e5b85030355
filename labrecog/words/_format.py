"""Formats shared by everything that shows words: durations, numbers, times, patients.

One place, so a decision, an explanation, a report and a card say a thing the same way.
"""

from __future__ import annotations

import functools
from datetime import datetime, timedelta
from typing import Literal

from labrecog.words._languages import text

__all__ = [
    "Lang",
    "comma",
    "duration_text",
    "format_duration",
    "minutes",
    "minutes_utc",
    "number",
    "paren",
    "patient_words",
    "pick",
]

#: The languages of the word tables (``_languages.LANGUAGES``): a third language is one
#: more table there and its code here.
Lang = Literal["zh", "en"]


def pick(lang: Lang, en: str, zh: str) -> str:
    """Between the two names a rule set gives (``name: {zh, en}``); English otherwise."""
    return zh if lang == "zh" else en


def comma(lang: Lang) -> str:
    return text("punct:comma", lang)


def paren(inner: str, lang: Lang) -> str:
    """`` (text)`` or ``（text）``."""
    return text("punct:paren", lang).format(text=inner)


def number(value: float) -> str:
    """A value as written: integers without ``.0``, others exactly (``repr``)."""
    return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)


def minutes(moment: datetime) -> str:
    """``2025-03-02 09:30+08:00``: a time to the minute with its offset, for tables."""
    return moment.isoformat(timespec="minutes").replace("T", " ")


def minutes_utc(moment: datetime) -> str:
    """``2025-03-02 09:30 (UTC+08:00)``: the same for prose, where a bare offset reads oddly."""
    offset = moment.isoformat()[-6:] if moment.utcoffset() is not None else ""
    return f"{moment:%Y-%m-%d %H:%M} (UTC{offset})" if offset else f"{moment:%Y-%m-%d %H:%M}"


def format_duration(delta: timedelta) -> str:
    """Exact and language-neutral: ``8d 2h``, ``7d 1s``, ``45min``; nothing is rounded away,
    so "7d 1s" is never shown as "7d" beside a 7-day limit."""
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


@functools.lru_cache(maxsize=4096)
def duration_text(delta: timedelta) -> str:
    """``format_duration``, memoised for the hot path: limits are few, and ages repeat."""
    return format_duration(delta)


def patient_words(sex: str | None, age: int | None, lang: Lang) -> str:
    """ "male, 63 y" / "男，63岁": who the local reference interval was looked up for."""
    if sex in ("male", "female"):
        sex_text = text(f"patient:sex.{sex}", lang)
    elif sex is None:
        sex_text = text("patient:sex.none", lang)
    else:
        sex_text = text("patient:sex.other", lang).format(sex=sex)
    age_text = text("patient:age.none", lang) if age is None else text("patient:age", lang)
    return text("patient:both", lang).format(sex=sex_text, age=age_text.format(age=age))

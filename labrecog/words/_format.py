"""Formats shared by everything that shows words: durations, numbers, times, patients.

One place, so a decision, an explanation, a report and a card say a thing the same way.
"""

from __future__ import annotations

import functools
import re
from datetime import datetime, timedelta
from typing import Literal

from labrecog.words._languages import text
from labrecog.words._tools import INPUT

__all__ = [
    "Duration",
    "Lang",
    "comma",
    "duration_text",
    "format_duration",
    "input_text",
    "minutes",
    "minutes_utc",
    "number",
    "paren",
    "patient_words",
    "pick",
    "source_text",
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


# --- durations in Chinese (issue 11) ------------------------------------------------------
_ZH_UNITS = {"d": "天", "h": "小时", "min": "分钟", "s": "秒"}
_PART = re.compile(r"(\d+)(d|h|min|s)")


class Duration(str):
    """A duration as text: ``8d 2h``, language-neutral (decisions record it so), and in a
    template ``{age:zh}`` gives ``8天2小时``. So the checks that word a reason need not
    know which language the template is in: the Chinese template asks for Chinese."""

    __slots__ = ()

    def __format__(self, spec: str) -> str:
        if spec == "zh":
            return _zh_duration(self)
        return str.__format__(self, spec)


@functools.lru_cache(maxsize=4096)
def _zh_duration(text: str) -> str:
    """Memoised by text: a rule set's limits are few, and each is worded in every case."""
    sign = "-" if text.startswith("-") else ""
    return sign + "".join(n + _ZH_UNITS[unit] for n, unit in _PART.findall(text))


# --- end of durations in Chinese ------------------------------------------------------------

# --- source tags (issue 11) -----------------------------------------------------------------
# The provenance words labrecog and its rule sets use by convention, first the longest.
_SOURCE_TAGS = re.compile(r"labrecog built-in default|assumed — set locally|\bassumed\b")


def source_text(source: str, lang: Lang) -> str:
    """A value's ``source`` as shown: the conventional tags (``assumed — set locally``,
    ``labrecog built-in default``) in the language's words, the author's text as written.
    Decisions keep the source as written."""
    if lang == "en" or ("assumed" not in source and "labrecog" not in source):
        return source
    return _SOURCE_TAGS.sub(lambda m: text(f"source:{m.group(0)}", lang), source)


def _template(english: str) -> re.Pattern[str]:
    """An English message template as a pattern: ``{name}`` stands for any text."""
    parts = re.split(r"\{(\w+)\}", english)
    return re.compile(
        "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>.+?)" for i, p in enumerate(parts))
    )


_INPUT_PATTERNS = tuple((key, _template(en)) for key, (en, _zh) in INPUT.items())


def input_text(message: str, lang: Lang) -> str:
    """An input-error message (worded in English where it is made) in ``lang``; a message
    no template of ``INPUT`` matches stays as it is, never half translated."""
    if lang == "en":
        return message
    for key, pattern in _INPUT_PATTERNS:
        found = pattern.fullmatch(message)
        if found is not None:
            return text(f"input:{key}", lang).format(**found.groupdict())
    return message


# --- end of source tags and input messages -------------------------------------------------


def format_duration(delta: timedelta) -> Duration:
    """Exact and language-neutral: ``8d 2h``, ``7d 1s``, ``45min``; nothing is rounded away,
    so "7d 1s" is never shown as "7d" beside a 7-day limit. ``{x:zh}``: ``8天2小时``."""
    seconds = int(delta.total_seconds())
    sign = "-" if seconds < 0 else ""
    minutes, secs = divmod(abs(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    # each part with a trailing space, the last one cut off: no list, no join (hot path)
    text = (
        (f"{days}d " if days else "")
        + (f"{hours}h " if hours else "")
        + (f"{minutes}min " if minutes else "")
        + (f"{secs}s " if secs else "")
    )
    return Duration(sign + text[:-1] if text else "0s")


@functools.lru_cache(maxsize=4096)
def duration_text(delta: timedelta) -> Duration:
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

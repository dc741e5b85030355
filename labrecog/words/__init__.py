"""Every word labrecog shows a person, and how it is formatted: one place, below the checks.

``LANGUAGES`` holds one table per language, every text under one key
(``reason:too_old``, ``card:summary.waive``, ``punct:comma``); :func:`say` fills one.
Decisions, explanations, reports, cards and discovery all speak through here, so a third
language is one more table and its code in :data:`Lang`.
"""

from __future__ import annotations

from labrecog.words._format import (
    Duration,
    Lang,
    comma,
    duration_text,
    format_duration,
    input_text,
    minutes,
    minutes_utc,
    number,
    paren,
    patient_words,
    pick,
    source_text,
)
from labrecog.words._languages import LANGUAGES, text
from labrecog.words._reasons import MESSAGES

__all__ = [
    "LANGUAGES",
    "MESSAGES",
    "Duration",
    "Lang",
    "comma",
    "duration_text",
    "format_duration",
    "input_text",
    "label",
    "minutes",
    "minutes_utc",
    "number",
    "paren",
    "patient_words",
    "pick",
    "say",
    "source_text",
    "text",
]


def say(family: str, key: str, lang: Lang, **params: object) -> str:
    """The text of ``family:key`` in ``lang``, filled in from ``params`` (none: as written).

    Families: ``reason``, ``card``, ``discovery``, ``explain``, ``status``, ``setting``,
    ``report``, ``test``, ``source``, ``input``, ``audit``, ``init``. A ``source``
    parameter (a value's provenance) has its conventional tags (``assumed``) in the
    language's words.
    """
    found = text(f"{family}:{key}", lang)
    if lang != "en" and isinstance(params.get("source"), str):
        # a value's provenance: its conventional tags in the language's words
        params["source"] = source_text(str(params["source"]), lang)
    return found.format(**params) if params else found


def label(family: str, key: str, lang: Lang) -> str:
    """``**Result:**`` / ``**结果：**``: a Markdown label with the language's colon."""
    return f"**{say(family, key, lang)}{text('punct:colon', lang)}**"

"""Every word labrecog shows a person, and how it is formatted: one place, below the checks.

``LANGUAGES`` holds one table per language, every text under one key
(``reason:too_old``, ``card:summary.waive``, ``punct:comma``); :func:`say` fills one.
Decisions, explanations, reports, cards and discovery all speak through here, so a third
language is one more table and its code in :data:`Lang`.
"""

from __future__ import annotations

from labrecog.words._format import (
    Lang,
    comma,
    duration_text,
    format_duration,
    minutes,
    minutes_utc,
    number,
    paren,
    patient_words,
    pick,
)
from labrecog.words._languages import LANGUAGES, text
from labrecog.words._reasons import MESSAGES

__all__ = [
    "LANGUAGES",
    "MESSAGES",
    "Lang",
    "comma",
    "duration_text",
    "format_duration",
    "label",
    "minutes",
    "minutes_utc",
    "number",
    "paren",
    "patient_words",
    "pick",
    "say",
    "text",
]


def say(family: str, key: str, lang: Lang, **params: object) -> str:
    """The text of ``family:key`` in ``lang``, filled in from ``params`` (none: as written).

    Families: ``reason``, ``card``, ``discovery``, ``explain``, ``status``, ``setting``.
    """
    found = text(f"{family}:{key}", lang)
    return found.format(**params) if params else found


def label(family: str, key: str, lang: Lang) -> str:
    """``**Result:**`` / ``**结果：**``: a Markdown label with the language's colon."""
    return f"**{say(family, key, lang)}{text('punct:colon', lang)}**"

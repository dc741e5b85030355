"""Every word labrecog shows a person, and how it is formatted: one place, below the checks.

Tables (``MESSAGES`` for reasons, ``CARDS`` and ``EXPLAIN`` for presentations) map a key
to its English and Chinese text; :func:`say` picks and fills one. Decisions, explanations,
reports and cards all speak through here, so a third language is one more column of each
table and its name in :data:`Lang`.
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
from labrecog.words._reasons import MESSAGES
from labrecog.words._tables import CARD_TOPIC, CARDS, DISCOVERY, EXPLAIN, SETTING_ZH, STATUS_ZH

__all__ = [
    "CARDS",
    "CARD_TOPIC",
    "DISCOVERY",
    "EXPLAIN",
    "MESSAGES",
    "SETTING_ZH",
    "STATUS_ZH",
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
]


def say(table: dict[str, tuple[str, str]], key: str, lang: Lang, **params: object) -> str:
    """The text of ``key`` in ``lang``, filled in from ``params`` (none: as written)."""
    en, zh = table[key]
    text = pick(lang, en, zh)
    return text.format(**params) if params else text


def label(table: dict[str, tuple[str, str]], key: str, lang: Lang) -> str:
    """``**Result:**`` / ``**结果：**``: a Markdown label with the language's colon."""
    return f"**{say(table, key, lang)}{pick(lang, ':', '：')}**"

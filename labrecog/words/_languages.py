"""One table per language: every text labrecog shows, under one key each.

The English and Chinese tables are built from the bilingual source tables
(``_reasons.MESSAGES``, ``_tables.CARDS`` …, kept side by side for translators), keys
prefixed by their family (``reason:too_old``, ``card:summary.waive``). A third language is
one more table here with the same keys, and its code in :data:`Lang`; a key it lacks falls
back to English.
"""

from __future__ import annotations

from labrecog.words._audit import AUDIT
from labrecog.words._lint import LINT
from labrecog.words._reasons import MESSAGES
from labrecog.words._tables import (
    CARD_TOPIC,
    CARDS,
    DISCOVERY,
    EXPLAIN,
    PATIENT,
    PUNCTUATION,
    SETTING_ZH,
    STATUS_ZH,
)
from labrecog.words._tools import INIT, INPUT, REPORT, SOURCE, TESTRUN

__all__ = ["LANGUAGES", "text"]

_FAMILIES: dict[str, dict[str, tuple[str, str]]] = {
    "reason": MESSAGES,
    "card": CARDS,
    "discovery": DISCOVERY,
    "explain": EXPLAIN,
    "patient": PATIENT,
    "punct": PUNCTUATION,
    # the operator tools (issue 11): report, test runner, provenance tags, input errors
    "report": REPORT,
    "test": TESTRUN,
    "source": SOURCE,
    "input": INPUT,
    "audit": AUDIT,  # labrecog audit (issue 12)
    "init": INIT,  # labrecog init (issue 14)
    "lint": LINT,  # labrecog lint (issue 15)
}


def _column(index: int) -> dict[str, str]:
    out = {f"{family}:{key}": texts[index] for family, table in _FAMILIES.items()
           for key, texts in table.items()}  # fmt: skip
    out["card:topic"] = CARD_TOPIC["zh" if index else "en"]
    for status, zh in STATUS_ZH.items():
        out[f"status:{status}"] = f"{status}（{zh}）" if index else status
    for setting, zh in SETTING_ZH.items():
        out[f"setting:{setting}"] = zh if index else setting
    return out


#: language code -> key -> text
LANGUAGES: dict[str, dict[str, str]] = {"en": _column(0), "zh": _column(1)}


def text(key: str, lang: str) -> str:
    """The text of ``key`` in ``lang`` (English where that language has none)."""
    table = LANGUAGES.get(lang, LANGUAGES["en"])
    found = table.get(key)
    return found if found is not None else LANGUAGES["en"][key]

"""Words live in one table per language; every language has every key."""

from __future__ import annotations

import pytest

from labrecog.words import LANGUAGES, patient_words, say, text


def test_every_language_table_has_every_key() -> None:
    keys = {lang: set(table) for lang, table in LANGUAGES.items()}
    assert keys["en"] == keys["zh"]
    assert {k.split(":", 1)[0] for k in keys["en"]} == {
        "reason", "card", "discovery", "explain", "patient", "punct", "status", "setting",
        "report", "test", "source", "input", "audit", "init", "lint",
    }  # fmt: skip


def test_a_third_language_is_one_more_table(monkeypatch: pytest.MonkeyPatch) -> None:
    """A language given as one table speaks where it has words and falls back to English
    where it has none."""
    monkeypatch.setitem(LANGUAGES, "fr", {"explain:order": "Ordonnance", "punct:colon": " :"})
    assert say("explain", "order", "fr") == "Ordonnance"  # type: ignore[arg-type]
    assert text("explain:patient", "fr") == text("explain:patient", "en")
    assert patient_words("male", 63, "fr") == "male, 63 y"  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("sex", "age", "en", "zh"),
    [
        ("male", 63, "male, 63 y", "男，63岁"),
        ("female", None, "female, age unknown", "女，年龄未知"),
        (None, 5, "sex unknown, 5 y", "性别未知，5岁"),
        ("unknown", 5, "unknown, 5 y", "性别未知，5岁"),
    ],
)
def test_patient_words(sex: str | None, age: int | None, en: str, zh: str) -> None:
    assert patient_words(sex, age, "en") == en
    assert patient_words(sex, age, "zh") == zh

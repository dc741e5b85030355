"""Building reason records cheaply: they are made per candidate on the hot path.

The checks name a message key and its parameters; the words come from ``labrecog.words``.

A reason is a few strings the engine produced itself, so each builder here fills the
model's slots directly (as ``_Out._trusted`` does) instead of validating them.
"""

from __future__ import annotations

from typing import cast

from labrecog.model._decision import (
    Reason,
    ReasonCode,
    set_extra,
    set_fields_set,
    set_private,
    set_values,
)
from labrecog.words import LANGUAGES, MESSAGES, Lang, text

__all__ = ["make_reason", "reason_with_message", "with_test"]

# key -> (code, template per language), split once at import.
_TABLE: dict[str, tuple[ReasonCode, dict[str, str]]] = {
    key: (
        cast(ReasonCode, key.split(".", 1)[0]),
        {lang: text(f"reason:{key}", lang) for lang in LANGUAGES},
    )
    for key in MESSAGES
}
# lang -> key -> (code, template): the language's template, or the English one where it
# has none (an empty template too); a language without a table words in English.
_BY_LANG: dict[str, dict[str, tuple[ReasonCode, str]]] = {
    lang: {key: (code, texts.get(lang) or texts["en"]) for key, (code, texts) in _TABLE.items()}
    for lang in LANGUAGES
}
_ENGLISH = _BY_LANG["en"]
# One fields-set shared by every reason we build: all fields are always given, and frozen
# models never add to it (model_copy copies it first).
_FIELDS = set(Reason.model_fields)
_new = object.__new__


def reason_with_message(
    code: ReasonCode,
    message: str,
    result_id: str | None = None,
    test: str | None = None,
    flag: str | None = None,
    source: str | None = None,
) -> Reason:
    """A Reason from trusted parts, without validation."""
    obj = _new(Reason)
    set_values(
        obj,
        {
            "code": code,
            "message": message,
            "result_id": result_id,
            "test": test,
            "flag": flag,
            "source": source,
        },
    )
    set_fields_set(obj, _FIELDS)
    set_extra(obj, None)
    set_private(obj, None)
    return obj


def make_reason(
    key: str,
    lang: Lang,
    *,
    result_id: str | None = None,
    test: str | None = None,
    flag: str | None = None,
    source: str | None = None,
    **params: object,
) -> Reason:
    """The reason for message ``key``, its template filled in from ``params``."""
    code, template = (_BY_LANG.get(lang) or _ENGLISH)[key]
    return reason_with_message(code, template.format_map(params), result_id, test, flag, source)


def with_test(reason: Reason, test: str) -> Reason:
    """The same reason attributed to a panel component."""
    obj = _new(Reason)
    set_values(obj, {**reason.__dict__, "test": test})
    set_fields_set(obj, _FIELDS)
    set_extra(obj, None)
    set_private(obj, None)
    return obj

"""Building reason records cheaply: they are made per candidate on the hot path."""

from __future__ import annotations

from typing import cast

from labrecog.model.decision import Reason, ReasonCode
from labrecog.output.messages import MESSAGES, Lang

__all__ = ["make_reason", "reason_with_message", "with_test"]

# key -> (code, english template, chinese template), split once at import.
_TABLE: dict[str, tuple[ReasonCode, str, str]] = {
    key: (cast(ReasonCode, key.split(".", 1)[0]), en, zh) for key, (en, zh) in MESSAGES.items()
}
# One fields-set shared by every reason we build: all fields are always given, and frozen
# models never add to it (model_copy copies it first).
_FIELDS = set(Reason.model_fields)
_new = Reason.__new__
_set = object.__setattr__


def reason_with_message(
    code: ReasonCode,
    message: str,
    result_id: str | None = None,
    test: str | None = None,
    flag: str | None = None,
    source: str | None = None,
) -> Reason:
    """A Reason from trusted parts, without validation (see ``_Out._trusted``)."""
    obj = _new(Reason)
    _set(
        obj,
        "__dict__",
        {
            "code": code,
            "message": message,
            "result_id": result_id,
            "test": test,
            "flag": flag,
            "source": source,
        },
    )
    _set(obj, "__pydantic_fields_set__", _FIELDS)
    _set(obj, "__pydantic_extra__", None)
    _set(obj, "__pydantic_private__", None)
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
    code, en, zh = _TABLE[key]
    message = (zh if lang == "zh" else en).format_map(params)
    return reason_with_message(code, message, result_id, test, flag, source)


def with_test(reason: Reason, test: str) -> Reason:
    """The same reason attributed to a panel component."""
    return reason_with_message(
        reason.code, reason.message, reason.result_id, test, reason.flag, reason.source
    )

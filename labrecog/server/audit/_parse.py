"""Parsing a feedback POST (CDS Hooks 2.0 §Feedback): 400 naming the first bad field.

Nothing of a request is stored unless all of it parses, so a client that retries after a
400 never leaves half its feedback behind.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from labrecog.server._errors import ServiceError
from labrecog.server.audit._records import MAX_COMMENT, MAX_FEEDBACK_ITEMS, MAX_ID, FeedbackItem

__all__ = ["parse_feedback"]


def _bad(message: str, path: str) -> ServiceError:
    return ServiceError(400, "bad_feedback", message, code="structure", expression=[path])


_MISSING: Any = object()


def _string(value: Any, path: str, limit: int = MAX_ID) -> str:
    if not isinstance(value, str) or not value or len(value) > limit:
        raise _bad(f"{path} must be a non-empty string of at most {limit} characters", path)
    return value


def _optional_string(obj: dict[str, Any], key: str, path: str, limit: int = MAX_ID) -> str | None:
    value = _present(obj, key, path)
    return None if value is _MISSING else _string(value, path, limit)


def _present(obj: dict[str, Any], key: str, path: str) -> Any:
    """An optional member: ``_MISSING`` when absent; ``null`` is refused (CDS Hooks:
    "JSON elements SHALL NOT be null, unless otherwise specified")."""
    value = obj.get(key, _MISSING)
    if value is None:
        raise _bad(f"{path} must not be null (omit it instead)", path)
    return value


_RFC3339 = re.compile(
    r"^(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})$"
)


def _timestamp(value: Any, path: str) -> str:
    text = _string(value, path, 64)
    match = _RFC3339.match(text)
    parsed: datetime | None = None
    if match:
        day, clock, fraction, offset = match.groups()
        micro = f".{(fraction or '')[:6]:0<6}" if fraction else ""
        zone = "+00:00" if offset in ("Z", "z") else offset
        try:
            parsed = datetime.fromisoformat(f"{day}T{clock}{micro}{zone}")
        except ValueError:
            parsed = None
    if parsed is None:
        raise _bad(f"{path} must be an RFC 3339 date-time with a UTC offset", path)
    return parsed.astimezone(UTC).isoformat()


def parse_feedback(body: Any) -> list[FeedbackItem]:
    """The ``feedback`` array of a feedback POST, checked; 400 names the first problem."""
    if not isinstance(body, dict):
        raise _bad("the request body must be a JSON object", "$")
    entries = body.get("feedback")
    if not isinstance(entries, list) or not entries:
        raise _bad("feedback must be a non-empty array", "feedback")
    if len(entries) > MAX_FEEDBACK_ITEMS:
        raise _bad(f"at most {MAX_FEEDBACK_ITEMS} feedback items per request", "feedback")
    items: list[FeedbackItem] = []
    for i, entry in enumerate(entries):
        at = f"feedback[{i}]"
        if not isinstance(entry, dict):
            raise _bad(f"{at} must be an object", at)
        card = _string(entry.get("card"), f"{at}.card")
        outcome = entry.get("outcome")
        if outcome not in ("accepted", "overridden"):
            raise _bad(f"{at}.outcome must be 'accepted' or 'overridden'", f"{at}.outcome")
        accepted: list[str] = []
        raw_accepted = _present(entry, "acceptedSuggestions", f"{at}.acceptedSuggestions")
        if raw_accepted is not _MISSING or outcome == "accepted":
            if not isinstance(raw_accepted, list) or not raw_accepted:
                raise _bad(
                    f"{at}.acceptedSuggestions must be a non-empty array"
                    + (" for an accepted outcome" if outcome == "accepted" else ""),
                    f"{at}.acceptedSuggestions",
                )
            for j, suggestion in enumerate(raw_accepted):
                where = f"{at}.acceptedSuggestions[{j}]"
                if not isinstance(suggestion, dict):
                    raise _bad(f"{where} must be an object with an id", where)
                accepted.append(_string(suggestion.get("id"), f"{where}.id"))
        system = code = display = comment = None
        reason_obj = _present(entry, "overrideReason", f"{at}.overrideReason")
        if reason_obj is not _MISSING:
            where = f"{at}.overrideReason"
            if not isinstance(reason_obj, dict):
                raise _bad(f"{where} must be an object", where)
            coding = _present(reason_obj, "reason", f"{where}.reason")
            if coding is not _MISSING:
                if not isinstance(coding, dict):
                    raise _bad(f"{where}.reason must be a Coding object", f"{where}.reason")
                system = _optional_string(coding, "system", f"{where}.reason.system")
                code = _string(coding.get("code"), f"{where}.reason.code")
                display = _optional_string(coding, "display", f"{where}.reason.display", 1024)
            comment = _optional_string(
                reason_obj, "userComment", f"{where}.userComment", MAX_COMMENT
            )
        items.append(
            FeedbackItem(
                card_uuid=card,
                outcome=outcome,
                accepted_suggestions=tuple(accepted),
                override_system=system,
                override_code=code,
                override_display=display,
                user_comment=comment,
                outcome_timestamp=_timestamp(
                    entry.get("outcomeTimestamp"), f"{at}.outcomeTimestamp"
                ),
            )
        )
    return items

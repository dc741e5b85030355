"""One input line to one output record: a decision, or an error naming line and field."""

from __future__ import annotations

from typing import Any

import orjson

from labrecog._errors import InputError, InputProblem
from labrecog.engine import Engine
from labrecog.load import loads_strict

__all__ = ["bad_utf8", "evaluate_line", "internal_error_record", "parse_json_line"]


def evaluate_line(engine: Engine, line_no: int, raw: bytes) -> dict[str, Any]:
    """Never raises: every failure becomes the error record of PRODUCT.md §5."""
    try:
        decision = engine.evaluate(parse_json_line(raw))
        return decision.model_dump(mode="json")
    except InputError as exc:
        return exc.to_record(line_no)
    except Exception as exc:  # one bad case must not stop a batch
        return internal_error_record(line_no, exc)


def parse_json_line(raw: bytes) -> Any:
    """One JSONL line's value; an empty or unparsable line is an input error saying why."""
    text = raw.strip()
    if not text:
        raise InputError([InputProblem("", "empty line")])
    try:
        return loads_strict(text)
    except orjson.JSONDecodeError as exc:
        reason = "not valid UTF-8" if bad_utf8(text) else f"not valid JSON: {exc}"
        raise InputError([InputProblem("", reason)]) from None


def internal_error_record(line_no: int, exc: BaseException) -> dict[str, Any]:
    return {
        "line": line_no,
        "order_id": None,
        "error": {
            "code": "internal_error",
            "message": f"{type(exc).__name__}: {exc}",
            "path": "",
        },
    }


def bad_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False

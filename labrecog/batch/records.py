"""One input line to one output record: a decision, or an error naming line and field."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import orjson

from labrecog._errors import InputError, InputProblem
from labrecog.batch._parquet_row import UnreadableRow
from labrecog.batch.lines import OverLongLine
from labrecog.engine import Engine
from labrecog.load import loads_strict
from labrecog.words import Lang, input_text, text

__all__ = [
    "DEFAULT_MAX_PAIRS",
    "CaseLimits",
    "bad_utf8",
    "check_size",
    "error_record",
    "evaluate_line",
    "input_message",
    "internal_error_record",
    "parse_json_line",
    "results_error_record",
]

DEFAULT_MAX_PAIRS: Final = 1_000_000


@dataclass(frozen=True)
class CaseLimits:
    """How much one case may ask for. Work and output grow with ordered tests × prior
    results (each test weighs every prior): 500 × 100,000 took 31 s and wrote a 1.3 GB
    line. 1,000,000 pairs is 500 tests × 2,000 priors or 10 tests × 100,000 priors."""

    max_pairs: int = DEFAULT_MAX_PAIRS


def evaluate_line(
    engine: Engine, line_no: int, raw: bytes, limits: CaseLimits | None = None
) -> dict[str, Any]:
    """Never raises: every failure becomes the error record of docs/decision.md."""
    try:
        data = parse_json_line(raw)
        check_size(data, limits or CaseLimits())
        # what loads_strict returned (JSON types only): the engine's fast path need not
        # check that they are, as evaluate(dict) must for a caller's objects
        decision = engine._evaluate_parsed(data)
        return decision.model_dump(mode="json")
    except InputError as exc:
        return error_record(exc, line_no, engine.lang)
    except Exception as exc:  # one bad case must not stop a batch
        return internal_error_record(line_no, exc)


def error_record(exc: InputError, line_no: int | None, lang: Lang) -> dict[str, Any]:
    """``exc.to_record`` with the message in ``lang`` (the reasons' language); the code
    and the path are the same in every language."""
    record = exc.to_record(line_no)
    if lang == "en":
        return record
    error = {"code": exc.code, "message": input_message(exc, lang), "path": exc.path}
    return {**record, "error": error}


def input_message(exc: InputError, lang: Lang) -> str:
    """What ``str(exc)`` says, each problem's message in ``lang`` beside its path."""
    if lang == "en" or not exc.problems:
        return str(exc)
    colon = text("punct:colon", lang)
    return text("punct:semicolon", lang).join(
        f"{p.path}{colon}{input_text(p.message, lang)}" if p.path else input_text(p.message, lang)
        for p in exc.problems
    )


def check_size(data: Any, limits: CaseLimits) -> None:
    """Refuse, before any work, a case whose tests × prior results exceed the limit."""
    if not isinstance(data, dict):
        return  # not a case: validation says so
    tests, priors = data.get("tests"), data.get("prior_results")
    if not isinstance(tests, list) or not isinstance(priors, list):
        return
    pairs = len(tests) * len(priors)
    if pairs > limits.max_pairs:
        message = (
            f"case too large: {len(tests)} tests × {len(priors)} prior results = {pairs}, "
            f"more than the limit of {limits.max_pairs}; split the order"
        )
        raise InputError([InputProblem("prior_results", message)], _order_id(data))


def _order_id(data: dict[str, Any]) -> str | None:
    order_id = data.get("order_id")
    return order_id if isinstance(order_id, str) else None


def parse_json_line(raw: bytes) -> Any:
    """One JSONL line's value; an empty or unparsable line is an input error saying why."""
    if isinstance(raw, OverLongLine):
        message = f"line is longer than {raw.limit} bytes (the input line size limit)"
        raise InputError([InputProblem("", message)])
    if isinstance(raw, UnreadableRow):  # a Parquet row JSON cannot hold (batch.parquet)
        raise raw.error()
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


def results_error_record(line_no: int, code: str, message: str, path: str) -> dict[str, Any]:
    """The error record (docs/decision.md) plus ``source``: it names a results line, not an
    order."""
    return {
        "line": line_no,
        "source": "results",
        "order_id": None,
        "error": {"code": code, "message": message, "path": path},
    }

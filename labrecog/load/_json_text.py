"""JSON text to data, refusing duplicate keys.

orjson (like most parsers) keeps the last of two equal keys, so
``"patient_id":"P-999","patient_id":"P-001"`` silently reads as P-001: whoever wrote the
first value meant something else, and a case that says two things is refused, as YAML rule
files already are.

orjson does not report duplicates and a Python object hook costs several times the parse,
so the check is a count: parsing can only drop strings (a dropped key, and its value's
strings), never add any, and orjson writes every string back with the same quotes it was
given (``\\"`` stays ``\\"``). When the text holds as many ``"`` as orjson's
re-serialisation of what it parsed, nothing was dropped: one byte count each, at memchr
speed (about the cost of the parse again). A quote written ``\\u0022`` comes back as
``\\"``, one quote more, so text holding one takes the slow, exact path.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

from labrecog._errors import InputError, InputProblem

__all__ = ["big_integer", "duplicate_key", "loads_strict"]

_ESCAPED_QUOTE = b"\\u0022"  # a quote orjson would write back as \" (one more quote)
# orjson reads integers in [-2**63, 2**64 - 1] exactly and any other as a float, silently
# (10**29 became 1.2345678901234568e+29 in ext, carried to the output). Every integer outside
# has at least 19 digits: text without such a run of digits needs no second look. The run is
# looked for with every digit mapped to 0 (about 30 times faster than re's \d{19} search).
_DIGITS_TO_0 = bytes.maketrans(b"0123456789", b"0" * 10)
_LONG_RUN = b"0" * 19
_INT_MIN, _INT_MAX = -(2**63), 2**64 - 1


def loads_strict(raw: bytes | str) -> Any:
    """``orjson.loads``, raising InputError naming the first duplicate key's path.

    orjson.JSONDecodeError passes through for the caller to word.
    """
    data = orjson.loads(raw)
    if not isinstance(data, dict | list):
        return data
    text = raw.encode() if isinstance(raw, str) else raw
    if _LONG_RUN in text.translate(_DIGITS_TO_0):
        problem = big_integer(text)
        if problem is not None:
            raise InputError([problem])
    try:
        # No backslash (one byte, found at memchr speed): no escaped quote either.
        plain = b"\\" not in text or _ESCAPED_QUOTE not in text
        same = plain and text.count(b'"') == orjson.dumps(data).count(b'"')
    except orjson.JSONEncodeError:
        same = False
    if not same:
        problem = duplicate_key(text)
        if problem is not None:
            raise InputError([problem])
    return data


class _Object(dict[str, Any]):
    """A JSON object that remembers the keys it was given more than once."""

    __slots__ = ("dups",)

    def __init__(self) -> None:
        super().__init__()
        self.dups: list[str] = []


def _pairs(pairs: list[tuple[str, Any]]) -> _Object:
    out = _Object()
    for key, value in pairs:
        if key in out:
            out.dups.append(key)
        out[key] = value
    return out


def duplicate_key(text: bytes) -> InputProblem | None:
    """The exact check: the path of the first duplicate key, depth first, or None."""
    try:
        data = json.loads(text, object_pairs_hook=_pairs)
    except ValueError:
        return None  # orjson read it: not ours to judge
    stack: list[tuple[str, Any]] = [("", data)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, _Object):
            if node.dups:
                key = node.dups[0]
                where = f"{path}.{key}" if path else key
                return InputProblem(where, f"duplicate key '{key}': a key may appear once")
            stack.extend((f"{path}.{k}" if path else k, v) for k, v in reversed(list(node.items())))
        elif isinstance(node, list):
            stack.extend((f"{path}[{i}]", v) for i, v in reversed(list(enumerate(node))))
    return None


class _Big:
    """An integer literal orjson would have turned into a float, kept as written."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


def _parse_int(text: str) -> int | _Big:
    if len(text) > 21:  # beyond range whatever the digits; int() refuses over 4300 of them
        return _Big(text)
    value = int(text)
    return value if _INT_MIN <= value <= _INT_MAX else _Big(text)


def big_integer(text: bytes) -> InputProblem | None:
    """The path of the first integer beyond 64 bits, depth first, or None (slow, exact: only
    for text holding a long run of digits, which may be inside a string)."""
    try:
        data = json.loads(text, parse_int=_parse_int)
    except ValueError:
        return None
    stack: list[tuple[str, Any]] = [("", data)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, _Big):
            shown = node.text if len(node.text) <= 40 else node.text[:37] + "..."
            message = (
                f"integer {shown} is beyond 64-bit range and would lose digits: "
                "write it as a string"
            )
            return InputProblem(path, message)
        if isinstance(node, dict):
            stack.extend((f"{path}.{k}" if path else k, v) for k, v in reversed(node.items()))
        elif isinstance(node, list):
            stack.extend((f"{path}[{i}]", v) for i, v in reversed(list(enumerate(node))))
    return None

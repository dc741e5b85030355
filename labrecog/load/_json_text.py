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

__all__ = ["duplicate_key", "loads_strict"]

_ESCAPED_QUOTE = b"\\u0022"  # a quote orjson would write back as \" (one more quote)


def loads_strict(raw: bytes | str) -> Any:
    """``orjson.loads``, raising InputError naming the first duplicate key's path.

    orjson.JSONDecodeError passes through for the caller to word.
    """
    data = orjson.loads(raw)
    if not isinstance(data, dict | list):
        return data
    text = raw.encode() if isinstance(raw, str) else raw
    try:
        same = _ESCAPED_QUOTE not in text and text.count(b'"') == orjson.dumps(data).count(b'"')
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

"""Arrow values as the JSON values of docs/case.md, column by column.

A Parquet column may be typed where the case JSON has text or numbers. Each type becomes
exactly what the contract says, never something validation would accept more easily:
a timestamp with a zone is ISO 8601 text with its UTC offset; a timestamp without one is
written without one, so validation refuses it as it refuses naive JSON text (unless the
rule set declares a ``timezone``, as for JSON); a date is ``YYYY-MM-DD``; a decimal of
scale 0 is an integer, any other a number. A null is an absent field. What JSON cannot
hold (NaN, infinities, bytes that are not UTF-8, durations, times of day, ...) is a
*problem* of its row, named by the path of the value: the row becomes an error record,
never a guess and never a crash of the file.
"""

from __future__ import annotations

import functools
import math
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from decimal import Decimal
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.types as pat

__all__ = ["Problems", "convert"]

#: index in the array -> (path below the value, what is wrong): the first problem only
Problems = dict[int, tuple[str, str]]

_PER_SECOND: Final = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}
_DIGITS: Final = {"s": 0, "ms": 3, "us": 6, "ns": 9}
_EPOCH: Final = datetime(1970, 1, 1)
_EPOCH_DAY: Final = date(1970, 1, 1)


def convert(arr: Any) -> tuple[list[Any], Problems]:
    """The array's values as JSON values (None for null), and the problems by index."""
    kind = arr.type
    if pat.is_dictionary(kind):
        return convert(arr.dictionary_decode())
    if isinstance(kind, pa.ExtensionType):
        return convert(arr.storage)
    if pat.is_struct(kind):
        return _struct(arr)
    if pat.is_map(kind):
        return _map(arr)
    if pat.is_list(kind) or pat.is_large_list(kind) or pat.is_fixed_size_list(kind):
        return _list(arr)
    if pat.is_timestamp(kind):
        return _each(arr.view(pa.int64()).to_pylist(), lambda v: _timestamp(v, kind))
    if pat.is_date32(kind) or pat.is_date64(kind):
        days = arr.view(pa.int32()) if pat.is_date32(kind) else _date64_days(arr)
        return _each(days.to_pylist(), _date)
    if pat.is_decimal(kind):
        return _each(arr.to_pylist(), lambda v: _decimal(v, kind.scale))
    if pat.is_float32(kind) or pat.is_float16(kind):
        # Through Arrow's shortest text of the narrow float: a float32 6.4 is 6.4 as in
        # JSON, not 6.400000095367432, which a reference limit of 6.4 would refuse.
        return _each(arr.cast(pa.string()).to_pylist(), lambda v: _float(float(v)))
    if pat.is_float64(kind):
        return _each(arr.to_pylist(), _float)
    if pat.is_binary(kind) or pat.is_large_binary(kind) or pat.is_fixed_size_binary(kind):
        return _each(arr.to_pylist(), _utf8)
    if pat.is_null(kind):
        return [None] * len(arr), {}
    if (
        pat.is_integer(kind)
        or pat.is_boolean(kind)
        or pat.is_string(kind)
        or pat.is_large_string(kind)
        or _is_string_view(kind)
    ):
        return arr.to_pylist(), {}
    return _each([0 if ok else None for ok in arr.is_valid().to_pylist()], _no_json(kind))


def _is_string_view(kind: Any) -> bool:
    check = getattr(pat, "is_string_view", None)
    return bool(check(kind)) if check is not None else False


class _Unconvertible(ValueError):
    """A value JSON cannot hold; the message says what it was."""


def _each(values: list[Any], one: Any) -> tuple[list[Any], Problems]:
    out: list[Any] = []
    problems: Problems = {}
    for i, value in enumerate(values):
        if value is None:
            out.append(None)
            continue
        try:
            out.append(one(value))
        except _Unconvertible as exc:
            out.append(None)
            problems[i] = ("", str(exc))
    return out, problems


def _below(name: str, path: str) -> str:
    return name + path if not path or path.startswith("[") else f"{name}.{path}"


def _struct(arr: Any) -> tuple[list[Any], Problems]:
    """One dict per valid row; a null field is left out (absent), a null struct is None."""
    names = [arr.type.field(i).name for i in range(arr.type.num_fields)]
    valid = arr.is_valid().to_pylist()
    rows: list[Any] = [{} if ok else None for ok in valid]
    problems: Problems = {}
    twice = {name for name in names if names.count(name) > 1}
    for name, child in zip(names, arr.flatten(), strict=True):
        values, inner = convert(child)
        for i, value in enumerate(values):
            row = rows[i]
            if row is None or value is None:
                continue
            if name in twice and name in row:
                problems.setdefault(i, (name, "the field is given twice (two columns)"))
            row[name] = value
        for i, (path, message) in inner.items():
            if rows[i] is not None:
                problems.setdefault(i, (_below(name, path), message))
    return rows, dict(sorted(problems.items()))


def _list(arr: Any) -> tuple[list[Any], Problems]:
    """One list per valid row (null elements stay null: validation names them)."""
    lengths = pc.list_value_length(arr).to_pylist()
    values, inner = convert(arr.flatten())
    out: list[Any] = []
    problems: Problems = {}
    start = 0
    for i, length in enumerate(lengths):
        if length is None:
            out.append(None)
            continue
        out.append(values[start : start + length])
        for k in range(length):
            if start + k in inner:
                path, message = inner[start + k]
                problems[i] = (f"[{k}]" + ("" if not path or path[0] == "[" else ".") + path,
                               message)  # fmt: skip
                break
        start += length
    return out, problems


def _map(arr: Any) -> tuple[list[Any], Problems]:
    """A map is a JSON object when its keys are text."""
    kind = arr.type
    entries = pa.list_(pa.struct([kind.key_field, kind.item_field]))
    pairs, problems = _list(arr.cast(entries))
    key, item = kind.key_field.name, kind.item_field.name
    out: list[Any] = []
    for i, row in enumerate(pairs):
        if row is None:
            out.append(None)
            continue
        keys = [entry.get(key) for entry in row]
        if not all(isinstance(k, str) for k in keys) or len(set(keys)) != len(keys):
            problems.setdefault(i, ("", "a map whose keys are not distinct text is no JSON object"))
            out.append(None)
            continue
        out.append({entry[key]: entry.get(item) for entry in row})
    return out, problems


@functools.lru_cache(maxsize=64)
def _zone(name: str) -> tzinfo:
    """An Arrow time zone: a fixed offset (``+08:00``) or an IANA name; read once per
    column's zone, not once per value (the cache: a column has one zone)."""
    if name[:1] in "+-" and len(name) == 6 and name[3] == ":":
        sign = -1 if name[0] == "-" else 1
        try:
            hours, minutes = int(name[1:3]), int(name[4:6])
        except ValueError:
            raise _Unconvertible(f"unknown time zone {name!r}") from None
        return timezone(sign * timedelta(hours=hours, minutes=minutes))
    try:
        return UTC if name in ("UTC", "Z") else ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise _Unconvertible(f"unknown time zone {name!r}") from None


def _timestamp(value: int, kind: Any) -> str:
    """ISO 8601 with the offset of the column's zone at that instant; none when the column
    has no zone (a local time: validation decides, as for JSON text without an offset)."""
    seconds, fraction = divmod(value, _PER_SECOND[kind.unit])
    try:
        moment = _EPOCH + timedelta(seconds=seconds)
        if kind.tz:
            moment = moment.replace(tzinfo=UTC).astimezone(_zone(kind.tz))
    except OverflowError:
        raise _Unconvertible("timestamp out of the range of dates") from None
    text = moment.isoformat(timespec="seconds")
    if fraction:
        digits = _DIGITS[kind.unit]
        text = f"{text[:19]}.{fraction:0{digits}d}{text[19:]}"
    return text


def _date64_days(arr: Any) -> Any:
    return pc.divide(arr.view(pa.int64()), 86_400_000)


def _date(days: int) -> str:
    try:
        return (_EPOCH_DAY + timedelta(days=days)).isoformat()
    except OverflowError:
        raise _Unconvertible("date out of the range of dates") from None


def _decimal(value: Decimal, scale: int) -> int | float:
    if scale <= 0:
        return int(value)
    number = float(value)
    if not math.isfinite(number):
        raise _Unconvertible(f"{value} is beyond the range of a JSON number")
    return number


def _float(value: float) -> float:
    if not math.isfinite(value):
        raise _Unconvertible(f"{value} is not a number JSON can hold (NaN or infinity)")
    return value


def _utf8(value: bytes) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise _Unconvertible("binary value that is not UTF-8 text") from None


def _no_json(kind: Any) -> Any:
    def refuse(_: object) -> Any:
        raise _Unconvertible(f"Arrow type {kind} has no JSON value")

    return refuse

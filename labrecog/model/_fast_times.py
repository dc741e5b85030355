"""Timestamps and dates of a case for model/_fast.py, read as the models read them.

Only the canonical form ``YYYY-MM-DDTHH:MM:SS`` with ``+hh:mm``, ``Z`` or no offset is
read here (model/_values's _CANONICAL), to the very value the models build: the same
fields and the same shared tzinfo object (model/_values._ZONES). Anything else raises
:class:`Refused`, and the models read it. Texts repeat across a batch: bounded memos of
their parts save the parsing, never change a value.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, tzinfo
from typing import Any

from pydantic import TypeAdapter, ValidationError
from pydantic_core import PydanticCustomError

from labrecog.model._values import _BASES, _CANONICAL, _EPOCH, Timestamp, _localise

__all__ = ["MEMO_LIMIT", "Refused", "naive_stamps", "read_day", "when"]


class Refused(Exception):
    """Not accepted plainly: the caller validates with the models instead."""


# Bounded, so memory stays flat however many cases pass; a memo only saves work.
MEMO_LIMIT = 16_384
_ZONES_KEPT = 8  # offsets in _DAYS, rule-set zones in _NAIVE (a batch has one or two)
# timestamp texts with an offset, by its three parts: offset ("+08:00", "Z") -> date
# ("2025-04-07") -> midnight in the offset's shared zone; time ("T09:14:00") -> timedelta
_DAYS: dict[str, dict[str, datetime]] = {}
_CLOCKS: dict[str, timedelta] = {}
# per rule-set zone, by id, with the zone itself: text without offset -> its value
_NAIVE: dict[int, tuple[tzinfo | None, dict[str, datetime]]] = {}


def naive_stamps(tz: tzinfo | None) -> dict[str, datetime]:
    """The memo of texts without offset read in the rule set's zone ``tz``."""
    entry = _NAIVE.get(id(tz))
    if entry is None or entry[0] is not tz:  # the entry holds its zone: no id reused
        if len(_NAIVE) >= _ZONES_KEPT:
            _NAIVE.clear()
        entry = _NAIVE[id(tz)] = (tz, {})
    return entry[1]


_fromiso = datetime.fromisoformat
_TIMESTAMP: TypeAdapter[datetime] = TypeAdapter(Timestamp)


def when(value: Any, tz: tzinfo | None, naive: dict[str, datetime]) -> datetime:
    """``YYYY-MM-DDTHH:MM:SS`` with ``+hh:mm``, ``Z`` or no offset (model/_values's
    _CANONICAL), to the value the model builds (by model/_values._fast, in its shared
    zones): from memos of its three parts, each put there from a canonical text read."""
    days = _DAYS.get(value[19:])
    if days is not None:
        midnight = days.get(value[:10])
        if midnight is not None:
            clock = _CLOCKS.get(value[10:19])
            if clock is not None:
                return midnight + clock
    else:
        found = naive.get(value)
        if found is not None:
            return found
    found = _read(value, tz)  # the text is canonical: its parts are memos' keys
    if len(value) == 19:
        _put(naive, value, found)
    else:
        days = _DAYS.get(value[19:])
        if days is None:
            if len(_DAYS) >= _ZONES_KEPT:
                _DAYS.clear()
            days = _DAYS.setdefault(value[19:], {})
        _put(days, value[:10], found.replace(hour=0, minute=0, second=0))
        _put(_CLOCKS, value[10:19], timedelta(hours=found.hour, minutes=found.minute,
                                              seconds=found.second))  # fmt: skip
    return found


def _put(memo: dict[str, Any], key: str, value: Any) -> None:
    if len(memo) >= MEMO_LIMIT:
        memo.clear()
    memo[key] = value


def _read(value: str, tz: tzinfo | None) -> datetime:
    base = _BASES.get(value[19:])  # keys: "", and offsets of canonical texts pydantic read
    if base is None:
        return _first(value, tz)
    # With the separators in place, fromisoformat accepts ASCII digits only: together they
    # are _CANONICAL's YYYY-MM-DDTHH:MM:SS (tests/test_fast_path_times.py holds them so).
    if value[4:17:3] != "--T::":
        raise Refused
    try:
        naive = _fromiso(value[:19])
    except ValueError:
        raise Refused from None
    if not 1900 < naive.year < 8999:
        raise Refused
    if base is not _EPOCH:
        return base + (naive - _EPOCH)
    if tz is None:
        raise Refused
    try:
        return _localise(naive, tz)
    except PydanticCustomError:
        raise Refused from None


def _first(value: str, tz: tzinfo | None) -> datetime:
    """A canonical timestamp of an offset not read before: the model reads it, and so
    shares its zone (model/_values._shared) for the next ones."""
    if type(value) is not str or _CANONICAL(value) is None:
        raise Refused  # any other form: the model's path decides
    try:
        return _TIMESTAMP.validate_python(value, context={"timezone": tz})
    except ValidationError:
        raise Refused from None


_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}").fullmatch


def read_day(value: object) -> date:
    if type(value) is not str or _DAY(value) is None:
        raise Refused
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise Refused from None

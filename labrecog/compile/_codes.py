"""Local codes as hospitals write them: exact matching after Unicode NFKC and trimming.

A catalogue code, alias or local HIS code (``GLU``, ``糖化血红蛋白``, ``HIS-00231``) names
a test only when the incoming code is *the same text*: after NFKC (full-width ``ＧＬＵ`` is
``GLU``, an ideographic space is a space) and with leading and trailing whitespace
trimmed. Never a substring, never case-folded, inner whitespace kept as written. NFKC does
not fold look-alikes from other scripts (Cyrillic ``А`` stays U+0410), so they stay other
codes. A code holding an invisible character (zero-width space or joiners, a byte-order
mark, any other format or control character) matches nothing: two codes that look the same
must not name different tests, and such a code cannot be checked by eye.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, overload

from labrecog.load import Panel, RuleFile, TestDef

__all__ = ["CodeTable", "code_tables", "invisible", "normalise_code"]

Path = tuple[str | int, ...]

# Unicode categories that print nothing (or break a line): control, format (U+200B..U+200D,
# U+2060, U+FEFF), surrogate, private use, unassigned, line and paragraph separators.
_INVISIBLE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
_MISSING: Any = object()
_T = TypeVar("_T")


def invisible(text: str) -> str | None:
    """The first character of ``text`` that prints nothing, as ``U+200B``; None if none."""
    for ch in text:
        if unicodedata.category(ch) in _INVISIBLE:
            return f"U+{ord(ch):04X}"
    return None


def normalise_code(code: str) -> str | None:
    """The form codes are compared in, or None for a code that must match nothing.

    ASCII is NFKC-stable, so the common code costs a strip and a printability check.
    """
    if code.isascii():
        trimmed = code.strip()
        return trimmed if trimmed and trimmed.isprintable() else None
    trimmed = unicodedata.normalize("NFKC", code).strip()
    if not trimmed or invisible(trimmed) is not None:
        return None
    return trimmed


class CodeTable(dict[str, str]):
    """Normalised code -> catalogue code. A lookup tries the code as given first (the hot
    path: one dict probe), and normalises only a code that is not found."""

    __slots__ = ()

    @overload
    def get(self, key: str, default: None = None, /) -> str | None: ...
    @overload
    def get(self, key: str, default: str, /) -> str: ...
    @overload
    def get(self, key: str, default: _T, /) -> str | _T: ...

    def get(self, key: str, default: object = None, /) -> object:
        found = dict.get(self, key, _MISSING)
        if found is not _MISSING:
            return found
        if not isinstance(key, str):
            return default
        norm = normalise_code(key)
        if norm is None or norm == key:
            return default
        return dict.get(self, norm, default)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.get(key) is not None

    def __missing__(self, key: str) -> str:
        found = self.get(key)
        if found is None:
            raise KeyError(key)
        return found


def code_tables(
    rules: RuleFile,
    add: Callable[[Sequence[str | int], str], None],
    where: Callable[[Sequence[str | int]], object],
) -> tuple[CodeTable, CodeTable, dict[str, str]]:
    """(order codes, result codes, LOINC codes) -> catalogue code, every problem reported
    through ``add`` (``where`` gives a path's file:line:col).

    Codes and aliases share one namespace, compared normalised: an order code must name
    exactly one item, so two names equal after NFKC and trimming are a load error naming
    both places.
    """
    order, result = CodeTable(), CodeTable()
    loinc: dict[str, str] = {}
    first: dict[str, tuple[str, Path]] = {}  # normalised -> (as written, where)

    def claim(name: str, owner: str, path: Path, is_test: bool) -> None:
        norm = normalise_code(name)
        if norm is None:
            hidden = invisible(name)
            what = f"contains the invisible character {hidden}" if hidden else "is blank"
            add(path, f"alias {name!r} {what}: an alias must be visible text")
            return
        if norm in order:
            written, at = first[norm]
            same = "" if written == name else (
                f" as '{written}' (the same after Unicode NFKC normalisation and trimming)"
            )  # fmt: skip
            owner_now = order[norm]
            add(path, f"code or alias '{name}' is already used by {owner_now}{same} ({where(at)})")
            return
        order[norm] = owner
        first[norm] = (name, path)
        if is_test:
            result[norm] = owner

    def claim_loinc(code: str, owner: str, path: Path) -> None:
        if code in loinc:
            add(path, f"LOINC {code} is already mapped to {loinc[code]}")
            return
        loinc[code] = owner

    groups: tuple[tuple[str, tuple[TestDef | Panel, ...]], ...] = (
        ("tests", rules.tests),
        ("panels", rules.panels),
    )
    for kind, entries in groups:
        for i, entry in enumerate(entries):
            claim(entry.code, entry.code, (kind, i, "code"), kind == "tests")
            for j, alias in enumerate(entry.aliases):
                claim(alias, entry.code, (kind, i, "aliases", j), kind == "tests")
            for j, code in enumerate(entry.loinc):
                claim_loinc(code, entry.code, (kind, i, "loinc", j))
    return order, result, loinc

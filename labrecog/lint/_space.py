"""The set of cases a condition's ``when:`` admits, reasoned about exactly.

A condition's clauses are independent dimensions (setting, sex, age band, ordering
institution, its level, its region prefixes, the flags), so the cases two conditions both
admit are the intersection dimension by dimension, and it is empty exactly when one
dimension is. The linter decides overlap and shadowing here, by reasoning over the
condition language rather than by sampling cases, and builds a witness case from what is
left. Flags are the only dimension that needs care: ``any:`` groups (at least one of) and
``none:`` (none of) interact.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, TypeVar

from labrecog.compile import CCondition

__all__ = ["SETTINGS", "Space", "space_of"]

T = TypeVar("T")

SETTINGS: Final = frozenset({"outpatient", "inpatient", "emergency", "checkup"})
SEXES: Final = frozenset({"male", "female"})
LEVELS: Final = frozenset({1, 2, 3})


@dataclass(frozen=True, slots=True)
class Space:
    """Cases a ``when:`` admits. ``None`` in a set-valued field means "any value"."""

    settings: frozenset[str] | None
    sexes: frozenset[str] | None
    age_lo: int  # inclusive, completed years
    age_hi: int | None  # exclusive; None: no upper bound
    institutions: frozenset[str] | None
    levels: frozenset[int] | None
    regions: frozenset[str] | None  # region-code prefixes, any of which
    flags_all: frozenset[str]
    flags_none: frozenset[str]
    flags_any: tuple[frozenset[str], ...]  # each group needs one flag

    # -- emptiness -------------------------------------------------------------------
    def empty_dimension(self) -> str | None:
        """The clause that admits no case at all, or None when some case is admitted."""
        if self.settings is not None and not self.settings:
            return "setting"
        if self.sexes is not None and not self.sexes:
            return "sex"
        if self.age_hi is not None and self.age_lo >= self.age_hi:
            return "age"
        if self.institutions is not None and not self.institutions:
            return "institution"
        if self.levels is not None and not self.levels:
            return "institution_level"
        if self.regions is not None and not self.regions:
            return "region"
        if self.flags_all & self.flags_none:
            return "flags"
        if any(not (group - self.flags_none) for group in self.flags_any):
            return "flags"
        return None

    def is_empty(self) -> bool:
        return self.empty_dimension() is not None

    # -- intersection and containment ------------------------------------------------
    def meet(self, other: Space) -> Space:
        """The cases both admit (possibly empty: see :meth:`is_empty`)."""
        return Space(
            settings=_meet(self.settings, other.settings),
            sexes=_meet(self.sexes, other.sexes),
            age_lo=max(self.age_lo, other.age_lo),
            age_hi=_min_bound(self.age_hi, other.age_hi),
            institutions=_meet(self.institutions, other.institutions),
            levels=_meet(self.levels, other.levels),
            regions=_meet_prefixes(self.regions, other.regions),
            flags_all=self.flags_all | other.flags_all,
            flags_none=self.flags_none | other.flags_none,
            flags_any=self.flags_any + other.flags_any,
        )

    def covers(self, other: Space) -> bool:
        """Every case ``other`` admits, this admits too (sound; exact unless flags interact).

        Only a True answer is acted on (a condition reported as never having an effect), so
        where the flag dimension makes containment hard to decide exactly, this answers False.
        """
        if other.is_empty():
            return True
        return (
            _subset(other.settings, self.settings)
            and _subset(other.sexes, self.sexes)
            and self.age_lo <= other.age_lo
            and (self.age_hi is None or (other.age_hi is not None and other.age_hi <= self.age_hi))
            and _subset(other.institutions, self.institutions)
            and _subset(other.levels, self.levels)
            and _prefixes_cover(self.regions, other.regions)
            and self.flags_all <= _forced(other)
            and self.flags_none <= other.flags_none
            and all(_group_guaranteed(group, other) for group in self.flags_any)
        )

    # -- a concrete case -------------------------------------------------------------
    def witness(self, default_institution: dict[str, Any]) -> dict[str, Any] | None:
        """A compact test case (the ``case:`` of a rule-set test) this space admits.

        Unconstrained dimensions keep the test-case builder's defaults, except the ordering
        institution, which is always spelt out (id, region, level) so that the registry
        cannot fill in a level or region outside the space.
        """
        if self.is_empty():
            return None
        spec: dict[str, Any] = {}
        if self.settings is not None:
            spec["setting"] = min(self.settings)
        if self.sexes is not None:
            spec["sex"] = min(self.sexes)
        if self.age_lo > 0 or self.age_hi is not None:
            spec["patient_age"] = self.age_lo
        flags = set(self.flags_all)
        for group in self.flags_any:
            if not group & flags:
                flags.add(min(group - self.flags_none))
        if flags:
            spec["flags"] = sorted(flags)
        ordering = dict(default_institution)
        if self.institutions is not None:
            ordering["id"] = min(self.institutions)
        if self.levels is not None:
            ordering["level"] = min(self.levels)
        elif not isinstance(ordering.get("level"), int):
            ordering["level"] = 3
        if self.regions is not None:
            ordering["region"] = _region_for(min(self.regions))
        elif not ordering.get("region"):
            ordering["region"] = "110000"
        spec["ordering"] = ordering
        return spec


def space_of(cond: CCondition) -> Space:
    """What a compiled condition's ``when:`` admits."""
    return Space(
        settings=cond.settings or None,
        sexes=frozenset({cond.sex}) if cond.sex is not None else None,
        age_lo=max(cond.age_min or 0, 0),
        age_hi=cond.age_max,
        institutions=cond.institutions or None,
        levels=cond.levels or None,
        regions=frozenset(cond.regions) or None,
        flags_all=cond.flags_all,
        flags_none=cond.flags_none,
        flags_any=(cond.flags_any,) if cond.flags_any else (),
    )


def _meet(a: frozenset[T] | None, b: frozenset[T] | None) -> frozenset[T] | None:
    if a is None:
        return b
    if b is None:
        return a
    return a & b


def _subset(inner: frozenset[T] | None, outer: frozenset[T] | None) -> bool:
    if outer is None:
        return True
    return inner is not None and inner <= outer


def _min_bound(a: int | None, b: int | None) -> int | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


def _meet_prefixes(a: frozenset[str] | None, b: frozenset[str] | None) -> frozenset[str] | None:
    """Regions starting with a prefix of ``a`` and one of ``b``: the longer of each pair
    where one is a prefix of the other."""
    if a is None:
        return b
    if b is None:
        return a
    out: set[str] = set()
    for x in a:
        for y in b:
            if y.startswith(x):
                out.add(y)
            elif x.startswith(y):
                out.add(x)
    return frozenset(out)


def _prefixes_cover(outer: frozenset[str] | None, inner: frozenset[str] | None) -> bool:
    if outer is None:
        return True
    if inner is None:
        return False
    return all(any(p.startswith(q) for q in outer) for p in inner)


def _forced(space: Space) -> frozenset[str]:
    """Flags every admitted case carries: ``all:``, and an ``any:`` group left one choice."""
    forced = set(space.flags_all)
    for group in space.flags_any:
        left = group - space.flags_none
        if len(left) == 1:
            forced |= left
    return frozenset(forced)


def _group_guaranteed(group: frozenset[str], space: Space) -> bool:
    """Every case of ``space`` carries a flag of ``group``."""
    if group & _forced(space):
        return True
    return any(other - space.flags_none <= group for other in space.flags_any)


def _region_for(prefix: str) -> str:
    """A region code starting with ``prefix``: six digits, as the codes of China are."""
    return prefix.ljust(6, "0") if len(prefix) < 6 else prefix

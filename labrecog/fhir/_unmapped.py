"""Laboratory results no catalogue test claims: passed on, never dropped in silence.

A newer potassium coded with a LOINC the rule set does not map is still the newest
potassium: if the reader dropped it, an older, mapped one would be used instead and nobody
would know. So a *laboratory* Observation that maps to no catalogue test is passed into
``prior_results`` with the code it has; the engine measures nothing with it, but can warn
that a newer result could not be mapped.

Such a result must never cost the order its decision: it is read leniently. Whatever would
be a problem (no performer, no time, another patient's subject, a value the Case model
refuses) leaves that one Observation out instead, and the problems it raised are discarded.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import tzinfo
from itertools import islice
from typing import Any, Protocol

from pydantic import ValidationError

from labrecog.compile import CompiledRules
from labrecog.fhir._codes import OBSERVATION_CATEGORY, code_of, is_loinc
from labrecog.fhir._refs import Res, codings
from labrecog.model import PriorResult

__all__ = ["Checkpoint", "is_laboratory", "unmapped_identity", "valid_prior"]

_LOINC_CODE = re.compile(r"[0-9]{1,7}-[0-9]")
_MAX_CODE = 128  # the Case model's limit on ids and codes


def is_laboratory(chain: list[Res]) -> bool:
    """A result of a DiagnosticReport, or an Observation (or group) categorised laboratory.

    Vital signs, social history and surveys are not lab results: they stay out.
    """
    if any(node.type == "DiagnosticReport" for node in chain[1:]):
        return True
    return any(_lab_category(node.data) for node in chain if node.type == "Observation")


def _lab_category(data: Mapping[str, Any]) -> bool:
    categories = data.get("category")
    if not isinstance(categories, list):
        return False
    return any(
        isinstance(c.get("system"), str)
        and c["system"].strip() == OBSERVATION_CATEGORY
        and code_of(c) == "laboratory"
        for concept in categories
        for _, c in codings(concept)
    )


def unmapped_identity(
    res: Res, rules: CompiledRules
) -> tuple[dict[str, str], dict[str, str]] | None:
    """``code`` (the first coding's code) and ``loinc`` of an unmapped result, with paths.

    None when there is nothing to name it by, and for a grouping Observation (``hasMember``)
    or one whose LOINC names a catalogue panel: it is not a result, its members are. A code
    that a catalogue code pattern would match (a LOINC read as a local code) is left out,
    lest the engine take the result for that test; the LOINC alone then names it.
    """
    if "hasMember" in res.data:
        return None
    at = f"{res.path}.code"
    code: tuple[str, str] | None = None
    loinc: tuple[str, str] | None = None
    for j, coding in codings(res.data.get("code")):
        value = code_of(coding)
        if value is None:
            continue
        where = f"{at}.coding[{j}].code"
        if is_loinc(coding.get("system")):
            if value in rules.loinc:
                return None  # a LOINC the rule set maps, not to a test: a panel
            if loinc is None and _LOINC_CODE.fullmatch(value):
                loinc = (value, where)
        if code is None:
            code = (value, where)
    named: dict[str, str] = {}
    where_from: dict[str, str] = {}
    if code is not None and len(code[0]) <= _MAX_CODE and not rules.resolve_result_code(code[0]):
        named["code"], where_from["code"] = code
    if loinc is not None:
        named["loinc"], where_from["loinc"] = loinc
    return (named, where_from) if named else None


def valid_prior(prior: Mapping[str, Any], tz: tzinfo | None, patient: str | None) -> bool:
    """Whether the Case model accepts this prior result (as it will when the case is read):
    valid on its own, and the bundle's patient's."""
    if prior.get("patient_id") != patient:
        return False
    try:
        PriorResult.model_validate(prior, context={"timezone": tz})
    except ValidationError:
        return False
    return True


class _State(Protocol):
    problems: list[Any]
    refusals: list[Any]
    where: dict[str, str]
    observations: dict[str, str]
    orgs: dict[int, Any]


class Checkpoint:
    """What the reader had recorded before reading one result, to undo it if the result is
    discarded (a lenient read) or set aside as unreadable (``take``).

    The reader only appends to these while reading one result (new keys go to the end of
    a dict), so undoing is dropping what came after the checkpoint.
    """

    __slots__ = ("_sizes", "_state")

    def __init__(self, state: _State) -> None:
        self._state = state
        self._sizes = (
            len(state.problems),
            len(state.where),
            len(state.observations),
            len(state.orgs),
            len(state.refusals),
        )

    @property
    def troubled(self) -> bool:
        """Whether the read since the checkpoint raised any problem."""
        return len(self._state.problems) > self._sizes[0]

    def undo(self) -> None:
        """Forget the read entirely, refusals too (an unmapped result is never one)."""
        self.take()
        del self._state.refusals[self._sizes[4] :]

    def take(self) -> list[Any]:
        """The problems raised since the checkpoint, removed; what the read recorded is
        undone (an Organization is read again, so its problems reach every result naming
        it), but refusals stay: they refuse the Bundle whatever the result."""
        s = self._state
        taken = s.problems[self._sizes[0] :]
        del s.problems[self._sizes[0] :]
        _truncate(s.where, self._sizes[1])
        _truncate(s.observations, self._sizes[2])
        _truncate(s.orgs, self._sizes[3])
        return taken


def _truncate(mapping: dict[Any, Any], size: int) -> None:
    """Drop the keys added after the dict had ``size`` of them (the newest are last)."""
    for key in list(islice(reversed(mapping), len(mapping) - size)):
        del mapping[key]

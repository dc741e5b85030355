"""Results that cannot be read: set aside with their problems, never refusing the Bundle.

A mapped result whose read raised a problem (no laboratory, no collection time, a value
the Case model refuses, ...) becomes one of the case's ``unreadable_results``: what it is
known to be (id, code, LOINC, collection time) and why it could not be read, named by the
path in the caller's document. The engine withholds the waivers it might contradict
(``unreadable_result``). What is recorded is only what is known for sure: a value the Case
model would refuse (an id over 128 characters, a time without offset) is left out, and a
date without a time stands for every instant it may denote (``_when``).

``docs/fhir.md`` ("What refuses a Bundle and what makes one result unusable") draws the
line between this and an input error.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from labrecog._errors import InputError, InputProblem
from labrecog.engine import Engine, input_error
from labrecog.fhir._codes import code_of, is_loinc
from labrecog.fhir._problems import FhirInputError, ReadState
from labrecog.fhir._refs import Res, codings
from labrecog.fhir._time import partial_span
from labrecog.fhir._values import collection_time, lineage
from labrecog.model import Case

__all__ = ["report_identity", "set_aside", "validate"]

_LOINC = re.compile(r"[0-9]{1,7}-[0-9]")
_MAX_ID = 128  # the Case model's limit on ids and codes
_PRIOR = re.compile(r"prior_results\[([0-9]+)\]")
# Case-model errors that are about the whole case even when they name one result.
_WHOLE_CASE = frozenset({"patient_mismatch", "duplicate_result"})


def set_aside(
    st: ReadState,
    res: Res,
    rid: str | None,
    problems: Sequence[InputProblem],
    identities: Sequence[dict[str, Any]],
    collected: Any,
    *,
    result: bool = True,
) -> None:
    """Record ``res`` as unreadable, once per identity (codings naming different tests
    make one record per test). ``result``: an Observation read as a result, whose id must
    be unique among the results (a report or group whose members cannot be read is not)."""
    if rid is not None:
        st.observations.setdefault(rid, res.ref)
        if result:
            other = st.unreadable_ids.get(rid)
            if other is not None:
                st.refuse(f"{res.path}.id", f"result id {rid} is also used by {other}")
            st.unreadable_ids.setdefault(rid, f"{res.path}.id")
    record: dict[str, Any] = {
        "problems": [
            {"path": st.outside(p.path), "message": st.outside_text(p.message)} for p in problems
        ]
    }
    if _is_id(rid):
        record["id"] = rid
    when = _when(st, collected)
    if when is not None:
        record["collected_at"] = when
    for identity in identities:
        out = dict(record)
        if _is_id(identity.get("code")):
            out["code"] = identity["code"]
        loinc = identity.get("loinc")
        if isinstance(loinc, str) and _LOINC.fullmatch(loinc):
            out["loinc"] = loinc
        st.unreadable.append(out)


def report_identity(res: Res) -> dict[str, Any]:
    """The first LOINC and the first other code of a report (or group): a panel's LOINC
    makes the engine take it for every component of the panel."""
    out: dict[str, Any] = {}
    for _, coding in codings(res.data.get("code")):
        code = code_of(coding)
        if code is None:
            continue
        out.setdefault("loinc" if is_loinc(coding.get("system")) else "code", code)
    return out


def _is_id(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= _MAX_ID


def _when(st: ReadState, value: Any) -> datetime | None:
    """The collection time to judge an unreadable result by: a date without a time is its
    latest instant if that is before the order (then it is newer than any result it can
    be), its earliest if that is after the order (then it is not one to have seen), and
    otherwise unknown; anything that is not a time is unknown."""
    try:
        span = partial_span(value)
    except ValueError:
        return None
    if span is None:
        return None if value is None else st.instant(value)
    if st.ordered is None:
        return None
    if span.last <= st.ordered:
        return span.last
    return span.first if span.first > st.ordered else None


def validate(st: ReadState, engine: Engine, data: dict[str, Any]) -> Case:
    """The case, validated; a prior result the Case model refuses on its own (every error
    inside it, and none about the whole case) is set aside as unreadable, and the rest
    validated again. Any other complaint refuses the Bundle, named by FHIR path."""
    while True:
        try:
            case = Case.model_validate(data, context={"timezone": st.tz})
        except ValidationError as exc:
            errors = exc.errors(include_url=False)
            problems = input_error(exc, data).problems
            bad: dict[int, list[InputProblem]] = {}
            for err, problem in zip(errors, problems, strict=True):
                loc = err["loc"]
                if (
                    len(loc) < 2
                    or loc[0] != "prior_results"
                    or not isinstance(loc[1], int)
                    or err["type"] in _WHOLE_CASE
                ):
                    raise _refused(st, problems) from None
                bad.setdefault(loc[1], []).append(problem)
            _move(st, data, bad)
            continue
        try:
            return engine.validate_case(case)  # the rule set's flags
        except InputError as exc:
            raise _refused(st, exc.problems) from None


def _refused(st: ReadState, problems: Sequence[InputProblem]) -> FhirInputError:
    named = [
        InputProblem(st.outside(st.fhir_path(p.path)), st.outside_text(p.message)) for p in problems
    ]
    return FhirInputError(named, st.order_id)


def _move(st: ReadState, data: dict[str, Any], bad: dict[int, list[InputProblem]]) -> None:
    """Prior results ``bad`` to unreadable_results; the case paths of the others renumbered."""
    priors: list[dict[str, Any]] = data["prior_results"]
    for i, problems in sorted(bad.items()):
        prior = priors[i]
        if prior.get("shared", True) is not True:
            continue  # withheld by the patient (or unclear whether): neither used nor shown
        rid = prior.get("id")
        fhir = [InputProblem(st.fhir_path(p.path), p.message) for p in problems]
        where = Res(st.fhir_path(f"prior_results[{i}]"), {})
        when = collection_time(st, lineage(st, st.collected[i]))
        set_aside(st, where, rid, fhir, [prior], when)
    data["prior_results"] = [p for i, p in enumerate(priors) if i not in bad]
    st.collected = [c for i, c in enumerate(st.collected) if i not in bad]
    data["unreadable_results"] = st.unreadable
    renumbered: dict[str, str] = {}
    for key, path in st.where.items():
        match = _PRIOR.match(key)
        if match is None:
            renumbered[key] = path
            continue
        i = int(match[1])
        if i not in bad:
            shift = sum(1 for j in bad if j < i)
            renumbered[f"prior_results[{i - shift}]{key[match.end() :]}"] = path
    st.where = renumbered

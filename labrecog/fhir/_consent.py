"""Consent: may results from elsewhere be used for this order, for which visit, until
when, and which of them?

Recognition is granted only when an active Consent of the patient permits, in force at
the order time, and none denies. The permit read is the first that holds for this order
(in force, and bound to no visit or to the order's), else the one given last, so that the
engine can say why it does not hold. It gives the case's ``authorization``: the code, the
period, the visit, and the institutions and results it covers (docs/fhir.md, "Consent").
A permit with an element labrecog cannot interpret (an actor of another role, data of
another kind, two visits) authorises nothing: an unread restriction must not widen it.
Results a permit's nested deny names stay out of the decision (``_observations`` marks
them not shared).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from labrecog.check import within
from labrecog.fhir._codes import (
    AUTHORIZATION_CODE_SYSTEM,
    CONSENT_ROLES,
    EXT_BOUND_ENCOUNTER,
    EXT_ENDS_WITH_VISIT,
)
from labrecog.fhir._organizations import organization
from labrecog.fhir._patient import same_patient
from labrecog.fhir._problems import ReadState
from labrecog.fhir._refs import MAPS, Json, Res, codings, extension, ref_id
from labrecog.fhir._visit import VISIT_MEANINGS, kind_of, order_visit, visit_of

__all__ = ["read_consent"]

#: provision.data meanings that make an Observation one of the results covered.
RESULT_MEANINGS = frozenset({"instance", "related", "dependents"})
_NEVER = datetime.min.replace(tzinfo=UTC)


@dataclass
class _Permit:
    """One permitting Consent as the case's ``authorization`` (without ``granted``)."""

    in_force: bool
    given: datetime | None
    visit: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    where: dict[str, str] = field(default_factory=dict)  # case path -> FHIR path

    def put(self, key: str, value: Any, path: str) -> None:
        self.fields[key] = value
        self.where[f"authorization.{key}"] = path


def read_consent(st: ReadState) -> dict[str, Any]:
    """The case's ``authorization``; results withheld by a permit in force are noted."""
    permits: list[_Permit] = []
    deny = False
    for res in st.index.of_type("Consent"):
        d, at = res.data, res.path
        if d.get("status") != "active":
            continue
        other = same_patient(st, d.get("patient"), f"{at}.patient", res)
        if other is not None:
            st.problem(f"{at}.patient", f"the Consent is patient {other}'s")
            continue
        provision = d.get("provision")
        if not isinstance(provision, MAPS):
            continue
        permit = _period(st, provision, at)
        if permit is None:
            continue
        if provision.get("type") == "deny":
            deny = deny or permit.in_force
        elif provision.get("type") == "permit":
            if permit.in_force and not _withheld(st, provision, f"{at}.provision", res):
                continue
            if _read(st, res, provision, permit):
                permits.append(permit)
    if deny or not permits:
        return {"granted": False}
    visit = order_visit(st)
    holding = [p for p in permits if p.in_force and p.visit in (None, visit)]
    chosen = holding[0] if holding else max(permits, key=lambda p: p.given or _NEVER)
    st.where.update(chosen.where)
    return {"granted": chosen.in_force, **chosen.fields}


def _read(st: ReadState, res: Res, provision: Json, permit: _Permit) -> bool:
    """Fill in the code, visit and coverage; False if the permit cannot be interpreted."""
    d, at = res.data, res.path
    permit.where["authorization"] = at
    code = _code(d, at)
    if code is not None:
        permit.put("code", *code)
    visits: list[tuple[str, str]] = []
    bound = extension(d, EXT_BOUND_ENCOUNTER, at)
    if bound is not None:
        visit = visit_of(st, bound[0], bound[1], res) if isinstance(bound[0], MAPS) else None
        if visit is None:
            return False
        visits.append((visit, bound[1]))
    results: list[tuple[str, str]] = []
    if not _data(st, res, provision, visits, results):
        return False
    if len({v for v, _ in visits}) > 1:
        return False  # bound to two visits: not one authorisation per visit
    if visits:
        permit.visit = visits[0][0]
        permit.put("encounter", *visits[0])
    ends = extension(d, EXT_ENDS_WITH_VISIT, at)
    if ends is not None:
        permit.put("ends_with_visit", *ends)
    institutions = _custodians(st, res, provision)
    if institutions is None:
        return False
    for key, found, element in (
        ("institutions", institutions, "actor"),
        ("results", results, "data"),
    ):
        if found:
            permit.put(key, [value for value, _ in found], f"{at}.provision.{element}")
            for i, (_, path) in enumerate(found):
                permit.where[f"authorization.{key}[{i}]"] = path
    return True


def _code(d: Json, at: str) -> tuple[Any, str] | None:
    """The dynamic code: labrecog's identifier first (it says what it is), then what the
    Consent names as its source (the platform's authorisation record), by identifier, else
    by reference."""
    idents = d.get("identifier")
    if isinstance(idents, list):
        for k, ident in enumerate(idents):
            if (
                isinstance(ident, MAPS)
                and ident.get("system") == AUTHORIZATION_CODE_SYSTEM
                and "value" in ident
            ):
                return ident["value"], f"{at}.identifier[{k}].value"
    source = d.get("sourceReference")
    if isinstance(source, MAPS):
        ident = source.get("identifier")
        if isinstance(ident, MAPS) and "value" in ident:
            return ident["value"], f"{at}.sourceReference.identifier.value"
        if "reference" in source:
            return source["reference"], f"{at}.sourceReference.reference"
    return None


def _data(
    st: ReadState,
    res: Res,
    provision: Json,
    visits: list[tuple[str, str]],
    results: list[tuple[str, str]],
) -> bool:
    """provision.data: Encounters bind the visit, Observations are the results covered;
    False for anything else."""
    data = provision.get("data")
    if data is None:
        return True
    if not isinstance(data, list):
        return False
    for m, item in enumerate(data):
        at = f"{res.path}.provision.data[{m}].reference"
        if not isinstance(item, MAPS) or not isinstance(item.get("reference"), MAPS):
            return False
        meaning, ref = item.get("meaning"), item["reference"]
        found, _ = st.index.resolve(ref, at, res, [])
        kind = kind_of(st, ref, res)
        if kind == "Encounter" and meaning in VISIT_MEANINGS:
            visit = visit_of(st, ref, at, res)
            if visit is None:
                return False
            visits.append((visit, at))
        elif kind == "Observation" and meaning in RESULT_MEANINGS:
            rid = _result_id(found) if found is not None else _literal_id(ref)
            if rid is None:
                return False
            results.append((rid, at))
        else:
            return False
    return True


def _literal_id(ref: Json) -> str | None:
    reference = ref.get("reference")
    return ref_id(reference) if isinstance(reference, str) and "/" in reference else None


def _result_id(res: Res) -> str | None:
    """The prior result's id an Observation is read as (``_observations._result_id``)."""
    rid = res.id if res.container is None else f"{res.container.ref}#{res.id or ''}"
    return rid or res.full_url


def _custodians(st: ReadState, res: Res, provision: Json) -> list[tuple[str, str]] | None:
    """provision.actor: the custodians (CST), whose results the permit covers; None if an
    actor has another role or names no institution."""
    actors = provision.get("actor")
    if actors is None:
        return []
    if not isinstance(actors, list):
        return None
    out: list[tuple[str, str]] = []
    for k, actor in enumerate(actors):
        at = f"{res.path}.provision.actor[{k}]"
        if not isinstance(actor, MAPS):
            return None
        roles = {(c.get("system"), c.get("code")) for _, c in codings(actor.get("role"))}
        if not roles & CONSENT_ROLES:
            return None
        found = organization(st, actor.get("reference"), f"{at}.reference", res)
        if found is None:
            return None
        inst, where = found
        out.append((inst["id"], where.get(".id", f"{at}.reference")))
    return out


def _withheld(st: ReadState, provision: Json, at: str, origin: Res) -> bool:
    """Mark results a nested deny names; False if a nested deny cannot be read."""
    nested = provision.get("provision")
    if not isinstance(nested, list):
        return True
    for k, inner in enumerate(nested):
        if not isinstance(inner, MAPS) or inner.get("type") != "deny":
            continue
        data = inner.get("data")
        if not isinstance(data, list) or not data:
            return False  # a deny by class, code or actor: not interpreted, so no permit
        for m, item in enumerate(data):
            ref = item.get("reference") if isinstance(item, MAPS) else None
            found, _ = st.index.resolve(
                ref, f"{at}.provision[{k}].data[{m}].reference", origin, st.problems
            )
            if found is not None:
                st.unshared.add(id(found.data))
    return True


# --- the period ----------------------------------------------------------------------------


def _period(st: ReadState, provision: Json, at: str) -> _Permit | None:
    """provision.period as granted_at and expires_at, and whether it is in force at the
    order time; None if it cannot be read (a problem says why, where there is one)."""
    permit = _Permit(in_force=False, given=None)
    period = provision.get("period")
    if period is not None and not isinstance(period, MAPS):
        return None
    expires: datetime | None = None
    for bound, key in (("start", "granted_at"), ("end", "expires_at")):
        value = period.get(bound) if period is not None else None
        if value is None:
            continue
        path = f"{at}.provision.period.{bound}"
        found = _instant(st, value, path, bound == "end")
        if found is None:
            return None
        moment, written = found
        permit.put(key, written, path)
        if bound == "start":
            permit.given = moment
        else:
            expires = moment
    permit.in_force = st.ordered is not None and within(st.ordered, permit.given, expires)
    return permit


def _instant(st: ReadState, value: Any, at: str, end: bool) -> tuple[datetime, Any] | None:
    """A bound as an instant and as the case will say it. A bare date covers that whole
    day where the order is placed (in the order's offset): from its midnight, or, as an
    end, up to the next midnight. A full time is an instant; as an end, the first at which
    the permit no longer holds."""
    if isinstance(value, str) and len(value) == 10:
        day = _as_date(value)
        if day is not None:
            if st.ordered is None:
                return None
            moment = datetime.combine(day + timedelta(days=end), time(), st.ordered.tzinfo)
            return moment, moment.isoformat()
    moment_at = st.time(value, at)
    return None if moment_at is None else (moment_at, value)


def _as_date(value: str) -> date | None:
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None

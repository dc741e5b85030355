"""Consent: may results from elsewhere be used for this order, and which are withheld?

Recognition is granted only when an active Consent of the patient permits, in force at
the order time, and none denies. Results a permit's nested deny names stay out of the
decision (``_observations`` marks them not shared).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from labrecog.fhir._patient import same_patient
from labrecog.fhir._problems import ReadState
from labrecog.fhir._refs import MAPS, Json, Res

__all__ = ["read_consent"]


def read_consent(st: ReadState) -> bool:
    """Granted when an active Consent permits and none denies; withheld results noted."""
    permit = deny = False
    for res in st.index.of_type("Consent"):
        d, at = res.data, res.path
        if d.get("status") != "active":
            continue
        other = same_patient(st, d.get("patient"), f"{at}.patient", res)
        if other is not None:
            st.problem(f"{at}.patient", f"the Consent is patient {other}'s")
            continue
        provision = d.get("provision")
        if not isinstance(provision, MAPS) or not _in_period(st, provision, at):
            continue
        if provision.get("type") == "deny":
            deny = True
        elif provision.get("type") == "permit" and _withheld(st, provision, f"{at}.provision", res):
            permit = True
            st.where.setdefault("authorization", at)
    return permit and not deny


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


def _in_period(st: ReadState, provision: Json, at: str) -> bool:
    """A permit or deny counts only if its period covers the order time."""
    period = provision.get("period")
    if period is None:
        return True
    if not isinstance(period, MAPS) or st.ordered is None:
        return False
    for bound in ("start", "end"):
        value = period.get(bound)
        if value is None:
            continue
        edge = _bound(st, value, f"{at}.provision.period.{bound}")
        if edge is None:
            return False
        if bound == "start" and not _not_after(edge, st.ordered):
            return False
        if bound == "end" and not _not_after(st.ordered, edge):
            return False
    return True


def _bound(st: ReadState, value: Any, at: str) -> datetime | date | None:
    if isinstance(value, str) and len(value) == 10:
        day = _as_date(value)
        if day is not None:
            return day
    return st.time(value, at)


def _not_after(a: datetime | date, b: datetime | date) -> bool:
    """a <= b, comparing calendar days when either side is a bare date."""
    if isinstance(a, datetime) and isinstance(b, datetime):
        return a <= b
    day_a = a.date() if isinstance(a, datetime) else a
    day_b = b.date() if isinstance(b, datetime) else b
    return day_a <= day_b


def _as_date(value: Any) -> date | None:
    if not isinstance(value, str):
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None

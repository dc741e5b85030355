"""The visit: which Encounter the order is placed in, and which one a Consent is bound to.

Both sides name the visit the same way (:func:`visit_of`), so that an authorisation given
for a visit holds for the orders of that visit and no other. The order's visit is its
ServiceRequests' ``encounter``; labrecog needs it only to check a Consent bound to a visit,
so it is read (``context.encounter``) when a Consent of the Bundle is bound to one. Orders
that name different visits name no one visit: a bound authorisation then cannot be proved
(fail closed), but nothing else is lost.
"""

from __future__ import annotations

from typing import Any

from labrecog.fhir._codes import EXT_BOUND_ENCOUNTER
from labrecog.fhir._problems import ReadState
from labrecog.fhir._refs import MAPS, Json, Res, conditional, ref_id

__all__ = ["VISIT_MEANINGS", "kind_of", "order_context", "order_visit", "visit_of"]

#: provision.data meanings that bind a Consent to the Encounter named.
VISIT_MEANINGS = frozenset({"related", "dependents"})


def order_context(st: ReadState, setting: str | None) -> dict[str, Any]:
    """The case's ``context``: the setting, and the order's visit if a Consent needs it."""
    context: dict[str, Any] = {"setting": setting} if setting else {}
    if _bound(st):
        visits = _visits(st)
        if visits and all(visit == visits[0][0] for visit, _ in visits):
            context["encounter"] = visits[0][0]
            st.where["context.encounter"] = visits[0][1]
    return context


def order_visit(st: ReadState) -> str | None:
    """The one visit every order that names one names; None if none, or several."""
    visits = {visit for visit, _ in _visits(st)}
    return visits.pop() if len(visits) == 1 else None


def _visits(st: ReadState) -> list[tuple[str, str]]:
    """(visit, path) for each order that names one, in order."""
    wanted = set(st.requests)
    found: list[tuple[str, str]] = []
    for res in st.index.of_type("ServiceRequest"):
        if res.ref in wanted and "encounter" in res.data:
            at = f"{res.path}.encounter"
            visit = visit_of(st, res.data["encounter"], at, res)
            if visit is not None:
                found.append((visit, at))
    return found


def _bound(st: ReadState) -> bool:
    """Whether a Consent of the Bundle binds a visit (extension or provision.data)."""
    for res in st.index.of_type("Consent"):
        exts = res.data.get("extension")
        if isinstance(exts, list) and any(
            isinstance(e, MAPS) and e.get("url") == EXT_BOUND_ENCOUNTER for e in exts
        ):
            return True
        provision = res.data.get("provision")
        data = provision.get("data") if isinstance(provision, MAPS) else None
        if isinstance(data, list) and any(
            isinstance(item, MAPS)
            and isinstance(item.get("reference"), MAPS)
            and kind_of(st, item["reference"], res) == "Encounter"
            for item in data
        ):
            return True
    return False


def kind_of(st: ReadState, ref: Json, origin: Res) -> str | None:
    """The resource type a Reference names: the resource's in the Bundle, else its
    literal's type part (``Encounter/enc-1``), else its ``type``."""
    found, _ = st.index.resolve(ref, "", origin, [])
    if found is not None:
        return found.type
    reference = ref.get("reference")
    if isinstance(reference, str) and conditional(reference) is None:
        parts = reference.split("/_history/")[0].rstrip("/").split("/")
        if len(parts) >= 2:
            return parts[-2]
    kind = ref.get("type")
    return kind if isinstance(kind, str) else None


def visit_of(st: ReadState, value: Any, at: str, origin: Res) -> str | None:
    """The visit a Reference names, as the same string wherever it is named: the
    Encounter's id (in the Bundle, or the id part of a literal reference), else its
    identifier as ``system|value`` (``|value`` without a system); None if it names no
    visit that outlives the Bundle (an Encounter known only by a ``urn:`` placeholder) or
    is not an Encounter."""
    found, ref = st.index.resolve(value, at, origin, [])
    if found is not None:
        if found.type != "Encounter":
            return None
        if found.id is not None:
            return found.id
        url = found.full_url or ""
        return ref_id(url) if "/Encounter/" in url else None
    if ref is None:
        return None
    reference = ref.get("reference")
    if isinstance(reference, str):
        if conditional(reference) is not None:
            return None  # Encounter?identifier=... not in the Bundle: not followed
        parts = reference.split("/_history/")[0].rstrip("/").split("/")
        return parts[-1] if len(parts) >= 2 and parts[-2] == "Encounter" else None
    ident = ref.get("identifier")
    if isinstance(ident, MAPS) and ref.get("type") in (None, "Encounter"):
        system, number = ident.get("system"), ident.get("value")
        if isinstance(number, str) and number:
            system = system if isinstance(system, str) else ""
            for res in st.index.of_type("Encounter"):
                if res.id is not None and _has(res, system, number):
                    return res.id  # the Bundle's Encounter with this identifier
            return f"{system}|{number}"  # never an id: ids have no "|"
    return None


def _has(res: Res, system: str, value: str) -> bool:
    idents = res.data.get("identifier")
    return isinstance(idents, list) and any(
        isinstance(i, MAPS) and i.get("value") == value and (i.get("system") or "") == system
        for i in idents
    )

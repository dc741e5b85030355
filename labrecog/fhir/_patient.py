"""The Patient: one per Bundle, and every order, result and consent must be theirs."""

from __future__ import annotations

from typing import Any

from labrecog.fhir._problems import ReadState, Stop
from labrecog.fhir._refs import MAPS, Json, Res, ref_id

__all__ = ["read_patient", "same_patient"]

GENDERS = {"male": "male", "female": "female", "other": "unknown", "unknown": "unknown"}


def read_patient(st: ReadState) -> dict[str, Any]:
    """The case's ``patient``; a Bundle of no or several patients is refused."""
    patients = list(st.index.of_type("Patient"))
    if not patients:
        st.problem("entry", "the Bundle holds no Patient")
        raise Stop
    for extra in patients[1:]:
        st.problem(
            extra.path,
            f"a second Patient ({extra.ref}): a Bundle is one "
            f"patient's order, and {patients[0].ref} is already there",
        )
    if st.problems:
        raise Stop
    res = st.patient = patients[0]
    pid = res.id or res.full_url
    if pid is None:
        st.problem(f"{res.path}.id", "the Patient has neither id nor fullUrl")
        raise Stop
    st.where["patient"] = res.path
    st.where["patient.id"] = f"{res.path}.id"
    out: dict[str, Any] = {"id": pid}
    gender = res.data.get("gender")
    if gender is not None:
        st.where["patient.sex"] = f"{res.path}.gender"
        out["sex"] = GENDERS.get(gender, gender) if isinstance(gender, str) else gender
    birth = res.data.get("birthDate")
    if birth is not None:
        st.where["patient.birth_date"] = f"{res.path}.birthDate"
        out["birth_date"] = birth
    return out


def same_patient(st: ReadState, value: Any, at: str, origin: Res) -> str | None:
    """None if the reference names the bundle's Patient, else the other patient's id."""
    assert st.patient is not None
    found, ref = st.index.resolve(value, at, origin, st.problems)
    if found is st.patient:
        return None
    if found is None and ref is not None and "reference" not in ref:
        ident = ref.get("identifier")
        if isinstance(ident, MAPS) and _has_identifier(st.patient.data, ident):
            return None
        if isinstance(ident, MAPS) and isinstance(ident.get("value"), str):
            return str(ident["value"])
        return "(unidentified)"
    if found is not None:
        return found.id or found.full_url or found.path
    reference = ref.get("reference") if ref is not None else None
    return ref_id(reference) if isinstance(reference, str) else "(unidentified)"


def _has_identifier(resource: Json, ident: Json) -> bool:
    idents = resource.get("identifier")
    if not isinstance(idents, list):
        return False
    return any(
        isinstance(i, MAPS)
        and i.get("value") == ident.get("value")
        and i.get("system") == ident.get("system")
        for i in idents
    )

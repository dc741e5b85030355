"""Organizations (directly, or a PractitionerRole's) as labrecog institutions.

Institutions are named by identifier, never by resource id: the same laboratory has a
different resource id in every feed, but one identifier. Read for the ordering
institution (``_orders``) and the performing laboratory (``_performer``).
"""

from __future__ import annotations

from typing import Any

from labrecog.fhir._codes import EXT_INSTITUTION_LEVEL, EXT_INSTITUTION_REGION
from labrecog.fhir._problems import ReadState
from labrecog.fhir._refs import MAPS, Res, conditional, extension, ref_id

__all__ = ["Found", "organization"]

#: An institution and, by suffix of its case path ("", ".id", ".region"...), where it was read.
Found = tuple[dict[str, Any], dict[str, str]]


def organization(st: ReadState, value: Any, at: str, origin: Res) -> Found | None:
    """An institution from a Reference to an Organization or a PractitionerRole."""
    found, ref = st.index.resolve(value, at, origin, st.problems)
    if found is not None and found.type == "PractitionerRole":
        org = found.data.get("organization")
        if org is None:
            return None
        at, origin = f"{found.path}.organization", found
        found, ref = st.index.resolve(org, at, origin, st.problems)
        if found is not None and found.type != "Organization":
            return None
    if found is not None and found.type == "Organization":
        return _institution(st, found)
    if found is None and ref is not None:
        reference = ref.get("reference")
        searched = conditional(reference) if isinstance(reference, str) else None
        if searched is not None and searched[0] == "Organization":
            # Organization?identifier=system|value, not in the Bundle: named by identifier.
            named: dict[str, Any] = {"id": searched[2]}
            if isinstance(ref.get("display"), str):
                named["name"] = ref["display"]
            return named, {"": at, ".id": f"{at}.reference"}
        is_org = ref.get("type") == "Organization" or (
            isinstance(reference, str)
            and ref_id(reference) != reference
            and reference.rstrip("/").rsplit("/", 2)[-2:-1] == ["Organization"]
        )
        ident = ref.get("identifier")
        if is_org and isinstance(ident, MAPS) and "value" in ident:
            inst: dict[str, Any] = {"id": ident["value"]}
            where = {"": at, ".id": f"{at}.identifier.value"}
            if isinstance(ref.get("display"), str):
                inst["name"] = ref["display"]
            return inst, where
    return None


def _institution(st: ReadState, org: Res) -> Found | None:
    """Read once per Organization: its problems are reported once, however often named."""
    key = id(org.data)
    if key in st.orgs:
        return st.orgs[key]
    found = st.orgs[key] = _read_institution(st, org)
    return found


def _read_institution(st: ReadState, org: Res) -> Found | None:
    d, at = org.data, org.path
    where = {"": at}
    idents = d.get("identifier")
    chosen: tuple[int, Any] | None = None
    if isinstance(idents, list):
        usable = [(k, i) for k, i in enumerate(idents) if isinstance(i, MAPS) and "value" in i]
        official = [(k, i) for k, i in usable if i.get("use") == "official"]
        pick = official or usable
        chosen = (pick[0][0], pick[0][1]["value"]) if pick else None
    if chosen is None:
        st.problem(
            f"{at}.identifier",
            "the Organization has no identifier: labrecog "
            "names institutions by identifier, never by resource id",
        )
        return None
    inst: dict[str, Any] = {"id": chosen[1]}
    where[".id"] = f"{at}.identifier[{chosen[0]}].value"
    if isinstance(d.get("name"), str):
        inst["name"] = d["name"]
        where[".name"] = f"{at}.name"
    region = extension(d, EXT_INSTITUTION_REGION, at)
    if region is None and isinstance(d.get("address"), list):
        for k, address in enumerate(d["address"]):
            if isinstance(address, MAPS):
                region = extension(address, EXT_INSTITUTION_REGION, f"{at}.address[{k}]")
                if region is not None:
                    break
    if region is not None:
        inst["region"], where[".region"] = region
    level = extension(d, EXT_INSTITUTION_LEVEL, at)
    if level is not None:
        inst["level"], where[".level"] = level
    return inst, where

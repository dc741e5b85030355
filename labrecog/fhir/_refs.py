"""A FHIR Bundle as an index of resources, and references resolved against it.

Works on parsed JSON (plain dicts): nothing here needs ``fhir.resources``. Every resource
keeps the FHIR path it was found at (``entry[3].resource``, ``entry[3].resource.contained[0]``)
so that problems can name the element a user has to fix.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import unquote

from labrecog._errors import InputProblem

__all__ = ["MAPS", "BundleIndex", "Json", "Res", "codings", "conditional", "extension", "ref_id"]

Json = Mapping[str, Any]
#: isinstance() against this tuple settles plain dicts (what JSON parsers return) before
#: the slower abstract-base-class check.
MAPS = (dict, Mapping)


class Res:
    """One resource of the bundle: top-level (an entry) or contained in one."""

    __slots__ = ("container", "data", "full_url", "id", "path", "type")

    def __init__(
        self, path: str, data: Json, container: Res | None = None, full_url: str | None = None
    ) -> None:
        self.path = path
        self.data = data
        self.container = container
        self.full_url = full_url
        kind = data.get("resourceType")
        self.type: str = kind if isinstance(kind, str) else ""
        rid = data.get("id")
        self.id: str | None = rid if isinstance(rid, str) and rid else None

    @property
    def ref(self) -> str:
        """How this resource is referenced: ``Type/id``, else its fullUrl, else its path."""
        if self.container is not None:
            return f"{self.container.ref}#{self.id or ''}"
        if self.id is not None:
            return f"{self.type}/{self.id}"
        return self.full_url or self.path

    @property
    def top(self) -> Res:
        return self.container or self


def ref_id(reference: str) -> str:
    """The id part of a literal reference (``Patient/P-1`` -> ``P-1``)."""
    tail = reference.split("/_history/")[0].rstrip("/")
    return tail.rsplit("/", 1)[-1].lstrip("#") or reference


def codings(concept: Any) -> list[tuple[int, Json]]:
    """The codings of a CodeableConcept that are objects, with their index."""
    if not isinstance(concept, MAPS):
        return []
    found = concept.get("coding")
    if not isinstance(found, list):
        return []
    return [(j, c) for j, c in enumerate(found) if isinstance(c, MAPS)]


def extension(d: Json, url: str, at: str) -> tuple[Any, str] | None:
    """The value of the first extension with this url, and its path."""
    exts = d.get("extension")
    if not isinstance(exts, list):
        return None
    for k, ext in enumerate(exts):
        if isinstance(ext, MAPS) and ext.get("url") == url:
            for key, value in ext.items():
                if key.startswith("value"):
                    return value, f"{at}.extension[{k}].{key}"
    return None


def conditional(reference: str) -> tuple[str, str | None, str] | None:
    """``Type?identifier=[system|]value`` as (type, system, value); system None = any.

    Synthea and other transaction writers reference shared resources (Organizations,
    Practitioners) this way; any other search is not a reference labrecog can follow.
    """
    kind, sep, query = reference.partition("?")
    name, eq, raw = query.partition("=")
    if not sep or not kind.isalpha() or name != "identifier" or not eq or "&" in raw:
        return None
    token = unquote(raw)
    system, bar, value = token.partition("|")
    if not bar:
        return (kind, None, token) if token else None
    return (kind, system, value) if value else None


def _identified(resource: Json, system: str | None, value: str) -> bool:
    """Whether the resource has this identifier (any system if ``system`` is None)."""
    idents = resource.get("identifier")
    if not isinstance(idents, list):
        return False
    return any(
        isinstance(i, MAPS)
        and i.get("value") == value
        and (system is None or (i.get("system") or "") == system)
        for i in idents
    )


class BundleIndex:
    """Resources by ``Type/id`` and by fullUrl; contained resources by their container."""

    def __init__(self, entries: list[Res]) -> None:
        self.entries = entries
        self._by_key: dict[str, Res] = {}
        self._by_type: dict[str, list[Res]] = {}
        for res in entries:
            self._by_type.setdefault(res.type, []).append(res)
            keys = [res.full_url] if res.full_url else []
            if res.id is not None and res.type:
                keys.append(f"{res.type}/{res.id}")
            for key in keys:
                self._by_key.setdefault(key, res)

    def of_type(self, kind: str) -> list[Res]:
        return self._by_type.get(kind, [])

    def resolve(
        self, value: Any, at: str, origin: Res, problems: list[InputProblem]
    ) -> tuple[Res | None, Json | None]:
        """The resource a Reference points to, and the Reference itself (if well formed).

        A reference that is not in the bundle resolves to ``None`` (the caller decides
        whether that matters); a malformed one is a problem at ``at``.
        """
        if not isinstance(value, MAPS):
            problems.append(InputProblem(at, "expected a Reference (a JSON object)"))
            return None, None
        reference = value.get("reference")
        if reference is None:
            return None, value  # a logical reference (identifier) or a display only
        if not isinstance(reference, str) or not reference:
            problems.append(InputProblem(f"{at}.reference", "expected a non-empty string"))
            return None, None
        if reference.startswith("#"):
            return self._contained(origin.top, reference[1:]), value
        found = self._by_key.get(reference)
        if found is None and "/_history/" in reference:
            found = self._by_key.get(reference.split("/_history/")[0])
        if found is None and "?" in reference:
            found = self._by_identifier(reference)
        return found, value

    def _by_identifier(self, reference: str) -> Res | None:
        """The one resource a conditional reference names; None if none or several."""
        parsed = conditional(reference)
        if parsed is None:
            return None
        kind, system, value = parsed
        matches = [res for res in self.of_type(kind) if _identified(res.data, system, value)]
        return matches[0] if len(matches) == 1 else None

    def contained(self, container: Res) -> Iterator[Res]:
        items = container.data.get("contained")
        if not isinstance(items, list):
            return
        for k, item in enumerate(items):
            if isinstance(item, MAPS):
                yield Res(f"{container.path}.contained[{k}]", item, container)

    def _contained(self, container: Res, local: str) -> Res | None:
        for res in self.contained(container):
            if res.id == local:
                return res
        return None

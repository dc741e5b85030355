"""Reading a FHIR R4 Bundle (plain dicts) into a labrecog Case.

The reader maps elements; it does not judge them. Whatever the Case model or the engine
would refuse (a timestamp without offset, a status that may not be used, a value that does
not convert) is left for them to refuse, and their complaint is translated back to the FHIR
path the value came from. ``docs/fhir.md`` lists every element read.

Each kind of resource has its module (``_patient``, ``_orders``, ``_organizations``,
``_consent``, ``_observations``, ``_values``); they share one ``ReadState``
(``_problems``). This one checks the Bundle's shape and reads the parts in order: the
order time must be known before a Consent's period or a partial result date is read.

A result that cannot be read is not an input error: it becomes one of the case's
``unreadable_results`` (``_unreadable``), and only its tests lose a waiver. What makes
the whole case undecidable (no patient, no order, a bad order, another patient's result)
is a :class:`FhirInputError`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from labrecog._errors import InputProblem
from labrecog.engine import Engine
from labrecog.fhir._consent import read_consent
from labrecog.fhir._observations import read_priors
from labrecog.fhir._orders import read_ordered_at, read_ordering_institution, read_requests
from labrecog.fhir._patient import read_patient
from labrecog.fhir._problems import FhirInputError, ReadState, Stop
from labrecog.fhir._refs import MAPS, BundleIndex, Res
from labrecog.fhir._unreadable import validate
from labrecog.fhir._visit import order_context
from labrecog.model import Case

__all__ = ["FhirCase", "FhirInputError", "read_bundle"]

BUNDLE_TYPES = ("collection", "searchset", "transaction", "batch")


@dataclass(frozen=True)
class FhirCase:
    """A case read from a Bundle, with the FHIR references its parts came from."""

    case: Case
    requests: tuple[str, ...]  # "ServiceRequest/<id>" for each case.tests[i], same order
    # prior_results (and unreadable_results) id -> "Observation/<id>"
    observations: Mapping[str, str]

    @property
    def patient(self) -> str:
        """The reference to the Patient (``Patient/<id>``, or its ``urn:uuid:`` fullUrl)."""
        pid = self.case.patient.id
        return pid if ":" in pid else f"Patient/{pid}"


def read_bundle(
    bundle: Mapping[str, Any],
    engine: Engine,
    *,
    ordered_at: datetime | None = None,
    institution: Mapping[str, Any] | None = None,
    order_id: str | None = None,
    sources: Sequence[str] | None = None,
) -> FhirCase:
    """Read a FHIR R4 Bundle (parsed JSON) into a validated case.

    ``ordered_at`` is used only when no ServiceRequest has ``authoredOn``; ``institution``
    (``{"id", "region", "level"}``) only when neither requester nor encounter names the
    ordering organisation; ``order_id`` replaces the one read from the bundle. ``sources``:
    for each ``Bundle.entry[i]``, the path of its resource in the document the caller got
    it from (a CDS request's ``prefetch.labResults.entry[0].resource``), so that problems
    name what the caller sent. Results that cannot be read become ``unreadable_results``;
    raises :class:`FhirInputError` naming FHIR paths when the case cannot be decided.
    """
    reader = _Reader(engine, bundle)
    reader.sources = sources
    try:
        data = reader.read(ordered_at, institution, order_id)
    except FhirInputError as exc:
        problems = [
            InputProblem(reader.outside(p.path), reader.outside_text(p.message))
            for p in exc.problems
        ]
        raise FhirInputError(problems, exc.order_id) from None
    case = validate(reader, engine, data)
    return FhirCase(case, tuple(reader.requests), dict(reader.observations))


class _Reader(ReadState):
    """One read of one Bundle: the case as a dict, before the Case model validates it."""

    def read(
        self,
        ordered_at: datetime | None,
        institution: Mapping[str, Any] | None,
        order_id: str | None,
    ) -> dict[str, Any]:
        try:
            self.index = self._entries()
            patient = read_patient(self)
            tests, times, ordering, setting, requisition = read_requests(self, patient)
            self.order_id = order_id or requisition or self._bundle_order_id()
            case: dict[str, Any] = {
                "order_id": self.order_id,
                "ordered_at": read_ordered_at(self, times, ordered_at),
                "patient": patient,
                "institution": read_ordering_institution(self, ordering, institution),
                "context": order_context(self, setting),
                "authorization": read_consent(self),
                "tests": tests,
            }
            case["prior_results"] = read_priors(self)
            case["unreadable_results"] = self.unreadable
        except Stop:
            raise self.fail() from None
        self.problems.extend(self.refusals)
        if self.problems:
            raise self.fail()
        if case["order_id"] is None:
            self.problem(
                "identifier",
                "no order id: give ServiceRequest.requisition, Bundle.identifier or Bundle.id",
            )
            raise self.fail()
        return case

    def _entries(self) -> BundleIndex:
        b = self.bundle
        if not isinstance(b, MAPS):
            self.problem("", "a Bundle must be a JSON object")
            raise Stop
        if b.get("resourceType") != "Bundle":
            self.problem("resourceType", f"expected 'Bundle', got {b.get('resourceType')!r}")
            raise Stop
        kind = b.get("type")
        if kind not in BUNDLE_TYPES:
            self.problem(
                "type", f"Bundle.type must be one of {', '.join(BUNDLE_TYPES)}, got {kind!r}"
            )
            raise Stop
        entries = b.get("entry")
        if not isinstance(entries, list):
            self.problem("entry", "the Bundle has no entry list")
            raise Stop
        found: list[Res] = []
        for i, entry in enumerate(entries):
            at = f"entry[{i}]"
            if not isinstance(entry, MAPS):
                self.problem(at, "expected a JSON object")
                continue
            resource = entry.get("resource")
            if resource is None:
                continue  # a transaction DELETE, say: nothing to read
            if not isinstance(resource, MAPS) or not isinstance(resource.get("resourceType"), str):
                self.problem(f"{at}.resource", "expected a resource with a resourceType")
                continue
            full_url = entry.get("fullUrl")
            found.append(
                Res(
                    f"{at}.resource",
                    resource,
                    None,
                    full_url if isinstance(full_url, str) else None,
                )
            )
        if self.problems:
            raise Stop
        return BundleIndex(found)

    def _bundle_order_id(self) -> str | None:
        ident = self.bundle.get("identifier")
        if isinstance(ident, MAPS) and isinstance(ident.get("value"), str):
            self.where["order_id"] = "identifier.value"
            return str(ident["value"])
        if isinstance(self.bundle.get("id"), str):
            self.where["order_id"] = "id"
            return str(self.bundle["id"])
        return None

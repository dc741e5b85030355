"""Reading a FHIR R4 Bundle (plain dicts) into a labrecog Case.

The reader maps elements; it does not judge them. Whatever the Case model or the engine
would refuse (a timestamp without offset, a status that may not be used, a value that does
not convert) is left for them to refuse, and their complaint is translated back to the FHIR
path the value came from. ``docs/fhir.md`` lists every element read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from typing import Any

from pydantic import TypeAdapter, ValidationError

from labrecog._errors import InputError, InputProblem
from labrecog.engine import Engine
from labrecog.fhir._codes import (
    EXT_INSTITUTION_LEVEL,
    EXT_INSTITUTION_REGION,
    EXT_RECOGNITION_MARK,
    EXT_SHARED,
    FHIR_FLAG_SYSTEM,
    REFERENCE_RANGE_MEANING,
    SETTINGS,
    SPECIMEN_CODES,
    UCUM,
    V3_CONFIDENTIALITY,
    code_of,
    is_loinc,
)
from labrecog.fhir._performer import performing_lab
from labrecog.fhir._refs import MAPS, BundleIndex, Json, Res, conditional, ref_id
from labrecog.fhir._refs import codings as _codings
from labrecog.fhir._time import widen
from labrecog.fhir._unmapped import Checkpoint, is_laboratory, unmapped_identity, valid_prior
from labrecog.model.case import Case, Timestamp

__all__ = ["FhirCase", "FhirInputError", "read_bundle"]

BUNDLE_TYPES = ("collection", "searchset", "transaction", "batch")
ORDER_STATUSES = ("draft", "active")
INTENTS = frozenset(
    {
        "proposal",
        "plan",
        "directive",
        "order",
        "original-order",
        "reflex-order",
        "filler-order",
        "instance-order",
    }
)
GENDERS = {"male": "male", "female": "female", "other": "unknown", "unknown": "unknown"}
# A report (or grouping Observation) that is not (yet) final makes its members unusable,
# whatever they say. A parent status missing or not listed here counts as "unknown".
USABLE_PARENT_STATUSES = ("final", "amended", "corrected", "appended")
USABLE_STATUSES = ("final", "amended", "corrected")
PARENT_STATUS_OVERRIDES = {
    "registered": "registered",
    "partial": "preliminary",
    "preliminary": "preliminary",
    "cancelled": "cancelled",
    "entered-in-error": "entered-in-error",
    "unknown": "unknown",
}
_TIMESTAMP: TypeAdapter[datetime] = TypeAdapter(Timestamp)
_EFFECTIVE = ("effectiveDateTime", "effectiveInstant", "effectivePeriod", "effectiveTiming")


class FhirInputError(InputError):
    """A Bundle that cannot become a case; problems are named by FHIR path
    (``entry[3].resource.effectiveDateTime``)."""


@dataclass(frozen=True)
class FhirCase:
    """A case read from a Bundle, with the FHIR references its parts came from."""

    case: Case
    requests: tuple[str, ...]  # "ServiceRequest/<id>" for each case.tests[i], same order
    observations: Mapping[str, str]  # prior_results id -> "Observation/<id>"

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
) -> FhirCase:
    """Read a FHIR R4 Bundle (parsed JSON) into a validated case.

    ``ordered_at`` is used only when no ServiceRequest has ``authoredOn``; ``institution``
    (``{"id", "region", "level"}``) only when neither requester nor encounter names the
    ordering organisation; ``order_id`` replaces the one read from the bundle. Raises
    :class:`FhirInputError` naming FHIR paths.
    """
    reader = _Reader(engine, bundle)
    data = reader.read(ordered_at, institution, order_id)
    try:
        case = engine.validate_case(data)
    except InputError as exc:
        problems = [InputProblem(reader.fhir_path(p.path), p.message) for p in exc.problems]
        raise FhirInputError(problems, exc.order_id) from None
    return FhirCase(case, tuple(reader.requests), dict(reader.observations))


class _Stop(Exception):
    """The bundle cannot be read further; the problems collected so far say why."""


class _Reader:
    def __init__(self, engine: Engine, bundle: Mapping[str, Any]) -> None:
        self.rules = engine.rules
        self.tz: tzinfo | None = engine.rules.timezone
        self.bundle = bundle
        self.problems: list[InputProblem] = []
        self.where: dict[str, str] = {}  # case path -> FHIR path it was read from
        self.requests: list[str] = []
        self.observations: dict[str, str] = {}
        self.order_id: str | None = None
        self.index = BundleIndex([])
        self.patient: Res | None = None
        self.parents: dict[int, Res] = {}  # id(observation data) -> report or group
        self.unshared: set[int] = set()  # id(observation data) the patient withheld
        self.ordered: datetime | None = None
        self.orgs: dict[int, tuple[dict[str, Any], dict[str, str]] | None] = {}

    # -- plumbing ----------------------------------------------------------------------

    def problem(self, path: str, message: str) -> None:
        self.problems.append(InputProblem(path, message))

    def fhir_path(self, case_path: str) -> str:
        """The FHIR path a case path was read from (the longest recorded prefix)."""
        path = case_path
        while True:
            found = self.where.get(path)
            if found is not None:
                return found
            cut = max(path.rfind("."), path.rfind("["))
            if cut <= 0:
                return self.where.get("", "")
            path = path[:cut]

    def fail(self) -> FhirInputError:
        return FhirInputError(self.problems, self.order_id)

    # -- the bundle --------------------------------------------------------------------

    def read(
        self,
        ordered_at: datetime | None,
        institution: Mapping[str, Any] | None,
        order_id: str | None,
    ) -> dict[str, Any]:
        try:
            self.index = self._entries()
            patient = self._patient()
            tests, times, ordering, setting, requisition = self._requests(patient)
            self.order_id = order_id or requisition or self._bundle_order_id()
            case: dict[str, Any] = {
                "order_id": self.order_id,
                "ordered_at": self._ordered_at(times, ordered_at),
                "patient": patient,
                "institution": self._ordering_institution(ordering, institution),
                "context": {"setting": setting} if setting else {},
                "authorization": {"granted": self._consent()},
                "tests": tests,
            }
            case["prior_results"] = self._priors()
        except _Stop:
            raise self.fail() from None
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
            raise _Stop
        if b.get("resourceType") != "Bundle":
            self.problem("resourceType", f"expected 'Bundle', got {b.get('resourceType')!r}")
            raise _Stop
        kind = b.get("type")
        if kind not in BUNDLE_TYPES:
            self.problem(
                "type", f"Bundle.type must be one of {', '.join(BUNDLE_TYPES)}, got {kind!r}"
            )
            raise _Stop
        entries = b.get("entry")
        if not isinstance(entries, list):
            self.problem("entry", "the Bundle has no entry list")
            raise _Stop
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
            raise _Stop
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

    # -- patient -----------------------------------------------------------------------

    def _patient(self) -> dict[str, Any]:
        patients = list(self.index.of_type("Patient"))
        if not patients:
            self.problem("entry", "the Bundle holds no Patient")
            raise _Stop
        for extra in patients[1:]:
            self.problem(
                extra.path,
                f"a second Patient ({extra.ref}): a Bundle is one "
                f"patient's order, and {patients[0].ref} is already there",
            )
        if self.problems:
            raise _Stop
        res = self.patient = patients[0]
        pid = res.id or res.full_url
        if pid is None:
            self.problem(f"{res.path}.id", "the Patient has neither id nor fullUrl")
            raise _Stop
        self.where["patient"] = res.path
        self.where["patient.id"] = f"{res.path}.id"
        out: dict[str, Any] = {"id": pid}
        gender = res.data.get("gender")
        if gender is not None:
            self.where["patient.sex"] = f"{res.path}.gender"
            out["sex"] = GENDERS.get(gender, gender) if isinstance(gender, str) else gender
        birth = res.data.get("birthDate")
        if birth is not None:
            self.where["patient.birth_date"] = f"{res.path}.birthDate"
            out["birth_date"] = birth
        return out

    def same_patient(self, value: Any, at: str, origin: Res) -> str | None:
        """None if the reference names the bundle's Patient, else the other patient's id."""
        assert self.patient is not None
        found, ref = self.index.resolve(value, at, origin, self.problems)
        if found is self.patient:
            return None
        if found is None and ref is not None and "reference" not in ref:
            ident = ref.get("identifier")
            if isinstance(ident, MAPS) and _has_identifier(self.patient.data, ident):
                return None
            if isinstance(ident, MAPS) and isinstance(ident.get("value"), str):
                return str(ident["value"])
            return "(unidentified)"
        if found is not None:
            return found.id or found.full_url or found.path
        reference = ref.get("reference") if ref is not None else None
        return ref_id(reference) if isinstance(reference, str) else "(unidentified)"

    # -- the order ---------------------------------------------------------------------

    def _requests(
        self, patient: dict[str, Any]
    ) -> tuple[
        list[dict[str, Any]],
        list[tuple[datetime, str, str]],
        list[tuple[dict[str, Any] | None, dict[str, str]]],
        str | None,
        str | None,
    ]:
        tests: list[dict[str, Any]] = []
        times: list[tuple[datetime, str, str]] = []
        ordering: list[tuple[dict[str, Any] | None, dict[str, str]]] = []
        settings: list[tuple[str, str]] = []
        requisitions: list[tuple[str, str]] = []
        considered = 0
        for res in self.index.of_type("ServiceRequest"):
            d, at = res.data, res.path
            considered += 1
            status = d.get("status")
            if not isinstance(status, str):
                self.problem(f"{at}.status", "required: a ServiceRequest needs a status")
                continue
            if status not in ORDER_STATUSES:
                continue  # completed, revoked, on-hold...: not part of the new order
            intent = d.get("intent")
            if not isinstance(intent, str) or intent not in INTENTS:
                self.problem(f"{at}.intent", f"expected an order intent, got {intent!r}")
                continue
            other = self.same_patient(d.get("subject"), f"{at}.subject", res)
            if other is not None:
                self.problem(
                    f"{at}.subject", f"the order is for patient {other}, not {patient['id']}"
                )
                continue
            i = len(tests)
            prefix = f"tests[{i}]"
            self.where[prefix] = at
            item: dict[str, Any] = {"code": self._order_code(res, prefix)}
            flags = self._flags(res, prefix)
            if flags:
                item["flags"] = flags
            item["ext"] = {"request": res.ref}
            tests.append(item)
            self.requests.append(res.ref)
            authored = d.get("authoredOn")
            if authored is not None:
                when = self._time(authored, f"{at}.authoredOn")
                if when is not None:
                    times.append((when, authored, f"{at}.authoredOn"))
            ordering.append(self._requester(res))
            found_setting = self._setting(res)
            if found_setting is not None:
                settings.append(found_setting)
            req = d.get("requisition")
            if isinstance(req, MAPS) and isinstance(req.get("value"), str):
                requisitions.append((str(req["value"]), f"{at}.requisition.value"))
        if not tests and not self.problems:
            what = "no ServiceRequest" if not considered else "no draft or active ServiceRequest"
            self.problem("entry", f"the Bundle holds {what}: there is no order to decide")
        if self.problems:
            raise _Stop
        setting = None
        if settings:
            setting, where = settings[0]
            self.where["context.setting"] = where
            for value, at in settings[1:]:
                if value != setting:
                    self.problem(
                        at,
                        f"the orders' encounters disagree on the setting "
                        f"({setting} at {where}, {value} here)",
                    )
        requisition = None
        if requisitions:
            requisition, where = requisitions[0]
            self.where["order_id"] = where
            for value, at in requisitions[1:]:
                if value != requisition:
                    self.problem(
                        at,
                        f"the ServiceRequests belong to different requisitions "
                        f"({requisition}, {value}): one Bundle is one order",
                    )
        return tests, times, ordering, setting, requisition

    def _order_code(self, res: Res, prefix: str) -> str:
        """The ordered code: a local code as written (the engine resolves aliases), else the
        catalogue code a LOINC maps to, else the first code as it is (``unknown_test``)."""
        at = f"{res.path}.code"
        resolved: dict[str, tuple[str, str]] = {}  # catalogue code -> (ordered code, path)
        local: tuple[str, str] | None = None
        first: tuple[str, str] | None = None
        for j, coding in _codings(res.data.get("code")):
            code = code_of(coding)
            if code is None:
                continue
            where = f"{at}.coding[{j}].code"
            first = first or (code, where)
            if is_loinc(coding.get("system")):
                target = self.rules.loinc.get(code)
                if target is not None:
                    resolved.setdefault(target, (target, where))
            else:
                target = self.rules.order_codes.get(code)
                if target is not None:
                    resolved.setdefault(target, (code, where))
                    local = local or (code, where)
        if len(resolved) > 1:
            names = ", ".join(f"{code} ({where})" for code, (_, where) in resolved.items())
            self.problem(at, f"the codings name different catalogue items: {names}")
            return ""
        chosen = local or next(iter(resolved.values()), None) or first
        if chosen is None:
            self.problem(at, "the ServiceRequest has no coding with a code")
            return ""
        self.where[f"{prefix}.code"] = chosen[1]
        return chosen[0]

    def _flags(self, res: Res, prefix: str) -> list[str]:
        flags: list[str] = []
        for element in ("orderDetail", "reasonCode"):
            concepts = res.data.get(element)
            if not isinstance(concepts, list):
                continue
            for k, concept in enumerate(concepts):
                for j, coding in _codings(concept):
                    if coding.get("system") != FHIR_FLAG_SYSTEM:
                        continue
                    code = coding.get("code")
                    if code in flags:
                        continue
                    self.where[f"{prefix}.flags[{len(flags)}]"] = (
                        f"{res.path}.{element}[{k}].coding[{j}].code"
                    )
                    flags.append(code)  # type: ignore[arg-type]  # the Case checks the type
        return flags

    def _requester(self, res: Res) -> tuple[dict[str, Any] | None, dict[str, str]]:
        """The ordering institution from requester, else the encounter's serviceProvider."""
        d, at = res.data, res.path
        if "requester" in d:
            org = self._organization(d["requester"], f"{at}.requester", res)
            if org is not None:
                return org
        encounter = self._encounter(res)
        if encounter is not None and "serviceProvider" in encounter.data:
            org = self._organization(
                encounter.data["serviceProvider"], f"{encounter.path}.serviceProvider", encounter
            )
            if org is not None:
                return org
        return None, {}

    def _encounter(self, res: Res) -> Res | None:
        if "encounter" not in res.data:
            return None
        found, _ = self.index.resolve(
            res.data["encounter"], f"{res.path}.encounter", res, self.problems
        )
        return found if found is not None and found.type == "Encounter" else None

    def _setting(self, res: Res) -> tuple[str, str] | None:
        encounter = self._encounter(res)
        if encounter is None:
            return None
        klass = encounter.data.get("class")
        if isinstance(klass, MAPS) and isinstance(klass.get("code"), str):
            setting = SETTINGS.get(str(klass["code"]))
            if setting is not None:
                return setting, f"{encounter.path}.class.code"
        return None

    def _ordered_at(self, times: list[tuple[datetime, str, str]], fallback: datetime | None) -> Any:
        """The latest authoredOn: the order is placed when its last line is."""
        if times:
            self.ordered, raw, where = max(times, key=lambda t: t[0])
            self.where["ordered_at"] = where
            return raw
        first = self.requests[0] if self.requests else ""
        at = self.where.get("tests[0]", "entry")
        if fallback is None:
            self.problem(
                f"{at}.authoredOn",
                f"required: no ServiceRequest says when the order "
                f"was placed ({first} has no authoredOn)",
            )
            raise _Stop
        self.where["ordered_at"] = f"{at}.authoredOn"
        if fallback.tzinfo is None and self.tz is not None:
            fallback = fallback.replace(tzinfo=self.tz)
        self.ordered = fallback if fallback.tzinfo is not None else None
        return fallback

    def _ordering_institution(
        self,
        found: list[tuple[dict[str, Any] | None, dict[str, str]]],
        fallback: Mapping[str, Any] | None,
    ) -> Any:
        named = [(inst, where) for inst, where in found if inst is not None]
        if named:
            inst, where = named[0]
            for other, other_where in named[1:]:
                if other["id"] != inst["id"]:
                    self.problem(
                        other_where[""],
                        f"the orders name different ordering "
                        f"institutions ({inst['id']}, {other['id']})",
                    )
            for suffix, path in where.items():
                self.where[f"institution{suffix}"] = path
            return inst
        if fallback is None:
            at = self.where.get("tests[0]", "entry")
            self.problem(
                f"{at}.requester",
                "no ordering institution: neither the requester "
                "(Organization or PractitionerRole.organization) nor the encounter's "
                "serviceProvider names one",
            )
            raise _Stop
        self.where["institution"] = f"{self.where.get('tests[0]', 'entry')}.requester"
        return dict(fallback)

    # -- organisations -----------------------------------------------------------------

    def _organization(
        self, value: Any, at: str, origin: Res
    ) -> tuple[dict[str, Any], dict[str, str]] | None:
        """An institution from a Reference to an Organization or a PractitionerRole."""
        found, ref = self.index.resolve(value, at, origin, self.problems)
        if found is not None and found.type == "PractitionerRole":
            org = found.data.get("organization")
            if org is None:
                return None
            at, origin = f"{found.path}.organization", found
            found, ref = self.index.resolve(org, at, origin, self.problems)
            if found is not None and found.type != "Organization":
                return None
        if found is not None and found.type == "Organization":
            return self._institution(found)
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

    def _institution(self, org: Res) -> tuple[dict[str, Any], dict[str, str]] | None:
        key = id(org.data)
        if key in self.orgs:
            return self.orgs[key]
        found = self.orgs[key] = self._read_institution(org)
        return found

    def _read_institution(self, org: Res) -> tuple[dict[str, Any], dict[str, str]] | None:
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
            self.problem(
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
        region = _extension(d, EXT_INSTITUTION_REGION, at)
        if region is None and isinstance(d.get("address"), list):
            for k, address in enumerate(d["address"]):
                if isinstance(address, MAPS):
                    region = _extension(address, EXT_INSTITUTION_REGION, f"{at}.address[{k}]")
                    if region is not None:
                        break
        if region is not None:
            inst["region"], where[".region"] = region
        level = _extension(d, EXT_INSTITUTION_LEVEL, at)
        if level is not None:
            inst["level"], where[".level"] = level
        return inst, where

    # -- consent -----------------------------------------------------------------------

    def _consent(self) -> bool:
        """Granted when an active Consent permits and none denies; withheld results noted."""
        permit = deny = False
        for res in self.index.of_type("Consent"):
            d, at = res.data, res.path
            if d.get("status") != "active":
                continue
            other = self.same_patient(d.get("patient"), f"{at}.patient", res)
            if other is not None:
                self.problem(f"{at}.patient", f"the Consent is patient {other}'s")
                continue
            provision = d.get("provision")
            if not isinstance(provision, MAPS) or not self._in_period(provision, at):
                continue
            if provision.get("type") == "deny":
                deny = True
            elif provision.get("type") == "permit" and self._withheld(
                provision, f"{at}.provision", res
            ):
                permit = True
                self.where.setdefault("authorization", at)
        return permit and not deny

    def _withheld(self, provision: Json, at: str, origin: Res) -> bool:
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
                found, _ = self.index.resolve(
                    ref, f"{at}.provision[{k}].data[{m}].reference", origin, self.problems
                )
                if found is not None:
                    self.unshared.add(id(found.data))
        return True

    def _in_period(self, provision: Json, at: str) -> bool:
        """A permit or deny counts only if its period covers the order time."""
        period = provision.get("period")
        if period is None:
            return True
        if not isinstance(period, MAPS) or self.ordered is None:
            return False
        for bound in ("start", "end"):
            value = period.get(bound)
            if value is None:
                continue
            edge = self._bound(value, f"{at}.provision.period.{bound}")
            if edge is None:
                return False
            if bound == "start" and not _not_after(edge, self.ordered):
                return False
            if bound == "end" and not _not_after(self.ordered, edge):
                return False
        return True

    def _bound(self, value: Any, at: str) -> datetime | date | None:
        if isinstance(value, str) and len(value) == 10:
            day = _as_date(value)
            if day is not None:
                return day
        return self._time(value, at)

    # -- prior results -----------------------------------------------------------------

    def _priors(self) -> list[dict[str, Any]]:
        # Reports' results and observations' members, first: a member inherits from the
        # first report or group that lists it, whatever the entry order.
        contained: list[Res] = []
        for res in (*self.index.of_type("DiagnosticReport"), *self.index.of_type("Observation")):
            key = "result" if res.type == "DiagnosticReport" else "hasMember"
            members = res.data.get(key)
            if not isinstance(members, list):
                continue
            for k, member in enumerate(members):
                found, _ = self.index.resolve(member, f"{res.path}.{key}[{k}]", res, self.problems)
                if found is None or found.type != "Observation" or found.data is res.data:
                    continue
                self.parents.setdefault(id(found.data), res)
                if found.container is not None:
                    contained.append(found)
        priors: list[dict[str, Any]] = []
        unmapped: list[Res] = []
        seen: set[int] = set()
        for res in (*self.index.of_type("Observation"), *contained):
            if id(res.data) in seen:
                continue
            seen.add(id(res.data))
            prefix = f"prior_results[{len(priors)}]"
            identity = self._identity(res, prefix)
            if identity is None:
                unmapped.append(res)
                continue
            prior = self._prior(res, prefix, identity)
            if prior is not None:
                priors.append(prior)
        # Last, so that none of them can take the id of a result that is mapped.
        for res in unmapped:
            prior = self._unmapped(res, f"prior_results[{len(priors)}]")
            if prior is not None:
                priors.append(prior)
        return priors

    def _unmapped(self, res: Res, prefix: str) -> dict[str, Any] | None:
        """A laboratory result no catalogue test claims, read leniently: any problem leaves
        it out (and is forgotten) rather than refusing the order."""
        if not is_laboratory(self._lineage(res)):
            return None  # a vital sign, a survey: not a lab result
        named = unmapped_identity(res, self.rules)
        rid = self._result_id(res)
        if named is None or rid is None or rid in self.observations:
            return None
        identity, where = named
        checkpoint = Checkpoint(self)
        for key, path in where.items():
            self.where[f"{prefix}.{key}"] = path
        prior = self._prior(res, prefix, identity, mapped=False)
        if prior is None or checkpoint.troubled or not valid_prior(prior, self.tz, self.patient_id):
            checkpoint.undo()
            return None
        return prior

    def _lineage(self, res: Res) -> list[Res]:
        """The observation, then the report or group observation it belongs to, upwards."""
        chain = [res]
        while (parent := self.parents.get(id(chain[-1].data))) is not None and len(chain) < 8:
            chain.append(parent)
        return chain

    def _result_id(self, res: Res) -> str | None:
        rid = res.id if res.container is None else f"{res.container.ref}#{res.id or ''}"
        return rid or res.full_url

    def _prior(
        self, res: Res, prefix: str, identity: dict[str, Any], *, mapped: bool = True
    ) -> dict[str, Any] | None:
        d, at = res.data, res.path
        chain = self._lineage(res)
        rid = self._result_id(res)
        if rid is None:
            self.problem(f"{at}.id", "the Observation has neither id nor fullUrl")
            return None
        self.where[prefix] = at
        self.where[f"{prefix}.id"] = f"{at}.id"
        self.observations[rid] = res.ref
        prior: dict[str, Any] = {"id": rid, "patient_id": self._subject(chain, prefix)}
        prior.update(identity)
        self._status(chain, prior, prefix)
        self._value(res, prior, prefix)
        specimen = self._specimen(chain, prefix)
        if specimen is not None:
            prior["specimen"] = specimen
        rr = self._reference_range(res, prefix)
        if rr is not None:
            prior["reference_range"] = rr
        prior["collected_at"] = self._collected(chain, prefix)
        issued = _inherited(chain, "issued")
        if issued is not None:
            prior["reported_at"], self.where[f"{prefix}.reported_at"] = (
                issued[0],
                f"{issued[1]}.issued",
            )
        # An unmapped result is never used, only named when newer than the one used: its
        # earliest instant, always (docs/fhir.md, "Dates without a time").
        ordered = self.ordered if mapped else None
        for field, message in widen(prior, ordered).items():
            self.problem(self.where.get(f"{prefix}.{field}", at), message)
        institution = performing_lab(self, chain, prefix)
        if institution is not None:
            prior["institution"] = institution
        for node in chain:
            mark = _extension(node.data, EXT_RECOGNITION_MARK, node.path)
            if mark is not None:
                prior["mark"], self.where[f"{prefix}.mark"] = mark
                break
        method = _text(d.get("method"), prefer_code=True)
        if method is not None:
            prior["method"], self.where[f"{prefix}.method"] = method, f"{at}.method"
        self._shared(chain, prior, prefix)
        return prior

    def _identity(self, res: Res, prefix: str) -> dict[str, Any] | None:
        """``loinc`` and ``code`` from the codings; None if none names a catalogue test."""
        at = f"{res.path}.code"
        tests = self.rules.tests
        loinc: tuple[str, str] | None = None
        loinc_tests: dict[str, str] = {}
        local: tuple[str, str] | None = None
        local_tests: dict[tuple[str, ...], str] = {}
        for j, coding in _codings(res.data.get("code")):
            code = code_of(coding)
            if code is None:
                continue
            where = f"{at}.coding[{j}].code"
            if is_loinc(coding.get("system")):
                target = self.rules.loinc.get(code)
                if target in tests:
                    if not loinc_tests:  # the first mapped LOINC beats any unmapped one
                        loinc = (code, where)
                    loinc_tests.setdefault(target, where)
                elif loinc is None:
                    loinc = (code, where)
            else:
                names = self.rules.resolve_result_code(code)
                if names:
                    local_tests.setdefault(names, where)
                    local = local or (code, where)
        if len(loinc_tests) > 1:
            self.problem(
                at,
                "the LOINC codings name different tests: "
                + ", ".join(f"{t} ({w})" for t, w in loinc_tests.items()),
            )
        if len(local_tests) > 1:
            self.problem(
                at,
                "the local codings name different tests: "
                + ", ".join(f"{'/'.join(t)} ({w})" for t, w in local_tests.items()),
            )
        if not loinc_tests and local is None:
            return None
        out: dict[str, Any] = {}
        if local is not None:
            out["code"], self.where[f"{prefix}.code"] = local
        if loinc is not None:
            out["loinc"], self.where[f"{prefix}.loinc"] = loinc
        return out

    def _subject(self, chain: list[Res], prefix: str) -> str:
        assert self.patient is not None
        for node in chain:
            if "subject" in node.data:
                at = f"{node.path}.subject"
                self.where[f"{prefix}.patient_id"] = at
                other = self.same_patient(node.data["subject"], at, node)
                return other if other is not None else str(self.patient_id)
        self.problem(
            f"{chain[0].path}.subject",
            "required: whose result is it? (no subject on the Observation or its report)",
        )
        return str(self.patient_id)

    @property
    def patient_id(self) -> str | None:
        return None if self.patient is None else (self.patient.id or self.patient.full_url)

    def _status(self, chain: list[Res], prior: dict[str, Any], prefix: str) -> None:
        res = chain[0]
        status = res.data.get("status")
        if status is None:
            self.problem(f"{res.path}.status", "required: an Observation needs a status")
            return
        prior["status"], self.where[f"{prefix}.status"] = status, f"{res.path}.status"
        if status not in USABLE_STATUSES:
            return
        for node in chain[1:]:
            parent_status = node.data.get("status")
            if parent_status in USABLE_PARENT_STATUSES:
                continue
            override = (
                PARENT_STATUS_OVERRIDES.get(parent_status, "unknown")
                if isinstance(parent_status, str)
                else "unknown"
            )
            prior["status"] = override
            self.where[f"{prefix}.status"] = f"{node.path}.status"
            return

    def _value(self, res: Res, prior: dict[str, Any], prefix: str) -> None:
        d, at = res.data, res.path
        if "valueQuantity" in d:
            q = d["valueQuantity"]
            qat = f"{at}.valueQuantity"
            if not isinstance(q, MAPS):
                self.problem(qat, "expected a Quantity")
                return
            unit, uat = _unit(q, qat)
            comparator = q.get("comparator")
            if comparator is not None:
                # "<0.05" is not the number 0.05: kept as text, which no number check uses.
                text = f"{comparator}{q.get('value')}" + (f" {unit}" if unit else "")
                prior["value_text"] = text
                self.where[f"{prefix}.value_text"] = f"{qat}.comparator"
                return
            if "value" in q:
                value = q["value"]
                prior["value"] = float(value) if type(value) is int else value
                self.where[f"{prefix}.value"] = f"{qat}.value"
            if unit is not None:
                prior["unit"], self.where[f"{prefix}.unit"] = unit, uat
        elif "valueString" in d:
            prior["value_text"] = d["valueString"]
            self.where[f"{prefix}.value_text"] = f"{at}.valueString"
        elif "valueCodeableConcept" in d:
            shown = _text(d["valueCodeableConcept"])
            if shown is not None:
                prior["value_text"] = shown
                self.where[f"{prefix}.value_text"] = f"{at}.valueCodeableConcept"
        elif "valueInteger" in d:
            integer = d["valueInteger"]
            prior["value"] = float(integer) if type(integer) is int else integer
            self.where[f"{prefix}.value"] = f"{at}.valueInteger"
        # Any other value[x] (Range, Ratio, boolean, ...) or a dataAbsentReason: no value,
        # and the engine answers value_unrecognised for that result.

    def _specimen(self, chain: list[Res], prefix: str) -> str | None:
        found = self._specimen_res(chain, report=True)
        if found is None:
            return None
        name = _specimen_name(found.data.get("type"))
        if name is not None:
            self.where[f"{prefix}.specimen"] = f"{found.path}.type"
        return name

    def _reference_range(self, res: Res, prefix: str) -> dict[str, Any] | None:
        ranges = res.data.get("referenceRange")
        if not isinstance(ranges, list):
            return None
        # A therapeutic or recommended range is not the reference interval.
        normal = [
            (k, rr)
            for k, rr in enumerate(ranges)
            if isinstance(rr, MAPS)
            and (
                rr.get("type") is None
                or any(
                    c.get("system") == REFERENCE_RANGE_MEANING and c.get("code") == "normal"
                    for _, c in _codings(rr["type"])
                )
            )
        ]
        # Several candidates (by sex or age: appliesTo/age are not read) cannot be told
        # apart: none is used, so a test that needs the range is re-tested.
        if len(normal) != 1:
            return None
        k, rr = normal[0]
        at = f"{res.path}.referenceRange[{k}]"
        rprefix = f"{prefix}.reference_range"
        self.where[rprefix] = at
        out: dict[str, Any] = {}
        units: list[tuple[str, str]] = []
        for bound in ("low", "high"):
            q = rr.get(bound)
            if not isinstance(q, MAPS):
                continue
            if "value" in q:
                v = q["value"]
                out[bound] = float(v) if type(v) is int else v
                self.where[f"{rprefix}.{bound}"] = f"{at}.{bound}.value"
            unit, uat = _unit(q, f"{at}.{bound}")
            if unit is not None:
                units.append((unit, uat))
        if units:
            out["unit"], self.where[f"{rprefix}.unit"] = units[0]
            if any(u != units[0][0] for u, _ in units):
                self.problem(
                    f"{at}.high",
                    f"low and high are in different units ({units[0][0]}, {units[-1][0]})",
                )
        if isinstance(rr.get("text"), str):
            out["text"] = rr["text"]
        return out

    def _collected(self, chain: list[Res], prefix: str) -> Any:
        for node in chain:
            for key in _EFFECTIVE:
                if key not in node.data:
                    continue
                at = f"{node.path}.{key}"
                value = node.data[key]
                if key == "effectivePeriod":
                    start = value.get("start") if isinstance(value, MAPS) else None
                    if start is None:
                        self.problem(at, "a collection period needs a start")
                        return None
                    self.where[f"{prefix}.collected_at"] = f"{at}.start"
                    return start
                if key == "effectiveTiming":
                    self.problem(
                        at,
                        "effectiveTiming is not a collection time: use "
                        "effectiveDateTime, effectiveInstant or effectivePeriod",
                    )
                    return None
                self.where[f"{prefix}.collected_at"] = at
                return value
        # No effective[x] anywhere: the specimen's collection time, if it has one.
        specimen = self._specimen_res(chain)
        if specimen is not None:
            collection = specimen.data.get("collection")
            if isinstance(collection, MAPS):
                if "collectedDateTime" in collection:
                    at = f"{specimen.path}.collection.collectedDateTime"
                    self.where[f"{prefix}.collected_at"] = at
                    return collection["collectedDateTime"]
                period = collection.get("collectedPeriod")
                if isinstance(period, MAPS) and "start" in period:
                    at = f"{specimen.path}.collection.collectedPeriod.start"
                    self.where[f"{prefix}.collected_at"] = at
                    return period["start"]
        self.problem(
            f"{chain[0].path}.effective[x]",
            "required: when was the specimen "
            "collected? (no effective[x] on the Observation or its report, and no "
            "Specimen.collection.collected[x])",
        )
        return None

    def _specimen_res(self, chain: list[Res], *, report: bool = False) -> Res | None:
        """The Specimen of the first node that names one (DiagnosticReport.specimen is a
        list: its first); malformed references are problems only if ``report``."""
        for node in chain:
            value = node.data.get("specimen")
            at = f"{node.path}.specimen"
            if isinstance(value, list):
                if not value:
                    continue
                value, at = value[0], f"{at}[0]"
            if value is None:
                continue
            found, _ = self.index.resolve(value, at, node, self.problems if report else [])
            return found if found is not None and found.type == "Specimen" else None
        return None

    def _shared(self, chain: list[Res], prior: dict[str, Any], prefix: str) -> None:
        """Withheld by the patient (Consent), marked not shared, or restricted: not used."""
        for node in chain:
            if id(node.data) in self.unshared:
                prior["shared"] = False
                self.where[f"{prefix}.shared"] = node.path
                return
            value = _extension(node.data, EXT_SHARED, node.path)
            if value is not None and value[0] is not True:
                prior["shared"], self.where[f"{prefix}.shared"] = value
                return
            meta = node.data.get("meta")
            labels = meta.get("security") if isinstance(meta, MAPS) else None
            if isinstance(labels, list):
                for k, label in enumerate(labels):
                    if (
                        isinstance(label, MAPS)
                        and label.get("system") == V3_CONFIDENTIALITY
                        and label.get("code") in ("R", "V")
                    ):
                        prior["shared"] = False
                        self.where[f"{prefix}.shared"] = f"{node.path}.meta.security[{k}]"
                        return

    # -- time --------------------------------------------------------------------------

    def _time(self, value: Any, at: str) -> datetime | None:
        """A point in time, read exactly as the Case model reads one; a problem at ``at``
        if it would refuse it."""
        try:
            parsed: datetime = _TIMESTAMP.validate_python(value, context={"timezone": self.tz})
        except ValidationError as exc:
            self.problem(at, exc.errors(include_url=False)[0]["msg"])
            return None
        return parsed


# -- small readers ---------------------------------------------------------------------


def _text(concept: Any, *, prefer_code: bool = False) -> str | None:
    """A CodeableConcept as one string: text, else the first coding's display or code."""
    if not isinstance(concept, MAPS):
        return None
    if isinstance(concept.get("text"), str) and concept["text"]:
        return str(concept["text"])
    for _, coding in _codings(concept):
        keys = ("code", "display") if prefer_code else ("display", "code")
        for key in keys:
            if isinstance(coding.get(key), str) and coding[key]:
                return str(coding[key])
    return None


def _unit(q: Json, at: str) -> tuple[str | None, str]:
    """The UCUM code when the Quantity says it is UCUM, else the human-readable unit."""
    if q.get("system") == UCUM and isinstance(q.get("code"), str) and q["code"]:
        return str(q["code"]), f"{at}.code"
    if isinstance(q.get("unit"), str) and q["unit"]:
        return str(q["unit"]), f"{at}.unit"
    return None, f"{at}.unit"


def _extension(d: Json, url: str, at: str) -> tuple[Any, str] | None:
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


def _inherited(chain: list[Res], key: str) -> tuple[Any, str] | None:
    for node in chain:
        if key in node.data:
            return node.data[key], node.path
    return None


def _specimen_name(concept: Any) -> str | None:
    for _, coding in _codings(concept):
        system, code = coding.get("system"), coding.get("code")
        if isinstance(system, str) and isinstance(code, str):
            name = SPECIMEN_CODES.get((system, code))
            if name is not None:
                return name
    return _text(concept)


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

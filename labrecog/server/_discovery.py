"""The two CDS Services and the discovery document (``GET /cds-services``).

``labrecog-order-select`` answers ``order-select`` (orders picked, not yet signed) and
``labrecog-order-sign`` answers ``order-sign`` (just before signing). Both run the same
evaluation; they differ in the hook they accept and in ``context.selections``, which
``order-select`` requires.

Prefetch templates use only what CDS Hooks 2.0 clients SHOULD support: a read by id and
type-level searches with token parameters, ``_sort`` and ``_include``. Which keys are
required (missing, and not obtainable from ``fhirServer``: HTTP 412) depends on the rule
set: ``consent`` is asked for only when the rule set requires the patient's
authorisation. The service description says which keys are required and what each
optional key's absence costs, since a client reads only ``description`` for that (the
spec has no field marking a prefetch key required).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from labrecog.compile import CompiledRules
from labrecog.server._card_text import CardSet
from labrecog.words import Lang, pick, say

__all__ = [
    "CONSENT",
    "ENCOUNTER",
    "LAB_REPORTS",
    "LAB_RESULTS",
    "PATIENT",
    "SERVICES",
    "Service",
    "discovery_document",
    "expand_template",
    "prefetch_templates",
    "prefetch_tokens",
    "required_prefetch",
]

PATIENT = "patient"
LAB_RESULTS = "labResults"
LAB_REPORTS = "labReports"
CONSENT = "consent"
ENCOUNTER = "encounter"

_TEMPLATES: dict[str, str] = {
    PATIENT: "Patient/{{context.patientId}}",
    LAB_RESULTS: (
        "Observation?patient={{context.patientId}}&category=laboratory"
        "&_sort=-date&_include=Observation:performer"
    ),
    LAB_REPORTS: (
        "DiagnosticReport?patient={{context.patientId}}&category=LAB"
        "&_sort=-date&_include=DiagnosticReport:performer"
    ),
    CONSENT: "Consent?patient={{context.patientId}}&status=active",
    ENCOUNTER: "Encounter/{{context.encounterId}}",
}

# CDS Hooks 2.0 §Prefetch tokens: identifiers of the user, derived from context.userId.
USER_TOKENS = {
    "userPractitionerId": "Practitioner",
    "userPractitionerRoleId": "PractitionerRole",
    "userPatientId": "Patient",
    "userRelatedPersonId": "RelatedPerson",
}
_TOKEN = re.compile(r"\{\{([^{}]*)\}\}")
# A token's value: a FHIR id, or a relative reference (context.userId is "Type/id").
_VALUE = re.compile(r"(?:[A-Z][A-Za-z]{0,63}/)?[A-Za-z0-9\-.]{1,64}")


@dataclass(frozen=True, slots=True)
class Service:
    id: str
    hook: str
    title_en: str
    title_zh: str
    requires_selections: bool
    # Which cards it answers (``labrecog serve --cards``); an app sets its own copy.
    cards: CardSet = "both"

    def title(self, lang: Lang) -> str:
        return pick(lang, self.title_en, self.title_zh)


SERVICES: dict[str, Service] = {
    s.id: s
    for s in (
        Service(
            "labrecog-order-select",
            "order-select",
            "Recognisable prior lab results (order-select)",
            "检查检验结果互认（选择医嘱时）",
            requires_selections=True,
        ),
        Service(
            "labrecog-order-sign",
            "order-sign",
            "Recognisable prior lab results (order-sign)",
            "检查检验结果互认（签署医嘱时）",
            requires_selections=False,
        ),
    )
}


def prefetch_templates(rules: CompiledRules) -> dict[str, str]:
    keys = [PATIENT, LAB_RESULTS, LAB_REPORTS]
    if rules.recognition.require_authorization:
        keys.append(CONSENT)
    keys.append(ENCOUNTER)
    return {key: _TEMPLATES[key] for key in keys}


def required_prefetch(rules: CompiledRules) -> tuple[str, ...]:
    """Keys without which the service cannot decide: HTTP 412 when absent."""
    keys = [PATIENT, LAB_RESULTS]
    if rules.recognition.require_authorization:
        keys.append(CONSENT)
    return tuple(keys)


def prefetch_tokens(context: Mapping[str, Any]) -> dict[str, str]:
    """Token name -> value: ``context.<field>`` for every root-level primitive field, and
    the user tokens for the type ``context.userId`` names (CDS Hooks 2.0 §Prefetch tokens)."""
    tokens: dict[str, str] = {}
    for name, value in context.items():
        if isinstance(value, bool):
            tokens[f"context.{name}"] = "true" if value else "false"
        elif isinstance(value, str | int):
            tokens[f"context.{name}"] = str(value)
    user = context.get("userId")
    if isinstance(user, str):
        kind, _, uid = user.partition("/")
        for token, resource_type in USER_TOKENS.items():
            if kind == resource_type and uid:
                tokens[token] = uid
    return tokens


def expand_template(template: str, tokens: Mapping[str, str]) -> str | tuple[str, str]:
    """The relative FHIR URL, or ``(token, why)`` when a token cannot be replaced. Values
    must be FHIR ids (or ``Type/id``), so nothing from the context can add a parameter or
    leave the resource type's path."""
    for name in _TOKEN.findall(template):
        value = tokens.get(name.strip())
        if value is None:
            return name, "the request's context has no value for it"
        if not _VALUE.fullmatch(value) or not value.rpartition("/")[2].strip("."):
            return name, "its value is not a FHIR id"
    return _TOKEN.sub(lambda m: tokens[m.group(1).strip()], template)


def _setting_conditions(rules: CompiledRules) -> list[str]:
    return [c.id for c in rules.conditions if c.settings]


def _description(rules: CompiledRules, lang: Lang, fetch: bool) -> str:
    required = ", ".join(required_prefetch(rules))
    settings = ", ".join(_setting_conditions(rules))
    text = say("discovery", "description", lang, id=rules.id, version=rules.version,
               required=required)  # fmt: skip
    if settings:
        text += say("discovery", "description.settings", lang, settings=settings)
    text += say("discovery", "description.institution", lang)
    return text + say("discovery", "description.fetch" if fetch else "description.no_fetch", lang)


def _usage(rules: CompiledRules, lang: Lang, fetch: bool) -> str:
    how = say("discovery", "usage.fetch" if fetch else "usage.no_fetch", lang)
    return say("discovery", "usage", lang, required=", ".join(required_prefetch(rules)), how=how)


def discovery_document(rules: CompiledRules, lang: Lang, *, fetch: bool = True) -> dict[str, Any]:
    """``fetch``: whether the service fetches missing prefetch from ``fhirServer``."""
    templates = prefetch_templates(rules)
    return {
        "services": [
            {
                "hook": service.hook,
                "title": service.title(lang),
                "description": _description(rules, lang, fetch),
                "id": service.id,
                "prefetch": templates,
                "usageRequirements": _usage(rules, lang, fetch),
            }
            for service in SERVICES.values()
        ]
    }

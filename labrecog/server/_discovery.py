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
from labrecog.words import Lang

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

    def title(self, lang: Lang) -> str:
        return self.title_zh if lang == "zh" else self.title_en


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
    if lang == "zh":
        text = (
            f"按规则集 {rules.id} {rules.version} 判断草稿检验医嘱中哪些项目可采用近期外院结果"
            "而无需重复检查；每个可互认项目一张卡片，建议删除对应的 ServiceRequest。"
            f"必需的预取数据：{required}，缺少时无法判断。"
            "可选：labReports——缺少时，采集时间、检验机构、标本或互认标识只记录在 "
            "DiagnosticReport 上的结果无法读取（结果没有自己的采集时间时返回 HTTP 422）；"
            "encounter——缺少时就诊类型未知"
        )
        text += (
            f"，与就诊类型有关的条件（{settings}）无法判断，相关项目需重新检查" if settings else ""
        )
        text += "，且仅由就诊记录给出的开单机构无法读取。"
        if fetch:
            return text + (
                "请求中缺少的预取数据，如同时提供 fhirServer 与 fhirAuthorization（Bearer），"
                "本服务将按上述预取模板自行向 FHIR 服务器查询；必需数据既未提供又无法查询时"
                "返回 HTTP 412。"
            )
        return (
            text
            + "本服务不访问 FHIR 服务器：请以预取方式提供上述数据（缺少必需数据时返回 HTTP 412）。"
        )
    text = (
        f"Decides, with rule set {rules.id} {rules.version}, which draft lab orders need not "
        "be performed again because a recent prior result can be recognised; one card per "
        "recognisable item, suggesting to delete its draft ServiceRequest. "
        f"Required prefetch: {required}; without them there is no decision. "
        "Optional: labReports — without it, results whose collection time, laboratory, "
        "specimen or recognition mark is given only on their DiagnosticReport cannot be "
        "read (HTTP 422 when a result has no collection time of its own); encounter — "
        "without it the setting is unknown"
    )
    if settings:
        text += (
            f", so the conditions on the setting ({settings}) are undecidable and the tests "
            "they cover are re-tested"
        )
    text += ", and an ordering institution named only by the encounter is not found. "
    if fetch:
        return text + (
            "Keys missing from the request are fetched from fhirServer with these templates "
            "when the request gives fhirAuthorization (Bearer); HTTP 412 when a required key "
            "can be neither read nor fetched."
        )
    return text + (
        "This service does not query the FHIR server: send these keys as prefetch (HTTP 412 "
        "when a required key is missing)."
    )


def _usage(rules: CompiledRules, lang: Lang, fetch: bool) -> str:
    required = ", ".join(required_prefetch(rules))
    if lang == "zh":
        how = (
            "以预取方式提供，或提供 fhirServer 与 fhirAuthorization 由本服务查询"
            if fetch
            else "须以预取方式提供，本服务不访问 FHIR 服务器"
        )
        return (
            f"必需的预取数据 {required}（{how}；无法获得时返回 HTTP 412）；"
            "labReports（报告上的采集时间、互认标识）与 encounter（就诊类型）可选。"
        )
    how = (
        "as prefetch, or fhirServer with fhirAuthorization for the service to fetch them"
        if fetch
        else "as prefetch: this service does not query the FHIR server"
    )
    return (
        f"Requires the prefetch keys {required} ({how}; otherwise HTTP 412); labReports "
        "(collection times and recognition marks given on reports) and encounter (setting) "
        "are optional."
    )


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

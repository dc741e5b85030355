"""The two CDS Services and the discovery document (``GET /cds-services``).

``labrecog-order-select`` answers ``order-select`` (orders picked, not yet signed) and
``labrecog-order-sign`` answers ``order-sign`` (just before signing). Both run the same
evaluation; they differ in the hook they accept and in ``context.selections``, which
``order-select`` requires.

Prefetch templates use only what CDS Hooks 2.0 clients SHOULD support: a read by id and
type-level searches with token parameters, ``_sort`` and ``_include``. Which keys are
required (a missing one means HTTP 412, since this service never queries the FHIR server
itself) depends on the rule set: ``consent`` is asked for only when the rule set requires
the patient's authorisation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from labrecog.compile.compiled import CompiledRules
from labrecog.output.messages import Lang

__all__ = [
    "CONSENT",
    "ENCOUNTER",
    "LAB_REPORTS",
    "LAB_RESULTS",
    "PATIENT",
    "SERVICES",
    "Service",
    "discovery_document",
    "prefetch_templates",
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


def _description(rules: CompiledRules, lang: Lang) -> str:
    if lang == "zh":
        return (
            f"按规则集 {rules.id} {rules.version} 判断草稿检验医嘱中哪些项目可采用近期外院结果"
            "而无需重复检查；每个可互认项目一张卡片，建议删除对应的 ServiceRequest。"
        )
    return (
        f"Decides, with rule set {rules.id} {rules.version}, which draft lab orders need not "
        "be performed again because a recent prior result can be recognised; one card per "
        "recognisable item, suggesting to delete its draft ServiceRequest."
    )


def _usage(rules: CompiledRules, lang: Lang) -> str:
    required = ", ".join(required_prefetch(rules))
    if lang == "zh":
        return (
            f"必须提供预取数据 {required}（本服务不访问 FHIR 服务器，缺少时返回 HTTP 412）；"
            "labReports（互认标识、报告状态）与 encounter（就诊类型）可选。"
        )
    return (
        f"Requires the prefetch keys {required} (this service does not query the FHIR "
        "server; without them it answers HTTP 412); labReports (recognition marks, report "
        "status) and encounter (setting) are optional."
    )


def discovery_document(rules: CompiledRules, lang: Lang) -> dict[str, Any]:
    templates = prefetch_templates(rules)
    return {
        "services": [
            {
                "hook": service.hook,
                "title": service.title(lang),
                "description": _description(rules, lang),
                "id": service.id,
                "prefetch": templates,
                "usageRequirements": _usage(rules, lang),
            }
            for service in SERVICES.values()
        ]
    }

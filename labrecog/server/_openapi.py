"""The OpenAPI 3.1 document of the service, served at ``/openapi.json``.

Written by hand from the CDS Hooks 2.0 specification, narrowed to what this service
accepts and answers, so that a schema-based fuzzer (schemathesis) generates requests the
service must handle and checks every answer against a tight response schema. Each CDS
Service gets its own paths (no ``{id}`` template): request schemas differ per hook.
"""

from __future__ import annotations

from typing import Any

from labrecog import __version__
from labrecog.compile import CompiledRules
from labrecog.server._discovery import SERVICES, prefetch_templates
from labrecog.server._feedback import MAX_COMMENT, MAX_FEEDBACK_ITEMS, MAX_ID

__all__ = ["openapi_document"]

_REF = "#/components/schemas/"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _REF + name}


def _string(limit: int = MAX_ID) -> dict[str, Any]:
    return {"type": "string", "minLength": 1, "maxLength": limit}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _outcome(description: str) -> dict[str, Any]:
    return _json(_ref("OperationOutcome"), description)


def _feedback_item(outcome: str) -> dict[str, Any]:
    """One feedback item; acceptedSuggestions is required only for an accepted outcome."""
    required = ["card", "outcome", "outcomeTimestamp"]
    if outcome == "accepted":
        required.insert(2, "acceptedSuggestions")
    return {
        "type": "object",
        "required": required,
        "properties": {
            "card": _string(),
            "outcome": {"const": outcome},
            "acceptedSuggestions": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "required": ["id"],
                    "properties": {"id": _string()},
                },
            },
            "overrideReason": _ref("OverrideReason"),
            "outcomeTimestamp": {"type": "string", "format": "date-time"},
        },
    }


def _json_body(name: str) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": _ref(name)}}}


_SCHEMAS: dict[str, Any] = {
    "Coding": {
        "type": "object",
        "required": ["code"],
        "properties": {
            "system": {"type": "string"},
            "code": {"type": "string"},
            "display": {"type": "string"},
        },
    },
    "DisplayedCoding": {
        "type": "object",
        "required": ["system", "code", "display"],
        "additionalProperties": False,
        "properties": {
            "system": {"type": "string", "minLength": 1},
            "code": {"type": "string", "minLength": 1},
            "display": {"type": "string", "minLength": 1},
        },
    },
    "OperationOutcome": {
        "type": "object",
        "required": ["resourceType", "issue"],
        "additionalProperties": False,
        "properties": {
            "resourceType": {"const": "OperationOutcome"},
            "issue": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "required": ["severity", "code"],
                    "additionalProperties": False,
                    "properties": {
                        "severity": {"enum": ["fatal", "error", "warning", "information"]},
                        "code": {"type": "string", "minLength": 1},
                        "details": {
                            "type": "object",
                            "required": ["text"],
                            "additionalProperties": False,
                            "properties": {"text": {"type": "string"}},
                        },
                        "diagnostics": {"type": "string"},
                        "expression": {"type": "array", "items": {"type": "string"}},
                    },
                },
            },
        },
    },
    "CdsService": {
        "type": "object",
        "required": ["hook", "description", "id"],
        "additionalProperties": False,
        "properties": {
            "hook": {"type": "string"},
            "title": {"type": "string"},
            "description": {"type": "string"},
            "id": {"type": "string"},
            "prefetch": {"type": "object", "additionalProperties": {"type": "string"}},
            "usageRequirements": {"type": "string"},
        },
    },
    "Discovery": {
        "type": "object",
        "required": ["services"],
        "additionalProperties": False,
        "properties": {"services": {"type": "array", "items": _ref("CdsService")}},
    },
    "Resource": {
        "type": "object",
        "required": ["resourceType"],
        "properties": {"resourceType": {"type": "string", "minLength": 1}},
    },
    "DraftOrders": {
        "type": "object",
        "required": ["resourceType"],
        "properties": {
            "resourceType": {"const": "Bundle"},
            "entry": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["resource"],
                    "properties": {"resource": _ref("Resource")},
                },
            },
        },
    },
    "Suggestion": {
        "type": "object",
        "required": ["label", "uuid", "actions"],
        "additionalProperties": False,
        "properties": {
            "label": {"type": "string", "minLength": 1},
            "uuid": {"type": "string", "format": "uuid"},
            "isRecommended": {"type": "boolean"},
            "actions": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "required": ["type", "description", "resourceId"],
                    "additionalProperties": False,
                    "properties": {
                        "type": {"const": "delete"},
                        "description": {"type": "string", "minLength": 1},
                        "resourceId": {"type": "string", "pattern": "^ServiceRequest/.+"},
                    },
                },
            },
        },
    },
    "Card": {
        "type": "object",
        "required": ["uuid", "summary", "indicator", "source", "detail"],
        "additionalProperties": False,
        "properties": {
            "uuid": {"type": "string", "format": "uuid"},
            "summary": {"type": "string", "minLength": 1, "maxLength": 139},
            "detail": {"type": "string", "minLength": 1},
            "indicator": {"enum": ["info", "warning", "critical"]},
            "source": {
                "type": "object",
                "required": ["label"],
                "additionalProperties": False,
                "properties": {
                    "label": {"type": "string", "minLength": 1},
                    "url": {"type": "string"},
                    "icon": {"type": "string"},
                    "topic": _ref("DisplayedCoding"),
                },
            },
            "suggestions": {"type": "array", "minItems": 1, "items": _ref("Suggestion")},
            "selectionBehavior": {"enum": ["at-most-one", "any"]},
            "overrideReasons": {
                "type": "array",
                "minItems": 1,
                "items": _ref("DisplayedCoding"),
            },
        },
        "dependentRequired": {"suggestions": ["selectionBehavior"]},
    },
    "CdsResponse": {
        "type": "object",
        "required": ["cards"],
        "additionalProperties": False,
        "properties": {"cards": {"type": "array", "items": _ref("Card")}},
    },
    "AcceptedFeedback": _feedback_item("accepted"),
    "OverriddenFeedback": _feedback_item("overridden"),
    "OverrideReason": {
        "type": "object",
        "properties": {
            "reason": {
                "type": "object",
                "required": ["code"],
                "properties": {
                    "system": _string(),
                    "code": _string(),
                    "display": _string(1024),
                },
            },
            "userComment": _string(MAX_COMMENT),
        },
    },
    "FeedbackRequest": {
        "type": "object",
        "required": ["feedback"],
        "properties": {
            "feedback": {
                "type": "array",
                "minItems": 1,
                "maxItems": MAX_FEEDBACK_ITEMS,
                "items": {"oneOf": [_ref("AcceptedFeedback"), _ref("OverriddenFeedback")]},
            }
        },
    },
    "FeedbackResult": {
        "type": "object",
        "required": ["stored"],
        "additionalProperties": False,
        "properties": {"stored": {"type": "integer", "minimum": 1}},
    },
    "Health": {
        "type": "object",
        "required": ["status", "ruleset"],
        "additionalProperties": False,
        "properties": {
            "status": {"const": "ok"},
            "ruleset": {
                "type": "object",
                "required": ["id", "version", "digest"],
                "additionalProperties": False,
                "properties": {
                    "id": {"type": "string"},
                    "version": {"type": "string"},
                    "digest": {"type": "string"},
                },
            },
        },
    },
}


def _hook_request(hook: str, selections: bool, rules: CompiledRules) -> dict[str, Any]:
    context_required = ["userId", "patientId", "draftOrders"]
    if selections:
        context_required.insert(2, "selections")
    # Only the shape the service itself checks; what a resource holds is the FHIR
    # adapter's to judge (422), so it is not constrained here.
    value = {"anyOf": [_ref("Resource"), {"type": "null"}]}
    prefetch_props = {
        key: {**value, "description": f"prefetch template: {template}"}
        for key, template in prefetch_templates(rules).items()
    }
    context: dict[str, Any] = {
        "type": "object",
        "required": context_required,
        "properties": {
            "userId": _string(),
            "patientId": _string(),
            "encounterId": _string(),
            "draftOrders": _ref("DraftOrders"),
        },
    }
    if selections:
        context["properties"]["selections"] = {
            "type": "array",
            "minItems": 1,
            "items": _string(),
        }
    return {
        "type": "object",
        "required": ["hook", "hookInstance", "context"],
        "properties": {
            "hook": {"const": hook},
            "hookInstance": _string(),
            "fhirServer": _string(2048),
            "fhirAuthorization": {"type": "object"},
            "context": context,
            "prefetch": {
                "type": "object",
                "properties": prefetch_props,
                "additionalProperties": value,
            },
        },
        "dependentRequired": {"fhirAuthorization": ["fhirServer"]},
    }


# Every service and feedback call: the caller's JWT first, then its rate (docs/security.md).
_SECURITY: list[dict[str, list[str]]] = [{"cdsClientJwt": []}]
_SCHEMES: dict[str, Any] = {
    "cdsClientJwt": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": (
            "CDS Hooks 2.0 'Trusting CDS Clients': a JWT signed by a configured issuer, "
            "aud = the service URL (docs/security.md)."
        ),
    }
}
_GUARDED: dict[str, Any] = {
    "401": _outcome("No valid bearer JWT from a trusted CDS client"),
    "429": _outcome("Over the caller's rate limit (see Retry-After)"),
    "503": _outcome("The issuer's keys cannot be fetched now"),
}


def openapi_document(rules: CompiledRules, *, secured: bool = True) -> dict[str, Any]:
    """The service's OpenAPI 3.1 document; ``secured=False`` (the explicit insecure mode)
    leaves out the bearer scheme and its 401, which that service never answers."""
    guarded: dict[str, Any] = _GUARDED if secured else {k: _GUARDED[k] for k in ("429",)}
    security: dict[str, Any] = {"security": _SECURITY} if secured else {}
    schemas = dict(_SCHEMAS)
    paths: dict[str, Any] = {
        "/cds-services": {
            "get": {
                "operationId": "discovery",
                "summary": "CDS Hooks discovery: the services and their prefetch templates",
                "responses": {"200": _json(_ref("Discovery"), "The CDS Services")},
            }
        },
        "/healthz": {
            "get": {
                "operationId": "health",
                "summary": "Liveness, and the rule set loaded",
                "responses": {"200": _json(_ref("Health"), "Up")},
            }
        },
    }
    for service in SERVICES.values():
        name = "".join(part.title() for part in service.hook.split("-")) + "Request"
        schemas[name] = _hook_request(service.hook, service.requires_selections, rules)
        paths[f"/cds-services/{service.id}"] = {
            "post": {
                "operationId": service.id.replace("-", "_"),
                "summary": f"Call the {service.hook} service",
                "requestBody": _json_body(name),
                "responses": {
                    "200": _json(_ref("CdsResponse"), "Cards (possibly none)"),
                    "400": _outcome("Not a valid CDS Hooks request"),
                    "412": _outcome("Required prefetch data is missing"),
                    "413": _outcome("Request body over the size limit"),
                    "415": _outcome("Not JSON"),
                    "422": _outcome("The FHIR data cannot be evaluated"),
                    **guarded,
                },
                **security,
            }
        }
        paths[f"/cds-services/{service.id}/feedback"] = {
            "post": {
                "operationId": service.id.replace("-", "_") + "_feedback",
                "summary": f"Feedback on the {service.hook} service's cards",
                "requestBody": _json_body("FeedbackRequest"),
                "responses": {
                    "200": _json(_ref("FeedbackResult"), "Stored"),
                    "400": _outcome("Not valid feedback"),
                    "413": _outcome("Request body over the size limit"),
                    "415": _outcome("Not JSON"),
                    **guarded,
                },
                **security,
            }
        }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "labrecog CDS Hooks service",
            "version": __version__,
            "description": (
                f"CDS Hooks 2.0 services deciding, with rule set {rules.id} {rules.version}, "
                "which draft lab orders a recent prior result makes unnecessary."
            ),
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            **({"securitySchemes": _SCHEMES} if secured else {}),
        },
    }

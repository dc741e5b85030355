"""What the audit store keeps: an issued card, a feedback item, and the store's interface.

Neither record holds a result value or patient demographics. The ordering user and the
department are what the hook call said (``context.userId``, the Encounter's
``serviceType``), the caller what authentication verified; all may be absent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from labrecog.server._caller import Caller

__all__ = [
    "DEFAULT_FEEDBACK_DB",
    "MAX_COMMENT",
    "MAX_FEEDBACK_ITEMS",
    "MAX_ID",
    "FeedbackItem",
    "FeedbackStore",
    "IssuedCard",
    "department_of",
]

DEFAULT_FEEDBACK_DB = "labrecog-feedback.sqlite3"
MAX_FEEDBACK_ITEMS = 1000
MAX_ID = 256
MAX_COMMENT = 4000


@dataclass(frozen=True, slots=True)
class IssuedCard:
    """What the service said, for joining feedback to orders (no patient values)."""

    card_uuid: str
    service_id: str
    hook_instance: str
    order_id: str
    # A card about one ordered item: its code, waive | partial, its ServiceRequest, the
    # results it relies on, its delete suggestion. A card about the whole order (summary,
    # authorization): item_code "*", no ServiceRequest (""), no results, no suggestion,
    # so feedback on it (overridden: dismissed) still joins to the order.
    item_code: str
    status: str  # waive | partial | summary | authorization
    service_request: str  # "ServiceRequest/<id>", or "" for an order-level card
    observations: tuple[str, ...]  # the prior results relied on, "Observation/<id>"
    suggestion_uuid: str | None
    ruleset: str  # "<id> <version>"
    ruleset_digest: str
    user_id: str | None = None  # the hook's context.userId: who was ordering
    department: str | None = None  # the Encounter's serviceType (department_of)


@dataclass(frozen=True, slots=True)
class FeedbackItem:
    card_uuid: str
    outcome: str  # accepted | overridden
    accepted_suggestions: tuple[str, ...]
    override_system: str | None
    override_code: str | None
    override_display: str | None
    user_comment: str | None
    outcome_timestamp: str  # normalised to UTC, ISO 8601


class FeedbackStore(Protocol):
    """Where issued cards and their feedback go. Implementations are thread-safe.

    ``caller`` is the verified identity of the CDS client that made the call (None, or
    every field None, in the insecure mode): recorded beside each row, never a token.
    """

    def record_cards(self, cards: Sequence[IssuedCard], caller: Caller | None = None) -> None: ...

    def record_feedback(
        self, service_id: str, items: Sequence[FeedbackItem], caller: Caller | None = None
    ) -> int: ...

    def close(self) -> None: ...


def _text(value: Any) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()[:MAX_ID]
    return None


def _concept_name(concept: Any) -> str | None:
    """A CodeableConcept's words: its text, else its first coding's display, else code."""
    if not isinstance(concept, dict):
        return None
    named = _text(concept.get("text"))
    if named:
        return named
    codings = concept.get("coding")
    if isinstance(codings, list) and codings and isinstance(codings[0], dict):
        return _text(codings[0].get("display")) or _text(codings[0].get("code"))
    return None


def department_of(encounter: Any) -> str | None:
    """The department an order was placed in, for the audit: the Encounter's
    ``serviceType`` (R4: a CodeableConcept; R5: CodeableReferences, the first one's
    concept). None when there is no Encounter or it does not say: never a guess from the
    requester's display or the organisation."""
    if not isinstance(encounter, dict) or encounter.get("resourceType") != "Encounter":
        return None
    service_type = encounter.get("serviceType")
    if isinstance(service_type, list):  # R5
        first = service_type[0] if service_type else None
        return _concept_name(first.get("concept")) if isinstance(first, dict) else None
    return _concept_name(service_type)

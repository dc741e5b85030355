"""What every card is made of: the card's words, inert Markdown, uuids, summaries that fit
the 140 characters CDS Hooks allows, a prior result's lines, and the :class:`CardContext`
that names tests and offers override reasons in the engine's language.

Shared by the per-item cards (:mod:`labrecog.server._cards`) and the order-level cards
(:mod:`labrecog.server._summary_card`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any, Literal

from labrecog.compile import CompiledRules
from labrecog.fhir import FHIR_FLAG_SYSTEM
from labrecog.model import Case, PriorResult, Reason, ReferenceRange
from labrecog.words import (
    Lang,
    comma,
    format_duration,
    label,
    minutes_utc,
    number,
    paren,
    say,
    text,
)

__all__ = [
    "AUTHORIZATION_TOPIC",
    "CARD_NAMESPACE",
    "CARD_SETS",
    "ITEM_TOPIC",
    "SUMMARY_LIMIT",
    "SUMMARY_TOPIC",
    "TOPIC_SYSTEM",
    "CardContext",
    "CardSet",
    "card_uuid",
    "fit_summary",
    "lab_name",
    "local",
    "md",
    "outside_range",
    "words",
]

# Which cards a service answers (``labrecog serve --cards``): one per recognised item, the
# order's summary card, or both. The authorisation notice comes with every set.
CardSet = Literal["items", "summary", "both"]
CARD_SETS: tuple[CardSet, ...] = ("items", "summary", "both")
SUMMARY_LIMIT = 140  # CDS Hooks: "<140-character summary"
CARD_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://labrecog.dev/cds-hooks/card")
TOPIC_SYSTEM = "https://labrecog.dev/fhir/CodeSystem/card-topic"
# Card topics (codes of TOPIC_SYSTEM): what a card is about, so a client can tell an item's
# card from the order's summary and from the authorisation notice without reading text.
ITEM_TOPIC = "lab-result-recognition"
SUMMARY_TOPIC = "lab-order-summary"
AUTHORIZATION_TOPIC = "patient-authorization"


def words(key: str, lang: Lang, **params: object) -> str:
    return say("card", key, lang, **params)


_MD_SPECIAL = frozenset("\\`*_[]<>|~#&!{}")


def md(text: str) -> str:
    """Text from the request, made inert in Markdown: one line, punctuation escaped."""
    flat = " ".join(text.split())
    return "".join("\\" + ch if ch in _MD_SPECIAL else ch for ch in flat)


def card_uuid(service_id: str, order_id: str, service_request: str) -> str:
    return str(uuid.uuid5(CARD_NAMESPACE, f"{service_id}\x1f{order_id}\x1f{service_request}"))


def fit_summary(template: str, fields: dict[str, str], shrink: Sequence[str]) -> str:
    """Render ``template``; while it is not under :data:`SUMMARY_LIMIT` characters,
    shorten the longest of the ``shrink`` fields with an ellipsis."""
    values = dict(fields)
    text = template.format(**values)
    while len(text) >= SUMMARY_LIMIT:
        name = max(shrink, key=lambda k: len(values[k]))
        current = values[name]
        if len(current) <= 2:
            break
        excess = len(text) - SUMMARY_LIMIT + 1
        keep = max(1, len(current) - excess - 1)
        values[name] = current[:keep] + "…"
        text = template.format(**values)
    if len(text) >= SUMMARY_LIMIT:
        text = text[: SUMMARY_LIMIT - 2] + "…"
    return text


# --------------------------------------------------------------------------- pieces


def range_text(rr: ReferenceRange | None, unit: str | None) -> str | None:
    if rr is None:
        return None
    unit_text = rr.unit or unit or ""
    if rr.low is not None and rr.high is not None:
        core = f"{number(rr.low)}–{number(rr.high)}"
    elif rr.low is not None:
        core = f"≥ {number(rr.low)}"
    elif rr.high is not None:
        core = f"≤ {number(rr.high)}"
    elif rr.text:
        return rr.text
    else:
        return None
    return f"{core} {unit_text}".strip()


def outside_range(prior: PriorResult) -> bool:
    """Outside its own printed interval (same unit only; nothing is converted here)."""
    rr = prior.reference_range
    if prior.value is None or rr is None or (rr.unit is not None and rr.unit != prior.unit):
        return False
    return (rr.low is not None and prior.value < rr.low) or (
        rr.high is not None and prior.value > rr.high
    )


def local(moment: datetime, tz: tzinfo | None) -> datetime:
    return moment.astimezone(tz) if tz is not None else moment


def lab_name(prior: PriorResult) -> str:
    return prior.institution.name or prior.institution.id


def value_text(prior: PriorResult, lang: Lang) -> str:
    if prior.value is not None:
        return f"{number(prior.value)} {prior.unit or ''}".strip()
    if prior.value_text is not None:
        return prior.value_text
    return words("value.none", lang)


@dataclass(frozen=True, slots=True)
class CardContext:
    rules: CompiledRules
    lang: Lang
    case: Case
    priors: Mapping[str, PriorResult]
    observations: Mapping[str, str]
    tz: tzinfo | None

    def name(self, code: str) -> str:
        canonical = self.rules.order_codes.get(code, code)
        test = self.rules.tests.get(canonical)
        if test is not None:
            return test.name(self.lang)
        panel = self.rules.panels.get(canonical)
        if panel is not None:
            return panel.name(self.lang)
        return code

    def join(self, parts: Iterable[str]) -> str:
        return text("punct:enumeration", self.lang).join(parts)

    def observation(self, result_id: str | None) -> str:
        if result_id is None:
            return "-"
        return self.observations.get(result_id, result_id)

    def prior_lines(self, prior: PriorResult) -> list[str]:
        lang = self.lang
        result = md(value_text(prior, lang))
        rr = range_text(prior.reference_range, prior.unit)
        if rr:
            result += paren(f"{words('reference', lang)} {md(rr)}", lang)
        collected = local(prior.collected_at, self.tz)
        age = format_duration(self.case.ordered_at - prior.collected_at)
        lab = md(lab_name(prior))
        if prior.institution.name:
            lab += paren(md(prior.institution.id), lang)
        if prior.mark:
            lab += f"{comma(lang)}{words('mark', lang)} {md(prior.mark)}"
        lines = [
            f"- {label('card', 'result', lang)} {result}",
            f"- {label('card', 'collected', lang)} {minutes_utc(collected)}{comma(lang)}"
            + words("before", lang, age=age),
            f"- {label('card', 'lab', lang)} {lab}",
            f"- {label('card', 'resource', lang)} {md(self.observation(prior.id))}",
        ]
        return lines

    def reason_line(self, reason: Reason) -> str:
        subject = self.observation(reason.result_id) if reason.result_id else None
        test = f"{self.name(reason.test)}: " if reason.test else ""
        where = f"{md(subject)}: " if subject else ""
        return f"- {md(test)}{where}{md(reason.message)}"

    def overrides(self, codes: Sequence[str]) -> list[dict[str, str]]:
        canonical = {self.rules.order_codes.get(c, c) for c in codes}
        out = []
        for exc in self.rules.exceptions.values():
            if exc.targets is None or canonical & exc.targets:
                out.append(
                    {
                        "system": FHIR_FLAG_SYSTEM,
                        "code": exc.flag,
                        "display": exc.name(self.lang),
                    }
                )
        return out

    def source(self, topic: str = ITEM_TOPIC) -> dict[str, Any]:
        key = "topic" if topic == ITEM_TOPIC else f"topic.{topic}"
        return {
            "label": f"labrecog {self.rules.id} {self.rules.version}",
            "topic": {
                "system": TOPIC_SYSTEM,
                "code": topic,
                "display": say("card", key, self.lang),
            },
        }

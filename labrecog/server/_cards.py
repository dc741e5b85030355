"""Decision + case → CDS Hooks cards.

One card per ordered item that need not be performed in full; items to re-test get no
card (there is nothing to suggest, and a card saying "order it" would be noise):

- ``waive`` (a test, or a panel whose every component is recognised): the card names the
  prior result relied on (value, unit, collection time, performing laboratory, mark),
  the rule that allowed it, the other candidates and why they were not used, and carries
  one suggestion whose single action deletes that item's draft ServiceRequest.
- ``partial`` (a panel with some components recognised): the card lists the recognised
  components with their results and the components to order, and carries **no**
  suggestion. Replacing the panel by its remaining components means writing new orders
  in the ordering system's own catalogue codes, which this service cannot know; a wrong
  automatic order is worse than a manual edit, so the clinician changes the order.

Every card offers the rule set's exception flags that apply to the item as
``overrideReasons`` (system :data:`labrecog.fhir.FHIR_FLAG_SYSTEM`, code = flag, display
in the engine's language): the same codings, sent back on the ServiceRequest, make the
engine re-test the item. Card and suggestion uuids are UUID 5 of (service, order id,
ServiceRequest), so the same order and item always get the same uuid and feedback can be
joined to the order.

Text from the request (laboratory names, units, ids, result text) is escaped before it
goes into the Markdown ``detail``, so input cannot inject links or HTML into the card.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from labrecog.compile import CompiledRules
from labrecog.fhir import FHIR_FLAG_SYSTEM, FhirCase
from labrecog.model import Case, Decision, DecisionItem, PriorResult, Reason, ReferenceRange
from labrecog.server._feedback import IssuedCard
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
    "CARD_NAMESPACE",
    "SUMMARY_LIMIT",
    "TOPIC_SYSTEM",
    "card_uuid",
    "fit_summary",
    "render_cards",
]

SUMMARY_LIMIT = 140  # CDS Hooks: "<140-character summary"
_MAX_OTHERS = 8  # other candidates listed in a card's detail
CARD_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://labrecog.dev/cds-hooks/card")
TOPIC_SYSTEM = "https://labrecog.dev/fhir/CodeSystem/card-topic"


def _t(key: str, lang: Lang, **params: object) -> str:
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


def _range_text(rr: ReferenceRange | None, unit: str | None) -> str | None:
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


def _abnormal(prior: PriorResult) -> bool:
    """Outside its own printed interval (same unit only; nothing is converted here)."""
    rr = prior.reference_range
    if prior.value is None or rr is None or (rr.unit is not None and rr.unit != prior.unit):
        return False
    return (rr.low is not None and prior.value < rr.low) or (
        rr.high is not None and prior.value > rr.high
    )


def _local(moment: datetime, tz: tzinfo | None) -> datetime:
    return moment.astimezone(tz) if tz is not None else moment


def _lab(prior: PriorResult) -> str:
    return prior.institution.name or prior.institution.id


def _value(prior: PriorResult, lang: Lang) -> str:
    if prior.value is not None:
        return f"{number(prior.value)} {prior.unit or ''}".strip()
    if prior.value_text is not None:
        return prior.value_text
    return _t("value.none", lang)


@dataclass(frozen=True, slots=True)
class _Context:
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
        result = md(_value(prior, lang))
        rr = _range_text(prior.reference_range, prior.unit)
        if rr:
            result += paren(f"{_t('reference', lang)} {md(rr)}", lang)
        collected = _local(prior.collected_at, self.tz)
        age = format_duration(self.case.ordered_at - prior.collected_at)
        lab = md(_lab(prior))
        if prior.institution.name:
            lab += paren(md(prior.institution.id), lang)
        if prior.mark:
            lab += f"{comma(lang)}{_t('mark', lang)} {md(prior.mark)}"
        lines = [
            f"- {label('card', 'result', lang)} {result}",
            f"- {label('card', 'collected', lang)} {minutes_utc(collected)}{comma(lang)}"
            + _t("before", lang, age=age),
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

    def source(self) -> dict[str, Any]:
        return {
            "label": f"labrecog {self.rules.id} {self.rules.version}",
            "topic": {
                "system": TOPIC_SYSTEM,
                "code": "lab-result-recognition",
                "display": say("card", "topic", self.lang),
            },
        }


def _unmapped(item: DecisionItem) -> bool:
    """A newer result the rule set cannot name might be this test: a warning, not info."""
    return any(r.code == "unmapped_result" for r in item.reasons)


def _others(ctx: _Context, reasons: Sequence[Reason]) -> list[str]:
    if not reasons:
        return []
    lines = ["", _t("others", ctx.lang)]
    lines.extend(ctx.reason_line(r) for r in reasons[:_MAX_OTHERS])
    if len(reasons) > _MAX_OTHERS:
        lines.append(_t("more", ctx.lang, n=len(reasons) - _MAX_OTHERS))
    return lines


def _waive_card(
    ctx: _Context, item: DecisionItem, request: str, card_id: str, issued: dict[str, Any]
) -> dict[str, Any] | None:
    lang = ctx.lang
    name = ctx.name(item.code)
    canonical = ctx.rules.order_codes.get(item.code, item.code)
    if canonical in ctx.rules.panels:
        # A panel recognised whole: every component's result, like a partial card's list.
        return _panel_card(ctx, item, request, card_id, issued, whole=True)
    prior = ctx.priors.get(item.result_id or "")
    if prior is None:  # the engine names the result it used; never waive without it
        return None
    date = f"{_local(prior.collected_at, ctx.tz):%Y-%m-%d}"
    summary = fit_summary(
        _t("summary.waive", lang, name="{name}", date="{date}", lab="{lab}"),
        {"name": name, "date": date, "lab": _lab(prior)},
        ("lab", "name"),
    )
    source = paren(item.source, lang) if item.source else ""
    lines = [_t("head.waive", lang, name=md(f"{name} ({item.code})")), ""]
    lines.extend(ctx.prior_lines(prior))
    lines.append(
        f"- {label('card', 'why', lang)} "
        + md(_t("why.text", lang, max_age=item.max_age or "-", source=source))
    )
    lines.append(f"- {label('card', 'saving', lang)} {item.saving} {ctx.rules.currency}")
    abnormal = _abnormal(prior)
    if abnormal:
        lines.extend(["", _t("abnormal", lang)])
    lines.extend(_others(ctx, item.reasons))
    observation = ctx.observation(prior.id)
    suggestion = _delete_suggestion(
        ctx, card_id, request, name, observation=observation, date=date, lab=_lab(prior)
    )
    issued.update(observations=(observation,), suggestion_uuid=suggestion["uuid"])
    card: dict[str, Any] = {
        "uuid": card_id,
        "summary": summary,
        "indicator": "warning" if abnormal or _unmapped(item) else "info",
        "detail": "\n".join(lines),
        "source": ctx.source(),
        "suggestions": [suggestion],
        "selectionBehavior": "any",
    }
    _add_overrides(card, ctx.overrides([item.code]))
    return card


def _delete_suggestion(
    ctx: _Context, card_id: str, request: str, name: str, *, observation: str, date: str, lab: str
) -> dict[str, Any]:
    """The one suggestion a waive card carries: delete the item's own draft order."""
    lang = ctx.lang
    description = _t(
        "action", lang, request=request, name=name, observation=observation, date=date, lab=lab
    )
    return {
        "label": _t("suggest", lang, name=name),
        "uuid": str(uuid.uuid5(CARD_NAMESPACE, f"{card_id}\x1fdelete")),
        "isRecommended": True,
        "actions": [{"type": "delete", "description": description, "resourceId": request}],
    }


def _add_overrides(card: dict[str, Any], reasons: list[dict[str, str]]) -> None:
    # CDS Hooks: an optional array with nothing in it is left out, never sent empty.
    if reasons:
        card["overrideReasons"] = reasons


def _panel_card(
    ctx: _Context,
    item: DecisionItem,
    request: str,
    card_id: str,
    issued: dict[str, Any],
    *,
    whole: bool,
) -> dict[str, Any] | None:
    lang = ctx.lang
    name = ctx.name(item.code)
    waived = item.waived or ()
    retest = item.retest or ()
    priors = [ctx.priors.get(w.result_id) for w in waived]
    if not waived or any(p is None for p in priors) or (whole and retest):
        return None  # never a card, let alone a delete, without every result it names
    total = len(waived) + len(retest)
    lines: list[str]
    if whole:
        labs = sorted({_lab(p) for p in priors if p})
        summary = fit_summary(
            _t("summary.waive", lang, name="{name}", date="{date}", lab="{lab}"),
            {"name": name, "date": summary_date(priors, ctx.tz), "lab": ctx.join(labs)},
            ("lab", "name"),
        )
        lines = [_t("head.waive", lang, name=md(f"{name} ({item.code})"))]
    else:
        summary = fit_summary(
            _t("summary.partial", lang, name="{name}", n=len(waived), m=total, retest="{retest}"),
            {"name": name, "retest": ctx.join(ctx.name(c) for c in retest)},
            ("retest", "name"),
        )
        lines = [_t("head.partial", lang, name=md(f"{name} ({item.code})"), n=len(waived), m=total)]
    lines.extend(["", _t("recognised", lang)])
    abnormal = False
    for component, prior in zip(waived, priors, strict=True):
        assert prior is not None
        abnormal = abnormal or _abnormal(prior)
        lines.append(f"- **{md(ctx.name(component.code))} ({md(component.code)})**")
        lines.extend("  " + line for line in ctx.prior_lines(prior))
        for reason in item.reasons:
            if reason.test == component.code and reason.code == "unmapped_result":
                lines.append("  " + ctx.reason_line(reason.model_copy(update={"test": None})))
    if retest:
        lines.extend(["", _t("to_order", lang)])
        for code in retest:
            lines.append(f"- **{md(ctx.name(code))} ({md(code)})**")
            for reason in item.reasons:
                if reason.test == code:
                    lines.append("  " + ctx.reason_line(reason.model_copy(update={"test": None})))
    lines.append("")
    lines.append(f"{label('card', 'saving', lang)} {item.saving} {ctx.rules.currency}")
    if abnormal:
        lines.extend(["", _t("abnormal", lang)])
    observations = tuple(ctx.observation(w.result_id) for w in waived)
    card: dict[str, Any] = {
        "uuid": card_id,
        "summary": summary,
        "indicator": "warning" if abnormal or _unmapped(item) else "info",
        "detail": "",
        "source": ctx.source(),
    }
    if whole:
        suggestion = _delete_suggestion(
            ctx,
            card_id,
            request,
            name,
            observation=", ".join(observations),
            date=summary_date(priors, ctx.tz),
            lab=ctx.join(sorted({_lab(p) for p in priors if p})),
        )
        issued.update(observations=observations, suggestion_uuid=suggestion["uuid"])
        card["suggestions"] = [suggestion]
        card["selectionBehavior"] = "any"
    else:
        issued.update(observations=observations, suggestion_uuid=None)
        lines.extend(["", _t("no_suggestion", lang)])
    card["detail"] = "\n".join(lines)
    codes = [item.code, *(w.code for w in waived)]
    _add_overrides(card, ctx.overrides(codes))
    return card


def summary_date(priors: Sequence[PriorResult | None], tz: tzinfo | None) -> str:
    dates = sorted(f"{_local(p.collected_at, tz):%Y-%m-%d}" for p in priors if p is not None)
    if not dates:
        return "-"
    return dates[0] if dates[0] == dates[-1] else f"{dates[0]}…{dates[-1]}"


def render_cards(
    decision: Decision,
    fhir_case: FhirCase,
    rules: CompiledRules,
    lang: Lang,
    *,
    service_id: str,
    hook_instance: str,
) -> tuple[list[dict[str, Any]], list[IssuedCard]]:
    """The cards for one decision, in the order of the draft orders, and their records."""
    case = fhir_case.case
    ctx = _Context(
        rules=rules,
        lang=lang,
        case=case,
        priors={p.id: p for p in case.prior_results},
        observations=fhir_case.observations,
        tz=rules.timezone,
    )
    cards: list[dict[str, Any]] = []
    issued: list[IssuedCard] = []
    ruleset = f"{rules.id} {rules.version}"
    if len(decision.items) != len(fhir_case.requests):
        # Items are matched to ServiceRequests by position: a mismatch would aim a
        # delete at the wrong order, so nothing is suggested at all.
        raise RuntimeError("decision items do not match the draft ServiceRequests")
    for item, request in zip(decision.items, fhir_case.requests, strict=True):
        if item.status == "retest":
            continue
        if (item.ext or {}).get("request") != request:
            raise RuntimeError(f"decision item {item.code} is not for {request}")
        card_id = card_uuid(service_id, decision.order_id, request)
        extra: dict[str, Any] = {}
        if item.status == "waive":
            card = _waive_card(ctx, item, request, card_id, extra)
        else:
            card = _panel_card(ctx, item, request, card_id, extra, whole=False)
        if card is None:
            continue
        cards.append(card)
        issued.append(
            IssuedCard(
                card_uuid=card_id,
                service_id=service_id,
                hook_instance=hook_instance,
                order_id=decision.order_id,
                item_code=item.code,
                status=item.status,
                service_request=request,
                observations=extra.get("observations", ()),
                suggestion_uuid=extra.get("suggestion_uuid"),
                ruleset=ruleset,
                ruleset_digest=rules.digest,
            )
        )
    return cards, issued

"""Decision + case → CDS Hooks cards.

:func:`render_cards` answers the card set a service is configured for (``--cards``): the
order's summary card and the authorisation notice (:mod:`labrecog.server._summary_card`),
and one card per ordered item that need not be performed in full; items to re-test get no
card of their own (there is nothing to suggest, and a card saying "order it" would be
noise; the summary card lists them at once):

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
from collections.abc import Sequence
from datetime import tzinfo
from typing import Any

from labrecog.compile import CompiledRules
from labrecog.fhir import FhirCase
from labrecog.model import Decision, DecisionItem, PriorResult, Reason
from labrecog.server._card_text import (
    CARD_NAMESPACE,
    CARD_SETS,
    SUMMARY_LIMIT,
    TOPIC_SYSTEM,
    CardContext,
    CardSet,
    card_uuid,
    fit_summary,
    lab_name,
    local,
    md,
    outside_range,
    words,
)
from labrecog.server._feedback import IssuedCard
from labrecog.server._summary_card import (
    ORDER_ITEM,
    authorization_blocked,
    authorization_card,
    order_card_id,
    summary_card,
)
from labrecog.words import Duration, Lang, label, paren

__all__ = [
    "CARD_NAMESPACE",
    "CARD_SETS",
    "SUMMARY_LIMIT",
    "TOPIC_SYSTEM",
    "CardSet",
    "card_uuid",
    "fit_summary",
    "md",
    "render_cards",
]

_MAX_OTHERS = 8  # other candidates listed in a card's detail


def _unmapped(item: DecisionItem) -> bool:
    """A newer result the rule set cannot name might be this test: a warning, not info."""
    return any(r.code == "unmapped_result" for r in item.reasons)


def _others(ctx: CardContext, reasons: Sequence[Reason]) -> list[str]:
    if not reasons:
        return []
    lines = ["", words("others", ctx.lang)]
    lines.extend(ctx.reason_line(r) for r in reasons[:_MAX_OTHERS])
    if len(reasons) > _MAX_OTHERS:
        lines.append(words("more", ctx.lang, n=len(reasons) - _MAX_OTHERS))
    return lines


def _waive_card(
    ctx: CardContext, item: DecisionItem, request: str, card_id: str, issued: dict[str, Any]
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
    date = f"{local(prior.collected_at, ctx.tz):%Y-%m-%d}"
    summary = fit_summary(
        words("summary.waive", lang, name="{name}", date="{date}", lab="{lab}"),
        {"name": name, "date": date, "lab": lab_name(prior)},
        ("lab", "name"),
    )
    source = paren(item.source, lang) if item.source else ""
    lines = [words("head.waive", lang, name=md(name + paren(item.code, lang))), ""]
    lines.extend(ctx.prior_lines(prior))
    lines.append(
        f"- {label('card', 'why', lang)} "
        + md(words("why.text", lang, max_age=Duration(item.max_age or "-"), source=source))
    )
    lines.append(f"- {label('card', 'saving', lang)} {item.saving} {ctx.rules.currency}")
    abnormal = outside_range(prior)
    if abnormal:
        lines.extend(["", words("abnormal", lang)])
    lines.extend(_others(ctx, item.reasons))
    observation = ctx.observation(prior.id)
    suggestion = _delete_suggestion(
        ctx, card_id, request, name, observation=observation, date=date, lab=lab_name(prior)
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
    ctx: CardContext,
    card_id: str,
    request: str,
    name: str,
    *,
    observation: str,
    date: str,
    lab: str,
) -> dict[str, Any]:
    """The one suggestion a waive card carries: delete the item's own draft order."""
    lang = ctx.lang
    description = words(
        "action", lang, request=request, name=name, observation=observation, date=date, lab=lab
    )
    return {
        "label": words("suggest", lang, name=name),
        "uuid": str(uuid.uuid5(CARD_NAMESPACE, f"{card_id}\x1fdelete")),
        "isRecommended": True,
        "actions": [{"type": "delete", "description": description, "resourceId": request}],
    }


def _add_overrides(card: dict[str, Any], reasons: list[dict[str, str]]) -> None:
    # CDS Hooks: an optional array with nothing in it is left out, never sent empty.
    if reasons:
        card["overrideReasons"] = reasons


def _panel_card(
    ctx: CardContext,
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
        labs = sorted({lab_name(p) for p in priors if p})
        summary = fit_summary(
            words("summary.waive", lang, name="{name}", date="{date}", lab="{lab}"),
            {"name": name, "date": summary_date(priors, ctx.tz), "lab": ctx.join(labs)},
            ("lab", "name"),
        )
        lines = [words("head.waive", lang, name=md(name + paren(item.code, lang)))]
    else:
        summary = fit_summary(
            words(
                "summary.partial", lang, name="{name}", n=len(waived), m=total, retest="{retest}"
            ),
            {"name": name, "retest": ctx.join(ctx.name(c) for c in retest)},
            ("retest", "name"),
        )
        named = md(name + paren(item.code, lang))
        lines = [words("head.partial", lang, name=named, n=len(waived), m=total)]
    lines.extend(["", words("recognised", lang)])
    abnormal = False
    for component, prior in zip(waived, priors, strict=True):
        assert prior is not None
        abnormal = abnormal or outside_range(prior)
        lines.append(f"- **{md(ctx.name(component.code))} ({md(component.code)})**")
        lines.extend("  " + line for line in ctx.prior_lines(prior))
        for reason in item.reasons:
            if reason.test == component.code and reason.code == "unmapped_result":
                lines.append("  " + ctx.reason_line(reason.model_copy(update={"test": None})))
    if retest:
        lines.extend(["", words("to_order", lang)])
        for code in retest:
            lines.append(f"- **{md(ctx.name(code))} ({md(code)})**")
            for reason in item.reasons:
                if reason.test == code:
                    lines.append("  " + ctx.reason_line(reason.model_copy(update={"test": None})))
    lines.append("")
    lines.append(f"{label('card', 'saving', lang)} {item.saving} {ctx.rules.currency}")
    if abnormal:
        lines.extend(["", words("abnormal", lang)])
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
            lab=ctx.join(sorted({lab_name(p) for p in priors if p})),
        )
        issued.update(observations=observations, suggestion_uuid=suggestion["uuid"])
        card["suggestions"] = [suggestion]
        card["selectionBehavior"] = "any"
    else:
        issued.update(observations=observations, suggestion_uuid=None)
        lines.extend(["", words("no_suggestion", lang)])
    card["detail"] = "\n".join(lines)
    codes = [item.code, *(w.code for w in waived)]
    _add_overrides(card, ctx.overrides(codes))
    return card


def summary_date(priors: Sequence[PriorResult | None], tz: tzinfo | None) -> str:
    dates = sorted(f"{local(p.collected_at, tz):%Y-%m-%d}" for p in priors if p is not None)
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
    cards: CardSet = "both",
    if_authorised: Decision | None = None,
) -> tuple[list[dict[str, Any]], list[IssuedCard]]:
    """The cards for one decision and their records: the order's summary card (unless
    ``cards`` is ``items``), the authorisation notice (whatever ``cards``), then one card
    per recognised item in the order of the draft orders (unless ``cards`` is ``summary``).
    ``if_authorised`` is the decision on the same case authorised for this visit: the
    notice counts only what authorisation would recognise.
    """
    case = fhir_case.case
    ctx = CardContext(
        rules=rules,
        lang=lang,
        case=case,
        priors={p.id: p for p in case.prior_results},
        observations=fhir_case.observations,
        tz=rules.timezone,
    )
    out: list[dict[str, Any]] = []
    issued: list[IssuedCard] = []
    ruleset = f"{rules.id} {rules.version}"

    def record(card_id: str, code: str, status: str, request: str, extra: dict[str, Any]) -> None:
        issued.append(
            IssuedCard(
                card_uuid=card_id,
                service_id=service_id,
                hook_instance=hook_instance,
                order_id=decision.order_id,
                item_code=code,
                status=status,
                service_request=request,
                observations=extra.get("observations", ()),
                suggestion_uuid=extra.get("suggestion_uuid"),
                ruleset=ruleset,
                ruleset_digest=rules.digest,
            )
        )

    if len(decision.items) != len(fhir_case.requests):
        # Items are matched to ServiceRequests by position: a mismatch would aim a
        # delete at the wrong order, so nothing is suggested at all.
        raise RuntimeError("decision items do not match the draft ServiceRequests")
    if cards != "items":
        card_id = order_card_id(service_id, decision.order_id, "summary")
        card = summary_card(ctx, decision, card_id)
        if card is not None:
            out.append(card)
            record(card_id, ORDER_ITEM, "summary", "", {})
    blocked = authorization_blocked(decision, if_authorised)
    if blocked:
        card_id = order_card_id(service_id, decision.order_id, "authorization")
        out.append(authorization_card(ctx, blocked, card_id))
        record(card_id, ORDER_ITEM, "authorization", "", {})
    if cards == "summary":
        return out, issued
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
        out.append(card)
        record(card_id, item.code, item.status, request, extra)
    return out, issued

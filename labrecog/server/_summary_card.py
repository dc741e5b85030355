"""The order-level cards: what is still to order, and what only authorisation holds back.

- The **summary card** (topic ``lab-order-summary``), one per call when anything is
  recognised: "仅需检查：糖化血红蛋白A1c（节省 54.00 CNY）" / "Only Haemoglobin A1c needs to
  be done — 54.00 CNY saved". It lists by name every entry of the decision's ``to_order``
  (a partial panel's remaining components beside the panel they come from), the items
  recognised, and the total saving; when nothing stays it says that no ordered test needs
  to be done. It suggests nothing: the per-item cards carry the deletes, and an order
  system that wants the list reads ``to_order``.
- The **authorisation notice** (topic ``patient-authorization``), when some ordered tests
  are held back by nothing but a missing, expired or foreign-visit authorisation:
  "请患者授权后可互认 N 项检查". An ``info`` card with no suggestion: the fix is the
  patient's consent, not a change to the order. N counts the items every one of whose
  blocking reasons is ``no_authorization`` *and* that the same case, authorised for this
  visit, would recognise (``if_authorised``): a test with no result on file is not one
  that authorisation would save. Only the count and the test names are shown: no result,
  value, date or laboratory is disclosed before the patient agrees.
"""

from __future__ import annotations

from typing import Any

from labrecog.engine import Engine
from labrecog.model import Authorization, Case, Decision, DecisionItem
from labrecog.server._card_text import (
    AUTHORIZATION_TOPIC,
    SUMMARY_TOPIC,
    CardContext,
    card_uuid,
    fit_summary,
    md,
    words,
)
from labrecog.words import Lang, label, paren

__all__ = [
    "ORDER_ITEM",
    "authorization_blocked",
    "authorization_card",
    "if_authorised",
    "order_card_id",
    "summary_card",
]

# cds_card.item_code of a card about the whole order rather than one ordered item
ORDER_ITEM = "*"

# Reasons that explain a panel's bookkeeping, not why one of its components is re-tested.
_NOT_BLOCKING = frozenset({"partial_not_allowed", "duplicate_order"})


def _named(ctx: CardContext, code: str) -> str:
    """``Haemoglobin A1c (HBA1C)``; a code the catalogue cannot name, as it is."""
    name = ctx.name(code)
    return md(name) if name == code else md(name) + paren(md(code), ctx.lang)


def summary_card(ctx: CardContext, decision: Decision, card_id: str) -> dict[str, Any] | None:
    """The summary card, or ``None`` when nothing is recognised (all stays as ordered)."""
    if all(item.status == "retest" for item in decision.items):
        return None
    lang = ctx.lang
    saving = f"{decision.saving} {decision.currency}"
    to_order = decision.to_order
    if to_order:
        key = "summary.only.one" if len(to_order) == 1 else "summary.only.many"
        summary = fit_summary(
            words(key, lang, names="{names}", saving=saving),
            {"names": ctx.join(ctx.name(code) for code in to_order)},
            ("names",),
        )
    else:
        summary = fit_summary(words("summary.nothing", lang, saving=saving), {}, ())
    lines = [label("card", "summary.to_order", lang)]
    recognised: list[str] = []
    for item in decision.items:
        if item.status == "retest":
            lines.append(f"- {_named(ctx, item.code)}{_why(item, lang)}")
            continue
        if item.status == "partial":
            panel = _named(ctx, item.code)
            rest = ctx.join(_named(ctx, code) for code in item.retest or ())
            lines.append("- " + words("summary.rest_of", lang, rest=rest, panel=panel))
            n = len(item.waived or ())
            m = n + len(item.retest or ())
            recognised.append("- " + words("summary.panel", lang, panel=panel, n=n, m=m))
        else:
            recognised.append(f"- {_named(ctx, item.code)}")
    if not to_order:
        lines[0] += " " + words("summary.to_order.none", lang)
    lines.extend(["", label("card", "summary.recognised", lang), *recognised])
    lines.extend(["", f"{label('card', 'summary.saving', lang)} {saving}"])
    return {
        "uuid": card_id,
        "summary": summary,
        "indicator": "info",
        "detail": "\n".join(lines),
        "source": ctx.source(SUMMARY_TOPIC),
    }


def _why(item: DecisionItem, lang: Lang) -> str:
    """``: <the first reason it stays>``: a doctor told to order a test sees why, even when
    no item card is shown for it (an unreadable newer result, say)."""
    if not item.reasons:
        return ""
    return words("summary.why", lang, why=md(item.reasons[0].message))


def _blocking(item: DecisionItem) -> list[str]:
    """The codes of the reasons that keep ``item`` (or its remaining components) from being
    recognised: not those about components already recognised, nor panel bookkeeping."""
    recognised = {w.code for w in item.waived or ()}
    recognised.update(r.test for r in item.reasons if r.code == "partial_not_allowed" and r.test)
    return [
        r.code
        for r in item.reasons
        if r.code not in _NOT_BLOCKING and (r.test is None or r.test not in recognised)
    ]


def authorization_blocked(
    decision: Decision, if_authorised: Decision | None = None
) -> list[DecisionItem]:
    """The items held back by nothing but the authorisation (every blocking reason is
    ``no_authorization``), in order; given ``if_authorised`` (the decision on the same case
    with the authorisation granted), only those it would recognise, wholly or in part."""
    out = []
    for k, item in enumerate(decision.items):
        if item.status == "waive":
            continue
        codes = _blocking(item)
        if not codes or any(code != "no_authorization" for code in codes):
            continue
        if if_authorised is not None and _gains_nothing(item, if_authorised.items[k]):
            continue
        out.append(item)
    return out


def if_authorised(engine: Engine, case: Case, decision: Decision) -> Decision | None:
    """The decision on ``case`` authorised for this visit, when some item is held back by
    the authorisation alone (else None: nothing to count, nothing evaluated twice)."""
    if not authorization_blocked(decision):
        return None
    return engine.evaluate(case.model_copy(update={"authorization": Authorization(granted=True)}))


def _gains_nothing(item: DecisionItem, authorised: DecisionItem) -> bool:
    """Whether authorising would recognise nothing more of ``item``."""
    if authorised.status == "retest":
        return True
    return len(authorised.waived or ()) <= len(item.waived or ()) and authorised.status != "waive"


def authorization_card(
    ctx: CardContext, blocked: list[DecisionItem], card_id: str
) -> dict[str, Any]:
    """The notice for ``blocked`` (non-empty): how many tests, which, and what unblocks them."""
    lang = ctx.lang
    n = len(blocked)
    summary = words("auth.summary.one" if n == 1 else "auth.summary.many", lang, n=n)
    lines = [words("auth.head", lang), ""]
    lines.extend(f"- {_named(ctx, item.code)}" for item in blocked)
    lines.extend(["", words("auth.then", lang)])
    return {
        "uuid": card_id,
        "summary": summary,
        "indicator": "info",
        "detail": "\n".join(lines),
        "source": ctx.source(AUTHORIZATION_TOPIC),
    }


def order_card_id(service_id: str, order_id: str, kind: str) -> str:
    """uuid 5 of (service, order, ``#summary`` / ``#authorization``): one per order and
    kind, never one of an item's (those end in a ``ServiceRequest/`` reference)."""
    return card_uuid(service_id, order_id, f"#{kind}")

"""A decision as rich tables for a person reading one case (``labrecog explain``).

Everything here is built from ``Text`` objects, never from markup strings: case data and
reason messages may contain square brackets (``[IU]``, ``[arb'U]``) that markup would eat.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from rich import box
from rich.console import Group, RenderableType
from rich.padding import Padding
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from labrecog.compile import CompiledRules
from labrecog.decide import Trace
from labrecog.model import Case, Decision, DecisionItem, OrderedItem, PriorResult, Reason
from labrecog.words import (
    LANGUAGES,
    Lang,
    comma,
    format_duration,
    minutes,
    number,
    paren,
    patient_words,
    say,
    text,
)

__all__ = ["STATUS_STYLES", "explanation"]

STATUS_STYLES: dict[str, str] = {
    "waive": "bold green",
    "partial": "bold yellow",
    "retest": "bold red",
}

# key: (english, chinese). Labels only; reason messages come from the engine.


def explanation(
    case: Case, decision: Decision, rules: CompiledRules, lang: Lang, trace: Trace
) -> Group:
    """Header, one table per ordered item, and the total: what a clinician reads top-down.

    ``trace`` is the evaluation's: the patient's age is shown as the rules reckoned it.
    """
    words = _Words(lang)
    priors = {p.id: p for p in case.prior_results}
    parts: list[RenderableType] = [_header(case, decision, rules, words, trace)]
    # decide_order yields exactly one item per ordered line, in order.
    for n, (ordered, item) in enumerate(zip(case.tests, decision.items, strict=True), 1):
        parts.append(_item_table(n, ordered, item, case, priors, rules, words))
    parts.append(_footer(decision, words))
    parts.append(_to_order(decision, rules, words))
    return Group(*parts)


class _Words:
    """Labels in the chosen language, so the rest reads like the layout it builds."""

    def __init__(self, lang: Lang) -> None:
        self.lang = lang

    def __call__(self, key: str, **params: object) -> str:
        return say("explain", key, self.lang, **params)

    def status(self, status: str) -> Text:
        word = say("status", status, self.lang)
        return Text(word, style=STATUS_STYLES.get(status, ""))

    def sep(self) -> str:
        return comma(self.lang)


def _header(case: Case, decision: Decision, rules: CompiledRules, w: _Words, trace: Trace) -> Panel:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    grid.add_row(
        w("order"),
        Text(f"{case.order_id} · {w('ordered_at')} {minutes(case.ordered_at)}"),
    )
    who = patient_words(case.patient.sex, trace.age, w.lang)
    grid.add_row(w("patient"), Text(f"{case.patient.id} · {who}"))
    inst = case.institution
    grid.add_row(
        w("institution"), Text(_institution(inst.id, inst.name, inst.region, inst.level, w))
    )
    setting = case.context.setting
    setting_text = _setting(setting, w.lang) if setting else "—"
    if case.context.department:
        setting_text += f" · {case.context.department}"
    grid.add_row(w("setting"), Text(setting_text))
    grid.add_row(w("flags"), Text(_flags(case.context.flags, rules, w)))
    grid.add_row(w("authorization"), Text(_authorization(case, decision, w)))
    ref = decision.ruleset
    grid.add_row(w("ruleset"), Text(f"{ref.id} {ref.version} · {_short_digest(ref.digest)}"))
    return Panel(grid, title=Text(w("title"), style="bold"), title_align="left", box=box.ROUNDED)


def _authorization(case: Case, decision: Decision, w: _Words) -> str:
    """Granted, and for which visit and until when; or why it does not hold for this order
    (the engine's own words, from the reason every item then carries). Never the code."""
    auth = case.authorization
    why = next(
        (
            r.message
            for item in decision.items
            for r in item.reasons
            if r.code == "no_authorization" and r.result_id is None
        ),
        None,
    )
    if auth.granted and why is not None:
        return w("auth.not_valid", why=why)
    parts = [w("granted") if auth.granted else w("not_granted")]
    if auth.encounter is not None:
        parts.append(w("auth.visit", visit=auth.encounter))
    if auth.expires_at is not None:
        parts.append(w("auth.until", when=minutes(auth.expires_at)))
    return " · ".join(parts)


def _item_table(
    number: int,
    ordered: OrderedItem,
    item: DecisionItem,
    case: Case,
    priors: dict[str, PriorResult],
    rules: CompiledRules,
    w: _Words,
) -> Table:
    code = rules.order_codes.get(ordered.code)
    panel = rules.panels.get(code) if code is not None else None
    title = Text(f"{number}. {item.code}", style="bold")
    name = _name(code, rules, w)
    if name:
        title.append(f"  {name}")
    if code is not None and code != item.code:
        title.append(f"  (= {code})", style="dim")
    table = Table(
        title=title,
        title_justify="left",
        show_header=False,
        box=box.SIMPLE,
        expand=True,
        padding=(0, 1),
    )
    table.add_column(style="bold", no_wrap=True, min_width=12, max_width=30)
    table.add_column(overflow="fold", ratio=1)

    status = w.status(item.status)
    status.append(f"  {w('saving')} {item.saving} {rules.currency}", style="")
    if item.retest:
        status.append(f"  {w('retest_components')}: {', '.join(item.retest)}", style="")
    table.add_row(w("status"), status)
    if ordered.flags:
        table.add_row(w("item_flags"), Text(_flags(ordered.flags, rules, w)))

    if panel is None:
        if item.result_id is not None:
            table.add_row(w("prior_used"), _prior_text(item.result_id, priors, case, w))
        _reason_rows(table, item.reasons, item.status == "waive", priors, case, w)
        return table

    # A panel: one row per component, then whatever is about the panel as a whole.
    waived = {c.code: c.result_id for c in item.waived or ()}
    components = set(panel.components)
    for component in panel.components:
        label = Text(component)
        comp_name = _name(component, rules, w)
        if comp_name:
            label.append(f" {comp_name}", style="")
        head = Text()
        used = waived.get(component)
        if used is not None:
            head.append(w("component_waived"), style=STATUS_STYLES["waive"])
            head.append("  ")
            head.append_text(_prior_text(used, priors, case, w))
        else:
            head.append(w("component_retest"), style=STATUS_STYLES["retest"])
        own = [r for r in item.reasons if r.test == component]
        table.add_row(label, Group(head, _grouped(own, priors, case, w)) if own else head)
    rest = [r for r in item.reasons if r.test not in components]
    _reason_rows(table, rest, False, priors, case, w)
    return table


def _reason_rows(
    table: Table,
    reasons: Sequence[Reason],
    waived: bool,
    priors: dict[str, PriorResult],
    case: Case,
    w: _Words,
) -> None:
    about_results = [r for r in reasons if r.result_id is not None]
    general = [r for r in reasons if r.result_id is None]
    if about_results:
        label = w("candidates_other") if waived else w("candidates_rejected")
        table.add_row(label, _grouped(about_results, priors, case, w))
    if general:
        table.add_row(w("reasons"), _reason_list(general, w))


def _grouped(
    reasons: Sequence[Reason], priors: dict[str, PriorResult], case: Case, w: _Words
) -> Group:
    """Reasons without a result first, then per result id, each result described once."""
    general = [r for r in reasons if r.result_id is None]
    order: list[str] = []
    groups: dict[str, list[Reason]] = {}
    for reason in reasons:
        if reason.result_id is None:
            continue
        if reason.result_id not in groups:
            order.append(reason.result_id)
            groups[reason.result_id] = []
        groups[reason.result_id].append(reason)
    parts: list[RenderableType] = []
    if general:
        parts.append(_reason_list(general, w))
    for result_id in order:
        parts.append(_prior_text(result_id, priors, case, w))
        parts.append(Padding(_reason_list(groups[result_id], w), (0, 0, 0, 2)))
    return Group(*parts)


def _reason_list(reasons: Iterable[Reason], w: _Words) -> Table:
    """Bulleted with a hanging indent, so a wrapped message stays under its own bullet."""
    grid = Table.grid(padding=(0, 1))
    grid.add_column(no_wrap=True)
    grid.add_column(overflow="fold")
    for reason in reasons:
        line = Text(reason.code, style="bold")
        if reason.flag and reason.code == "exception":
            line.append(f" ({reason.flag})", style="bold")
        line.append(f": {reason.message}")
        if reason.source:
            line.append(" " + w("source", source=reason.source), style="dim")
        grid.add_row("•", line)
    return grid


def _prior_text(result_id: str, priors: dict[str, PriorResult], case: Case, w: _Words) -> Text:
    out = Text(result_id, style="bold cyan")
    prior = priors.get(result_id)
    if prior is None:
        out.append(f" ({w('not_in_case')})", style="dim")
        return out
    if prior.value_text is not None:
        value = prior.value_text
    elif prior.value is not None:
        value = f"{number(prior.value)} {prior.unit or ''}".rstrip()
    else:
        value = w("no_value")
    delta = case.ordered_at - prior.collected_at
    age = (
        w("before", age=format_duration(delta))
        if delta.total_seconds() >= 0
        else (w("after", age=format_duration(-delta)))
    )
    inst = prior.institution
    parts = [
        value,
        f"{w('collected')} {minutes(prior.collected_at)} {age}",
        _institution(inst.id, inst.name, None, None, w),
    ]
    if prior.mark:
        parts.append(prior.mark)
    out.append(" · " + " · ".join(parts))
    return out


def _footer(decision: Decision, w: _Words) -> Text:
    counts = {"waive": 0, "partial": 0, "retest": 0}
    for item in decision.items:
        counts[item.status] += 1
    out = Text(w("total"), style="bold")
    out.append(f"{decision.saving} {decision.currency}", style="bold green")
    out.append(w("counts", **counts))
    return out


def _to_order(decision: Decision, rules: CompiledRules, w: _Words) -> Text:
    """The decision's ``to_order`` by catalogue name, code beside it (as ordered, so an
    alias or unknown code reads as the order does): what the doctor still orders."""
    out = Text(w("to_order"), style="bold")
    if not decision.to_order:
        out.append(w("to_order.none"))
        return out
    shown = []
    for code in decision.to_order:
        name = _name(rules.order_codes.get(code), rules, w)
        shown.append(f"{name}{paren(code, w.lang)}" if name else code)
    out.append(text("punct:enumeration", w.lang).join(shown))
    return out


def _name(code: str | None, rules: CompiledRules, w: _Words) -> str:
    if code is None:
        return ""
    test = rules.tests.get(code)
    if test is not None:
        return test.name(w.lang)
    panel = rules.panels.get(code)
    if panel is not None:
        return panel.name(w.lang)
    return ""


def _flags(flags: Sequence[str], rules: CompiledRules, w: _Words) -> str:
    if not flags:
        return w("none")
    shown = []
    for flag in flags:
        exc = rules.exceptions.get(flag)
        if exc is None:
            shown.append(flag)
        else:
            shown.append(f"{flag} ({exc.name(w.lang)})")
    return w.sep().join(shown)


def _setting(setting: str, lang: Lang) -> str:
    """The setting in the language's words; a setting no table names, as given."""
    key = f"setting:{setting}"
    return text(key, lang) if key in LANGUAGES["en"] else setting


def _institution(
    inst_id: str, name: str | None, region: str | None, level: int | None, w: _Words
) -> str:
    text = f"{name} ({inst_id})" if name else inst_id
    if region:
        text += f" · {w('region')} {region}"
    if level is not None:
        text += f" · {w('level')} {level}"
    return text


def _short_digest(digest: str) -> str:
    algo, _, hexdigest = digest.partition(":")
    return f"{algo}:{hexdigest[:12]}" if hexdigest else digest[:19]

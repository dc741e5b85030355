"""A decision as rich tables for a person reading one case (``labrecog explain``).

Everything here is built from ``Text`` objects, never from markup strings: case data and
reason messages may contain square brackets (``[IU]``, ``[arb'U]``) that markup would eat.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from rich import box
from rich.console import Group, RenderableType
from rich.padding import Padding
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from labrecog.check.facts import completed_years
from labrecog.compile.compiled import CompiledRules
from labrecog.model.case import Case, OrderedItem, PriorResult
from labrecog.model.decision import Decision, DecisionItem, Reason
from labrecog.output.messages import Lang, format_duration, patient_words

__all__ = ["STATUS_STYLES", "explanation"]

STATUS_STYLES: dict[str, str] = {
    "waive": "bold green",
    "partial": "bold yellow",
    "retest": "bold red",
}

# key: (english, chinese). Labels only; reason messages come from the engine.
_LABELS: dict[str, tuple[str, str]] = {
    "title": ("Mutual recognition of lab results", "检验结果互认"),
    "order": ("Order", "医嘱"),
    "ordered_at": ("ordered at", "开单时间"),
    "patient": ("Patient", "患者"),
    "institution": ("Ordering institution", "开单机构"),
    "setting": ("Setting", "就诊类型"),
    "flags": ("Flags", "标记"),
    "authorization": ("Authorisation", "患者授权"),
    "granted": ("granted", "已授权"),
    "not_granted": ("not granted", "未授权"),
    "ruleset": ("Rule set", "规则集"),
    "none": ("none", "无"),
    "region": ("region", "地区"),
    "level": ("level", "等级"),
    "status": ("Status", "结论"),
    "saving": ("saving", "节省"),
    "prior_used": ("Prior used", "采用结果"),
    "candidates_rejected": ("Rejected", "未采用原因"),
    "candidates_other": ("Other results", "其他结果"),
    "reasons": ("Reasons", "原因"),
    "before": ("({age} before the order)", "（开单前 {age}）"),
    "after": ("({age} after the order)", "（开单后 {age}）"),
    "collected": ("collected", "采集"),
    "no_value": ("no value", "无结果值"),
    "not_in_case": ("not among the case's prior results", "不在病例的既往结果中"),
    "retest_components": ("re-test", "需复查"),
    "component_waived": ("waived", "免检"),
    "component_retest": ("re-test", "复查"),
    "source": ("[source: {source}]", "〔依据：{source}〕"),
    "total": ("Total saving: ", "合计节省："),
    "counts": (
        "   (waive {waive} · partial {partial} · retest {retest})",
        "（互认 {waive} 项 · 部分互认 {partial} 项 · 复查 {retest} 项）",
    ),
    "item_flags": ("Item flags", "项目标记"),
}

_STATUS_WORDS_ZH = {"waive": "互认免检", "partial": "部分互认", "retest": "需复查"}
_SETTING_ZH = {"outpatient": "门诊", "inpatient": "住院", "emergency": "急诊", "checkup": "体检"}


def explanation(case: Case, decision: Decision, rules: CompiledRules, lang: Lang) -> Group:
    """Header, one table per ordered item, and the total: what a clinician reads top-down."""
    words = _Words(lang)
    priors = {p.id: p for p in case.prior_results}
    parts: list[RenderableType] = [_header(case, decision, rules, words)]
    # decide_order yields exactly one item per ordered line, in order.
    for number, (ordered, item) in enumerate(zip(case.tests, decision.items, strict=True), 1):
        parts.append(_item_table(number, ordered, item, case, priors, rules, words))
    parts.append(_footer(decision, words))
    return Group(*parts)


class _Words:
    """Labels in the chosen language, so the rest reads like the layout it builds."""

    def __init__(self, lang: Lang) -> None:
        self.lang = lang

    def __call__(self, key: str, **params: object) -> str:
        en, zh = _LABELS[key]
        text = zh if self.lang == "zh" else en
        return text.format(**params) if params else text

    def status(self, status: str) -> Text:
        word = f"{status}（{_STATUS_WORDS_ZH[status]}）" if self.lang == "zh" else status
        return Text(word, style=STATUS_STYLES.get(status, ""))

    def sep(self) -> str:
        return "，" if self.lang == "zh" else ", "


def _header(case: Case, decision: Decision, rules: CompiledRules, w: _Words) -> Panel:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    grid.add_row(
        w("order"),
        Text(f"{case.order_id} · {w('ordered_at')} {_when(case.ordered_at)}"),
    )
    grid.add_row(w("patient"), Text(f"{case.patient.id} · {_patient(case, rules, w)}"))
    inst = case.institution
    grid.add_row(
        w("institution"), Text(_institution(inst.id, inst.name, inst.region, inst.level, w))
    )
    setting = case.context.setting
    setting_text = (
        (_SETTING_ZH.get(setting, setting) if w.lang == "zh" else setting) if setting else "—"
    )
    if case.context.department:
        setting_text += f" · {case.context.department}"
    grid.add_row(w("setting"), Text(setting_text))
    grid.add_row(w("flags"), Text(_flags(case.context.flags, rules, w)))
    grid.add_row(
        w("authorization"),
        Text(w("granted") if case.authorization.granted else w("not_granted")),
    )
    ref = decision.ruleset
    grid.add_row(w("ruleset"), Text(f"{ref.id} {ref.version} · {_short_digest(ref.digest)}"))
    return Panel(grid, title=Text(w("title"), style="bold"), title_align="left", box=box.ROUNDED)


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
        value = f"{_number(prior.value)} {prior.unit or ''}".rstrip()
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
        f"{w('collected')} {_when(prior.collected_at)} {age}",
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


def _name(code: str | None, rules: CompiledRules, w: _Words) -> str:
    if code is None:
        return ""
    test = rules.tests.get(code)
    if test is not None:
        return test.name(w.lang)
    panel = rules.panels.get(code)
    if panel is not None:
        return panel.name_zh if w.lang == "zh" else panel.name_en
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
            shown.append(f"{flag} ({exc.name_zh if w.lang == 'zh' else exc.name_en})")
    return w.sep().join(shown)


def _patient(case: Case, rules: CompiledRules, w: _Words) -> str:
    # Age as the engine reckons it: completed years on the order's date in the rules' zone.
    birth = case.patient.birth_date
    age: int | None = None
    if birth is not None:
        local = case.ordered_at.astimezone(rules.timezone) if rules.timezone else case.ordered_at
        age = completed_years(birth, local.date())
    return patient_words(case.patient.sex, age, w.lang)


def _institution(
    inst_id: str, name: str | None, region: str | None, level: int | None, w: _Words
) -> str:
    text = f"{name} ({inst_id})" if name else inst_id
    if region:
        text += f" · {w('region')} {region}"
    if level is not None:
        text += f" · {w('level')} {level}"
    return text


def _when(moment: datetime) -> str:
    return moment.isoformat(timespec="minutes").replace("T", " ")


def _number(value: float) -> str:
    return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)


def _short_digest(digest: str) -> str:
    algo, _, hexdigest = digest.partition(":")
    return f"{algo}:{hexdigest[:12]}" if hexdigest else digest[:19]

"""The words of ``labrecog audit`` (override rates for a quality office): key -> (en, zh).

"Override" is the CDS Hooks outcome (the clinician did not follow the card): 否决 in the
tables; "accepted" 采纳. A department or user the store has no value for is "(not
recorded)", never a guess.
"""

from __future__ import annotations

__all__ = ["AUDIT"]

AUDIT: dict[str, tuple[str, str]] = {
    "title": ("labrecog audit: overrides of recognition cards", "labrecog 互认建议审计"),
    "store": ("store: {store}", "数据库：{store}"),
    "period.both": ("{start} ≤ issued < {end} ({tz})", "{start} ≤ 签发时间 < {end}（{tz}）"),
    "period.from": ("{start} ≤ issued ({tz})", "{start} ≤ 签发时间（{tz}）"),
    "period.to": ("issued < {end} ({tz})", "签发时间 < {end}（{tz}）"),
    "period.all": ("every card in the store", "数据库中的全部建议"),
    "totals": ("Totals", "合计"),
    "value": ("value", "数值"),
    "cards": ("cards", "建议数"),
    "item_cards": ("item cards (waive, partial)", "单项建议（免检、部分互认）"),
    "accepted": ("accepted", "采纳"),
    "overridden": ("overridden", "否决"),
    "no_feedback": ("no feedback", "无反馈"),
    "override_rate": ("override rate", "否决率"),
    "order_cards": ("order-level cards (summary, authorisation)", "整单提示（汇总、授权）"),
    "order_dismissed": ("order-level cards dismissed", "被关闭的整单提示"),
    "unknown_cards": ("feedback on cards this store never issued", "针对未知建议的反馈"),
    "by_test": ("By test", "按项目"),
    "test": ("test", "项目"),
    "by_reason": ("By override reason", "按否决原因"),
    "reason": ("reason", "原因"),
    "display": ("as shown", "显示文字"),
    "share": ("share of overrides", "占否决比例"),
    "no_reason": ("(no coded reason)", "（未给出编码原因）"),
    "by_department": ("By department", "按科室"),
    "department": ("department", "科室"),
    "by_user": ("By ordering user", "按开单医生"),
    "user": ("user", "开单医生"),
    "not_recorded": ("(not recorded)", "（未记录）"),
    "more_rows": (
        "… and {n} more rows (--top, or --json for all)",
        "……另有 {n} 行（调整 --top，或用 --json 查看全部）",
    ),
    "more_html": ("… and {n} more (see --json)", "……另有 {n} 行（见 --json）"),
    "no_rows": ("no rows", "无"),
    "note.rate": (
        "override rate = overridden / (accepted + overridden): cards without feedback are "
        "left out.\nEach card counts once, with its latest feedback.",
        "否决率 = 否决 / (采纳 + 否决)：无反馈的建议不计入。\n"
        "每条建议只计一次，以最近一次反馈为准。",
    ),
    "note.reason": (
        "Reasons are the coded override reason of the latest feedback; --json gives each "
        "code's system.",
        "原因为最近一次反馈中的否决原因编码；--json 给出各编码的代码系统。",
    ),
}

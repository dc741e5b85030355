"""The words of ``labrecog lint``, English and Chinese: key -> (english, chinese).

``title.<CODE>`` names each finding code (the SARIF rule's short description, the table of
docs/lint.md); ``msg.<CODE>`` is the message of one finding, filled in by the linter.
"""

from __future__ import annotations

__all__ = ["LINT"]

LINT: dict[str, tuple[str, str]] = {
    # -- what each code finds ------------------------------------------------------
    "title.C001": ("condition can never apply", "条件永远不会生效"),
    "title.C002": ("condition never has an effect", "条件不起作用"),
    "title.C003": ("conditions overlap with different answers", "条件重叠且结论不同"),
    "title.P001": ("max_age longer than the declared cap", "有效期超过声明的上限"),
    "title.P002": ("flag or exception that nothing uses", "未被使用的标记或例外情形"),
    "title.P003": ("test or panel without a price", "项目或组合没有价格"),
    "title.P004": ("panel with a component that is never recognised", "组合含不可互认的项目"),
    "title.P005": ("test without LOINC", "项目没有 LOINC 编码"),
    "title.P006": ("value marked `source: assumed`", "标注为假定来源的取值"),
    "title.P007": ("codes that look alike", "外观相似的编码"),
    # -- one finding ---------------------------------------------------------------
    "msg.C001.when": (
        "condition '{id}' can never apply: its `{clause}` clause admits no case",
        "条件“{id}”永远不会生效：其 `{clause}` 子句不接受任何病例",
    ),
    "msg.C001.targets": (
        "condition '{id}' can never apply: it targets no test",
        "条件“{id}”永远不会生效：它不针对任何项目",
    ),
    "msg.C002": (
        "condition '{id}' never has an effect: the later condition '{later}' ({at}) applies "
        "whenever it does, to all its tests, and sets every key it sets ({keys})",
        "条件“{id}”不起作用：后面的条件“{later}”（{at}）在其生效时总会生效，覆盖其全部项目，"
        "并设定了其设定的每个键（{keys}）",
    ),
    "msg.C003": (
        "conditions '{first}' ({at}) and '{id}' both apply to {tests} for some cases, with "
        "different {diffs}; the later one wins",
        "条件“{first}”（{at}）与“{id}”对 {tests} 可同时生效，而 {diffs} 不同；以后者为准",
    ),
    "msg.P001": (
        "{what} sets max_age {value} for {test}, longer than the cap {cap} of {scope} ({source})",
        "{what}为 {test} 设定有效期{value:zh}，超过{scope}的上限{cap:zh}（{source}）",
    ),
    "msg.P001.own": (
        "{what} sets max_age {value}, longer than the cap {cap} of {scope} ({source})",
        "{what}设定有效期{value:zh}，超过{scope}的上限{cap:zh}（{source}）",
    ),
    "msg.P002.exception": (
        "exception '{name}' is used by no condition and no test case",
        "例外情形“{name}”未被任何条件或测试用例使用",
    ),
    "msg.P002.flag": (
        "flag '{name}' is used by no condition and no test case",
        "标记“{name}”未被任何条件或测试用例使用",
    ),
    "msg.P003": (
        "{kind} '{code}' has no price: its saving is never counted",
        "{kind}“{code}”没有价格：节省金额无法计算",
    ),
    "msg.P004": (
        "panel '{code}' can never be waived whole: component '{component}' is not recognisable",
        "组合“{code}”永远无法整体互认：其项目“{component}”不可互认",
    ),
    "msg.P005": (
        "test '{code}' has no LOINC code: results from other labs are matched by "
        "code or alias only",
        "项目“{code}”没有 LOINC 编码：外院结果只能按编码或别名匹配",
    ),
    "msg.P006": (
        "{what} is assumed ({source}): set it locally",
        "{what} 为假定值（{source}）：请在本地设定",
    ),
    "msg.P007": (
        "'{code}' ({owner}) and '{other}' ({other_owner}) differ only in case, width or "
        "separators: an order written one way names the other's test nowhere",
        "“{code}”（{owner}）与“{other}”（{other_owner}）仅大小写、全半角或分隔符不同，容易混淆",
    ),
    "kind.test": ("test", "项目"),
    "kind.panel": ("panel", "组合"),
    "scope.all": ("the rule set", "本规则集"),
    "scope.category": ("category '{name}'", "类别“{name}”"),
    "what.test": ("test '{code}'", "项目“{code}”"),
    "what.category": ("category '{name}'", "类别“{name}”"),
    "what.defaults": ("defaults", "默认值"),
    "what.condition": ("condition '{id}'", "条件“{id}”"),
    "witness": ("  witness: {case}", "  示例病例：{case}"),
    "summary": ("{n} findings", "发现 {n} 个问题"),
    "summary.one": ("1 finding", "发现 1 个问题"),
    "clean": ("no findings", "未发现问题"),
    "ignored": ("{n} left out", "{n} 个未列出"),
    "hidden": ("{n} below --fail-on not shown", "{n} 个低于 --fail-on 的未显示"),
    "sep": ("; ", "；"),
    "parens": (" ({text})", "（{text}）"),
}

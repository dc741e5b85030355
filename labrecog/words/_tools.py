"""The words of the operator tools, English and Chinese: key -> (english, chinese).

``labrecog report`` (REPORT), ``labrecog test`` (TESTRUN), provenance tags (SOURCE) and
input-error messages (INPUT). Input errors are worded by pydantic, the case model and the
readers in English; INPUT holds each English message as a template (``{name}`` is any
text) beside its Chinese, and :func:`labrecog.words.input_text` rewords a message that
matches one. A message no template matches stays English: never a wrong translation.
"""

from __future__ import annotations

__all__ = ["INIT", "INPUT", "REPORT", "SOURCE", "TESTRUN"]

# --------------------------------------------------------------------------- provenance

# The tags labrecog and the shipped rule sets write in ``source:`` (see _format.source_text)
SOURCE: dict[str, tuple[str, str]] = {
    "labrecog built-in default": ("labrecog built-in default", "labrecog 内置默认值"),
    "assumed — set locally": ("assumed — set locally", "假定，本地设定"),
    "assumed": ("assumed", "假定"),
}

# --------------------------------------------------------------------------- report

REPORT: dict[str, tuple[str, str]] = {
    "title": ("labrecog report", "labrecog 互认统计报告"),
    "decisions_file": ("decisions: {source}", "决定文件：{source}"),
    "totals": ("Totals", "合计"),
    "value": ("value", "数值"),
    "cases": ("cases", "病例"),
    "decisions": ("decisions", "决定"),
    "error_records": ("error records", "错误记录"),
    "error_code": ("error records: {code}", "错误记录：{code}"),
    "unreadable": ("unreadable lines", "无法读取的行"),
    "items": ("items", "项目"),
    "waive": ("waive", "互认免检"),
    "partial": ("partial", "部分互认"),
    "retest": ("retest", "需复查"),
    "saving": ("saving", "节省"),
    "mismatches": ("decisions whose saving ≠ sum of items", "节省金额 ≠ 各项之和的决定"),
    "by_test": ("By test", "按项目"),
    "test": ("test", "项目"),
    "count": ("count", "数量"),
    "waiver_rate": ("waiver rate", "免检率"),
    "by_institution": ("By performing institution", "按检验机构"),
    "institution": ("institution", "检验机构"),
    "waived_tests": ("waived tests", "免检项目"),
    "single_tests": ("single tests", "单项"),
    "panel_components": ("panel components", "组合内项目"),
    "institution_caption": (
        "Waived tests counted by the performing lab of the result used: single tests and "
        "panel components alike. Saving is attributed for single tests only; a panel's saving "
        "is not split between labs (unattributed panel saving: {unattributed}).",
        "按所采用结果的检验机构统计免检项目，单项与组合内项目均计入。节省金额只归属单项；"
        "组合项目的节省不在机构间分摊（未分摊的组合节省：{unattributed}）。",
    ),
    "not_recorded": ("(not recorded)", "（未记录）"),
    "by_reason": ("By reason", "按原因"),
    "reason": ("reason", "原因"),
    "reason_items": ("items", "项目数"),
    "reasons": ("reasons", "次数"),
    "reason_caption": (
        "items: how many items carry the code; reasons: how often it appears in all.",
        "项目数：带有该原因代码的项目数；次数：该代码出现的总次数。",
    ),
    "by_ruleset": ("By rule set", "按规则集"),
    "id": ("id", "标识"),
    "version": ("version", "版本"),
    "digest": ("digest", "摘要"),
    "digest_caption": (
        "digest shortened to 12 hex digits; --json has it in full.",
        "摘要只显示前 12 位十六进制数字；--json 给出完整摘要。",
    ),
    "more_rows": (
        "… and {n} more rows (--top, or --json for all)",
        "……另有 {n} 行（调整 --top，或用 --json 查看全部）",
    ),
    "more_html": ("… and {n} more (see --json)", "……另有 {n} 行（见 --json）"),
    "no_rows": ("no rows", "无"),
    "no_data": ("no data", "无数据"),
    "unreadable_lines": ("Unreadable lines (first few):", "无法读取的行（前几行）："),
    "line": ("line {line}: {why}", "第 {line} 行：{why}"),
    "chart.rate": ("Waiver rate by test", "各项目免检率"),
    "chart.saving": ("Saving by test ({currency})", "各项目节省（{currency}）"),
    "chart.reasons": ("Reasons by count", "原因统计"),
    "chart.reasons_label": ("Reasons by number of items", "各原因涉及的项目数"),
    "warn.unreadable": ("{n} unreadable line(s) were not counted:", "{n} 行无法读取，未计入："),
    "warn.more": ("  … and {n} more", "  ……另有 {n} 行"),
}

# --------------------------------------------------------------------------- labrecog test

TESTRUN: dict[str, tuple[str, str]] = {
    "label.tests": ("catalogue tests", "目录项目"),
    "label.panels": ("panels", "组合项目"),
    "label.exceptions": ("exception flags", "例外标记"),
    "label.conditions": ("conditions", "条件"),
    "label.institutions": ("institutions", "机构"),
    "label.reasons": ("reason codes", "原因代码"),
    "coverage": ("coverage:", "覆盖率："),
    "not_exercised": ("  not exercised: ", "  未覆盖："),
    "overall": ("overall", "总计"),
    "below": ("coverage {percent}% is below {minimum}%", "覆盖率 {percent}% 低于 {minimum}%"),
    "summary": ("{passed} passed, {failed} failed", "{passed} 项通过，{failed} 项失败"),
    "wrote": ("wrote {target}", "已写入 {target}"),
    "failure": (
        "{file}:{line}: test {test}: {code}: {differences}{tail}",
        "{file}:{line}：测试 {test}：{code}：{differences}{tail}",
    ),
    "reasons": (" (reasons: {reasons})", "（原因：{reasons}）"),
    "no_reasons": (" (no reasons)", "（无原因）"),
    "missing_item": ("not in the decision ({ordered})", "不在决定中（{ordered}）"),
    "status": ("expected status {expected}, got {got}", "期望状态 {expected}，实际 {got}"),
    "reasons_exact": ("expected reasons {expected}, got {got}", "期望原因 {expected}，实际 {got}"),
    "reasons_include": (
        "expected reasons to include {expected}, got {got}",
        "期望原因包含 {expected}，实际 {got}",
    ),
    "result_id": (
        "expected result_id {expected}, got {got}",
        "期望 result_id {expected}，实际 {got}",
    ),
    "saving": ("expected saving {expected}, got {got}", "期望节省 {expected}，实际 {got}"),
    "invalid_case": ("test {test}: invalid case: {error}", "测试 {test}：病例无效：{error}"),
}

# labrecog test -v and problems in test files (issue 14): the listing's outcome words, and
# the closing line when test files are invalid (every problem is listed above it).
TESTRUN |= {
    "outcome.passed": ("PASSED", "通过"),
    "outcome.failed": ("FAILED", "失败"),
    "outcome.error": ("ERROR", "错误"),
    "listed": ("{file}:{line}: {name} {outcome}", "{file}:{line}: {name} {outcome}"),
    "problems": ("{n} problem(s) in test files", "测试文件中共 {n} 个问题"),
}

# --------------------------------------------------------------------------- input errors

# English message template -> Chinese; tried in this order, the first full match wins, so
# a specific message comes before a general one that would also match it.
INPUT: dict[str, tuple[str, str]] = {
    # the batch readers and the engine
    "empty": ("empty line", "空行"),
    "utf8": ("not valid UTF-8", "不是有效的 UTF-8 编码"),
    "json": ("not valid JSON: {detail}", "不是有效的 JSON：{detail}"),
    "object": ("a case must be a JSON object", "病例必须是 JSON 对象"),
    "result_object": ("a prior result must be a JSON object", "既往结果必须是 JSON 对象"),
    "duplicate_key": (
        "duplicate key '{key}': a key may appear once",
        "重复的键 '{key}'：每个键只能出现一次",
    ),
    "missing": ("required field is missing", "缺少必填字段"),
    "extra": (
        "unknown field (extensions belong under 'ext')",
        "未知字段（扩展内容请放在 'ext' 下）",
    ),
    "flag.hint": (
        "unknown flag '{flag}' (did you mean '{hint}'?)",
        "未知标记 '{flag}'（是否应为 '{hint}'？）",
    ),
    "flag": ("unknown flag '{flag}'", "未知标记 '{flag}'"),
    # the case model's own checks
    "timestamp": (
        "expected an ISO 8601 date and time with a UTC offset",
        "应为带 UTC 偏移的 ISO 8601 日期时间",
    ),
    "timestamp.naive": (
        "timestamp has no UTC offset and the rule set declares no timezone",
        "时间没有 UTC 偏移，且规则集未声明时区",
    ),
    "timestamp.twice": (
        "local time {when} occurs twice in {zone} (a clock change): give its UTC offset",
        "当地时间 {when} 在 {zone} 出现两次（时钟调整）：请给出 UTC 偏移",
    ),
    "timestamp.missing": (
        "local time {when} does not exist in {zone} (a clock change): give its UTC offset",
        "当地时间 {when} 在 {zone} 不存在（时钟调整）：请给出 UTC 偏移",
    ),
    "date": ("expected an ISO 8601 date (YYYY-MM-DD)", "应为 ISO 8601 日期（YYYY-MM-DD）"),
    "ext": ("ext is nested more than 32 levels deep", "ext 嵌套超过 32 层"),
    "range": ("reference range low is above high", "参考区间下限高于上限"),
    "identity": ("a prior result needs a code or a loinc", "既往结果需要 code 或 loinc"),
    "value": ("give either value or value_text, not both", "value 与 value_text 只能给出其一"),
    "reported": ("reported_at is before collected_at", "报告时间早于采集时间"),
    "birth": ("birth_date is after the order", "出生日期晚于开单时间"),
    "patient": (
        "prior result belongs to patient {other}, not {patient}",
        "既往结果属于患者 {other}，而非 {patient}",
    ),
    "result_id": (
        "result id {id} also used by prior_results[{first}]",
        "结果 id {id} 已被 prior_results[{first}] 使用",
    ),
    "sex": (
        "sex is male, female or unknown (男, 女, M, F, m and f are accepted)",
        "性别应为 male、female 或 unknown（也接受 男、女、M、F、m、f）",
    ),
    # the batch's bounds (docs/cli.md, "Limits on one case")
    "case_size": (
        "case too large: {tests} tests × {priors} prior results = {pairs}, more than the "
        "limit of {limit}; split the order",
        "病例过大：{tests} 个项目 × {priors} 条既往结果 = {pairs}，超过上限 {limit}；请拆分医嘱",
    ),
    "line_size": (
        "line is longer than {limit} bytes (the input line size limit)",
        "该行超过 {limit} 字节（输入行长度上限）",
    ),
    "big_integer": (
        "integer {shown} is beyond 64-bit range and would lose digits: write it as a string",
        "整数 {shown} 超出 64 位范围，会丢失精度：请写成字符串",
    ),
    "timestamp_range": (
        "timestamp must lie between 1900-01-01 and 8999-12-31 (UTC)",
        "时间须在 1900-01-01 与 8999-12-31（UTC）之间",
    ),
    # the FHIR reader: why one result cannot be read (shown inside unreadable_result)
    "fhir.no_performer": (
        "no performing laboratory: no performer of the Observation or its report is an "
        "Organization (in the Bundle, or referenced by identifier) or a PractitionerRole with "
        "one, and no Encounter of theirs has a serviceProvider that is",
        "未知检验机构：该 Observation 及其报告均无可识别的 performer（Bundle 内或以标识引用的 "
        "Organization，或含机构的 PractitionerRole），其就诊记录也无 serviceProvider",
    ),
    "fhir.performers": (
        "performers name different laboratories: which one produced the result is ambiguous",
        "performer 指向不同的检验机构：无法确定结果由哪个机构出具",
    ),
    "fhir.no_time": (
        "required: when was the specimen collected? (no effective[x] on the Observation or "
        "its report, and no Specimen.collection.collected[x])",
        "缺少采集时间（Observation 及其报告均无 effective[x]，标本也无 "
        "Specimen.collection.collected[x]）",
    ),
    "fhir.period": ("a collection period needs a start", "采集时间段需要开始时间"),
    "fhir.no_subject": (
        "required: whose result is it? (no subject on the Observation or its report)",
        "缺少 subject：无法确定是谁的结果（Observation 及其报告均无 subject）",
    ),
    "fhir.no_status": (
        "required: an Observation needs a status",
        "缺少 status：Observation 必须有状态",
    ),
    "fhir.no_id": (
        "the Observation has neither id nor fullUrl",
        "该 Observation 既无 id 也无 fullUrl",
    ),
    "fhir.quantity": ("expected a Quantity", "应为 Quantity"),
    # pydantic's wording of the types the case model uses
    "string": ("Input should be a valid string", "应为字符串"),
    "number": ("Input should be a valid number", "应为数值"),
    "finite": ("Input should be a finite number", "应为有限数值"),
    "integer": ("Input should be a valid integer", "应为整数"),
    "boolean": ("Input should be a valid boolean", "应为布尔值（true 或 false）"),
    "model": ("Input should be a valid dictionary or instance of {model}", "应为 JSON 对象"),
    "dict": ("Input should be a valid dictionary", "应为 JSON 对象"),
    "list": ("Input should be a valid list", "应为数组"),
    "tuple": ("Input should be a valid tuple", "应为数组"),
    "ge": ("Input should be greater than or equal to {n}", "应大于或等于 {n}"),
    "le": ("Input should be less than or equal to {n}", "应小于或等于 {n}"),
    "min_length.one": ("String should have at least 1 character", "至少应有 1 个字符"),
    "min_length": ("String should have at least {n} characters", "至少应有 {n} 个字符"),
    "max_length": ("String should have at most {n} characters", "最多 {n} 个字符"),
    "pattern": ("String should match pattern '{pattern}'", "应符合格式 '{pattern}'"),
    "too_short": (
        "Tuple should have at least {n} item after validation, not {got}",
        "至少应有 {n} 项，实际 {got} 项",
    ),
    "too_long": (
        "Tuple should have at most {n} items after validation, not {got}",
        "最多 {n} 项，实际 {got} 项",
    ),
    "datetime": ("Input should be a valid datetime, {detail}", "应为有效的日期时间（{detail}）"),
    "date.pydantic": (
        "Input should be a valid date in the format YYYY-MM-DD, {detail}",
        "应为 YYYY-MM-DD 格式的有效日期（{detail}）",
    ),
    "choice": ("Input should be {choices} or {last}", "应为 {choices} 或 {last}"),
    "choice.one": ("Input should be '{only}'", "应为 '{only}'"),
    # a Parquet value JSON cannot hold (batch/_parquet_values.py, batch/parquet.py)
    "parquet.zone": ("unknown time zone {zone}", "未知时区 {zone}"),
    "parquet.timestamp": ("timestamp out of the range of dates", "时间超出可表示的日期范围"),
    "parquet.date": ("date out of the range of dates", "日期超出可表示的日期范围"),
    "parquet.range": (
        "{value} is beyond the range of a JSON number",
        "{value} 超出 JSON 数字的范围",
    ),
    "parquet.nan": (
        "{value} is not a number JSON can hold (NaN or infinity)",
        "{value} 不是 JSON 能表示的数字（NaN 或无穷大）",
    ),
    "parquet.binary": ("binary value that is not UTF-8 text", "不是 UTF-8 文本的二进制值"),
    "parquet.type": ("Arrow type {kind} has no JSON value", "Arrow 类型 {kind} 没有对应的 JSON 值"),
    "parquet.row": ("row cannot be written as JSON: {detail}", "该行无法写成 JSON：{detail}"),
}

# --------------------------------------------------------------------------- labrecog init

INIT: dict[str, tuple[str, str]] = {
    "created": (
        "created {folder} from the shipped rule set {name} ({count} files):",
        "已从内置规则集 {name} 创建 {folder}（{count} 个文件）：",
    ),
    "next": (
        "next: check that it loads, then run its tests (edit the YAML, then run them again):",
        "下一步：检查规则集能否加载，再运行其测试（修改 YAML 后再次运行）：",
    ),
    "not_empty": (
        "{folder} already exists and is not empty: give a new folder",
        "{folder} 已存在且不为空：请指定一个新文件夹",
    ),
    "not_folder": (
        "{folder} exists and is not a folder: give a new folder",
        "{folder} 已存在且不是文件夹：请指定一个新文件夹",
    ),
    "cannot_write": (
        "cannot create {folder}: {error} (nothing was left behind)",
        "无法创建 {folder}：{error}（未留下任何文件）",
    ),
}

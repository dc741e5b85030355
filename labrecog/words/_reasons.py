"""The words of reason messages, English and Chinese.

A message key is ``code`` or ``code.variant``; the part before the dot is the reason code
that appears in the output, so variants can word a case precisely without widening the
closed list of codes.
"""

from __future__ import annotations

__all__ = ["MESSAGES"]

MESSAGES: dict[str, tuple[str, str]] = {
    # key: (english, chinese)
    "unknown_test": (
        "{code} is not in the catalogue of rule set {ruleset}",
        "项目 {code} 不在规则集 {ruleset} 的目录中",
    ),
    "not_recognisable": (
        "{name} is not on the list of recognisable items",
        "{name} 不在互认项目目录中",
    ),
    "no_prior": (
        "no prior result of {name} was shared for this patient",
        "该患者没有可用的 {name} 既往结果",
    ),
    "too_old": (
        "collected {age} before the order; results older than {max_age} are not recognised",
        "采集于开单前 {age:zh}，超过互认时效 {max_age:zh}",
    ),
    "future_result.collected": (
        "collected after the order time ({when})",
        "采集时间晚于开单时间（{when}）",
    ),
    "future_result.reported": (
        "reported after the order time ({when}); it was not available when ordering",
        "报告时间晚于开单时间（{when}），开单时尚不可用",
    ),
    "specimen_mismatch": (
        "specimen {specimen} is not accepted for {name} (accepted: {allowed})",
        "标本类型 {specimen} 不适用于 {name}（可接受：{allowed}）",
    ),
    "specimen_mismatch.loinc_system": (
        "the result does not state its specimen; its LOINC {loinc} measures {system} "
        "({specimens}), not only what {name} accepts ({allowed})",
        "结果未注明标本类型；其 LOINC {loinc} 的标本体系为 {system}（{specimens}），"
        "不全在 {name} 可接受的范围内（{allowed}）",
    ),
    "specimen_mismatch.missing": (
        "the result does not state its specimen; {name} requires one of {allowed}",
        "结果未注明标本类型；{name} 要求 {allowed}",
    ),
    "method_mismatch": (
        "method {method} is not accepted for {name} (accepted: {allowed})",
        "检测方法 {method} 不适用于 {name}（可接受：{allowed}）",
    ),
    "method_mismatch.missing": (
        "the result does not state its method; {name} requires one of {allowed}",
        "结果未注明检测方法；{name} 要求 {allowed}",
    ),
    "unit_unknown": ("{detail}", "无法识别的单位 {unit}（不是有效的 UCUM 单位）"),
    "unit_unknown.missing": (
        "the result has no unit; {name} is reported in {unit}",
        "结果未注明单位；{name} 的单位为 {unit}",
    ),
    "unit_incompatible": ("{detail}", "单位 {unit} 无法换算为 {name} 的单位 {target}"),
    "unit_incompatible.not_accepted": (
        "unit {unit} is not among the units the rule set accepts for {name} ({allowed})",
        "单位 {unit} 不在规则集对 {name} 认可的单位中（{allowed}）",
    ),
    "value_unrecognised.missing": (
        "{name} needs a numeric value; the result has none",
        "{name} 需要数值结果，该结果没有数值",
    ),
    "value_unrecognised.text": (
        "result text {text} is not a known value for {name}",
        "结果文字 {text} 不是 {name} 的已知结果值",
    ),
    "value_unrecognised.qualitative": (
        "{name} is qualitative; the result has no result text",
        "{name} 为定性项目，该结果没有定性结论",
    ),
    "identity_conflict.unknown_loinc": (
        "LOINC {loinc} is not one the rule set maps to {tests}; code {code} alone does not "
        "establish the analyte, so the result is not used",
        "LOINC {loinc} 不在规则集中 {tests} 的映射内，仅凭代码 {code} 无法确认指标，该结果不予采用",
    ),
    "identity_conflict": (
        "code {code} and LOINC {loinc} name different tests ({tests}); the result is not used",
        "代码 {code} 与 LOINC {loinc} 指向不同项目（{tests}），该结果不予采用",
    ),
    "reference_range_missing": (
        "the result has no reference range to compare with the local one",
        "结果缺少参考区间，无法与本院参考区间比对",
    ),
    "reference_range_missing.local": (
        "no local reference range for this patient ({who})",
        "本院无适用于该患者（{who}）的参考区间",
    ),
    "reference_range_missing.bound": (
        "the result's reference range lacks its {bound} limit, which the local range has",
        "结果参考区间缺少{bound}限，本院参考区间有该限值",
    ),
    "reference_range_incompatible": (
        "reference range {prior} differs from local {local} by more than {tolerance}",
        "参考区间 {prior} 与本院 {local} 的差异超过允许范围 {tolerance}",
    ),
    "institution_level": (
        "performing institution level {level} is below the required {required}",
        "检验机构等级 {level} 低于要求的 {required}",
    ),
    "institution_level.unknown": (
        "the level of the performing institution {institution} is unknown",
        "检验机构 {institution} 的等级未知",
    ),
    "institution_level.ordering_unknown": (
        "the level of the ordering institution is unknown, so level parity cannot be checked",
        "开单机构等级未知，无法核对机构等级",
    ),
    "institution_region": (
        "performing institution region {region} is outside the recognition area ({scope})",
        "检验机构所在地区 {region} 不在互认范围（{scope}）内",
    ),
    "institution_region.unknown": (
        "the region of {institution} is unknown",
        "机构 {institution} 的地区未知",
    ),
    "institution_region.mark_scope": (
        "mark {mark} does not cover the ordering institution's region {region}",
        "互认标识 {mark} 的范围不覆盖开单机构所在地区 {region}",
    ),
    "quality_not_assured": (
        "no evidence that {institution} passed quality assessment for {name}",
        "无证据表明 {institution} 的 {name} 通过室间质评",
    ),
    "quality_not_assured.unlisted": (
        "{institution} is not in the rule set's institution registry",
        "{institution} 不在规则集的机构名录中",
    ),
    "quality_not_assured.withdrawn": (
        "the registry records that {institution} lost quality-assessment approval for {name}",
        "机构名录记载 {institution} 的 {name} 质评资格已撤销",
    ),
    "quality_not_assured.expired": (
        "the registry entry of {institution} was valid until {until}",
        "机构 {institution} 的名录有效期至 {until}，已过期",
    ),
    "mark_missing": (
        "the result carries no recognition mark (HR)",
        "结果无互认标识（HR）",
    ),
    "mark_missing.unknown": (
        "recognition mark {mark} is not one the rule set accepts ({allowed})",
        "互认标识 {mark} 不被本规则集认可（{allowed}）",
    ),
    "no_authorization": (
        "the patient has not authorised the use of external results",
        "患者未授权调阅外院检验结果",
    ),
    # -- why an authorisation given does not hold for this order (check/_authorization.py);
    # times as given ({when}) and the order's ({ordered}); the code is never shown.
    "no_authorization.expired": (
        "the patient's authorisation expired at {when}; the order was placed at {ordered}",
        "患者授权已于 {when} 失效，开单时间为 {ordered}",
    ),
    "no_authorization.not_yet": (
        "the patient's authorisation was given at {when}, after the order was placed ({ordered})",
        "患者授权时间为 {when}，晚于开单时间（{ordered}）",
    ),
    "no_authorization.other_visit": (
        "the patient's authorisation is for visit {bound}; this order is in visit {visit}",
        "患者授权仅限就诊 {bound}，本次开单属于就诊 {visit}",
    ),
    "no_authorization.visit_ended": (
        "the patient's authorisation ended with visit {bound}; this order is in visit {visit}",
        "患者授权已随就诊 {bound} 结束，本次开单属于就诊 {visit}",
    ),
    "no_authorization.no_visit": (
        "the patient's authorisation is for visit {bound}, but the order does not say which "
        "visit it belongs to (context.encounter)",
        "患者授权仅限就诊 {bound}，但本次开单未注明所属就诊（context.encounter）",
    ),
    # -- a result the authorisation does not cover (its institution or id): never examined
    "no_authorization.result": (
        "the patient's authorisation does not cover this result",
        "患者授权不包括该结果",
    ),
    "no_authorization.newer": (
        "this result is newer than {used}, which could otherwise be used, but the patient's "
        "authorisation does not cover it, so {used} is not relied on",
        "该结果比 {used} 更新，但患者授权不包括该结果，故不采用 {used}",
    ),
    "abnormal_value": (
        "prior value {value} {unit} is outside the reference range {range}",
        "既往结果 {value} {unit} 超出参考区间 {range}",
    ),
    "abnormal_value.qualitative": (
        "prior result {text} is abnormal",
        "既往结果 {text} 为异常",
    ),
    "critical_value": (
        "prior value {value} {unit} is at a critical level ({limits})",
        "既往结果 {value} {unit} 达到危急值（{limits}）",
    ),
    "implausible_value": (
        "value {value} {unit} is outside the plausible limits {limits}: a measurement or "
        "transcription error, not a result to rely on",
        "结果 {value} {unit} 超出可信范围 {limits}，属测量或录入错误，不能采用",
    ),
    "implausible_value.negative": (
        "value {value} {unit} is negative, which {name} cannot be",
        "结果 {value} {unit} 为负值，{name} 不可能为负",
    ),
    "newer_result_conflicts.critical": (
        "a newer result {newer} (collected {ago} before the order) is at a critical level "
        "({value} {unit}; {limits}): the older result is not relied on",
        "存在更近的结果 {newer}（开单前 {ago:zh} 采集）达到危急值（{value} {unit}；{limits}），"
        "不能沿用较早的结果",
    ),
    "newer_result_conflicts.implausible": (
        "a newer result {newer} (collected {ago} before the order) has an implausible value "
        "({value} {unit}): the older result is not relied on",
        "存在更近的结果 {newer}（开单前 {ago:zh} 采集）数值不可信（{value} {unit}），"
        "不能沿用较早的结果",
    ),
    "newer_result_conflicts.delta": (
        "a newer result {newer} (collected {ago} before the order, {value} {unit}) differs "
        "from this one ({used} {unit}) by {difference}, more than the delta limit {limit}",
        "存在更近的结果 {newer}（开单前 {ago:zh} 采集，{value} {unit}），与本结果（{used} {unit}）"
        "相差 {difference}，超过差值限 {limit}",
    ),
    "newer_result_conflicts.uncomparable": (
        "a newer result {newer} (collected {ago} before the order) cannot be compared with "
        "this one ({why}): the older result is not relied on",
        "存在更近的结果 {newer}（开单前 {ago:zh} 采集），无法与本结果比较（{why}），"
        "不能沿用较早的结果",
    ),
    "newer_result_conflicts.qualitative": (
        "a newer result {newer} (collected {ago} before the order) reads {text}, "
        "unlike this one ({used})",
        "存在更近的结果 {newer}（开单前 {ago:zh} 采集）为 {text}，与本结果（{used}）不一致",
    ),
    "unmapped_result": (
        "result {code} (collected {ago} before the order) is newer than the one used but "
        "this rule set cannot say what it measures: check it is not this test",
        "结果 {code}（开单前 {ago:zh} 采集）晚于所采用的结果，但本规则集无法识别其项目，"
        "请确认它不是本项目",
    ),
    # An adapter could not read the result (UnreadableResult); {where}: {problem} is its
    # first problem, named by the path in the adapter's input.
    "unreadable_result": (
        "result {id} could not be read ({where}: {problem})",
        "结果 {id} 无法读取（{where}：{problem}）",
    ),
    "unreadable_result.anonymous": (
        "a result could not be read ({where}: {problem})",
        "有一项结果无法读取（{where}：{problem}）",
    ),
    "unreadable_result.blocks": (
        "result {id} could not be read ({where}: {problem}); it may be newer than {used}, "
        "which is therefore not relied on",
        "结果 {id} 无法读取（{where}：{problem}），它可能比 {used} 更新，故不采用 {used}",
    ),
    "unreadable_result.anonymous_blocks": (
        "a result could not be read ({where}: {problem}); it may be newer than {used}, "
        "which is therefore not relied on",
        "有一项结果无法读取（{where}：{problem}），它可能比 {used} 更新，故不采用 {used}",
    ),
    "result_status": (
        "result status is {status}; only final, amended or corrected results are used",
        "结果状态为 {status}，仅采用最终、修订或更正的结果",
    ),
    "exception": ("re-test required: {name}", "需重新检查：{name}"),
    "exception.condition": (
        "re-test required: {name} (condition {condition})",
        "需重新检查：{name}（条件 {condition}）",
    ),
    "superseded": (
        "a fresher eligible result ({used}) was used instead",
        "已采用更近的合格结果（{used}）",
    ),
    "duplicate_order": (
        "{name} is also ordered as {other}; its saving is counted once",
        "{name} 已作为 {other} 开立，节省金额只计一次",
    ),
    "partial_not_allowed": (
        "{name} could be recognised from this result, but {panel} is not ordered in parts",
        "{name} 本可采用该结果，但 {panel} 不可拆分开立",
    ),
    "condition_undecidable": (
        "condition {condition} depends on {missing}, which the case does not give",
        "条件 {condition} 需要 {missing}，病例未提供",
    ),
}

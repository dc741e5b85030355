"""The words of cards and explanations, English and Chinese: key -> (english, chinese).

Reason messages are in ``_reasons.py``; formats (numbers, times, durations, punctuation)
in ``_format.py``. Presentation code names a key; it never holds a sentence itself.
"""

from __future__ import annotations

__all__ = [
    "CARDS",
    "CARD_TOPIC",
    "DISCOVERY",
    "EXPLAIN",
    "PATIENT",
    "PUNCTUATION",
    "SETTING_ZH",
    "STATUS_ZH",
]

# --------------------------------------------------------------------------- shared

PUNCTUATION: dict[str, tuple[str, str]] = {
    "comma": (", ", "，"),
    "enumeration": (", ", "、"),
    "colon": (":", "："),
    "semicolon": ("; ", "；"),
    "paren": (" ({text})", "（{text}）"),
}

# who a local reference interval was looked up for: "male, 63 y" / "男，63岁"
PATIENT: dict[str, tuple[str, str]] = {
    "sex.male": ("male", "男"),
    "sex.female": ("female", "女"),
    "sex.none": ("sex unknown", "性别未知"),
    "sex.other": ("{sex}", "性别未知"),
    "age": ("{age} y", "{age}岁"),
    "age.none": ("age unknown", "年龄未知"),
    "both": ("{sex}, {age}", "{sex}，{age}"),
}

# --------------------------------------------------------------------------- CDS cards

CARD_TOPIC = {
    "en": "Mutual recognition of lab results",
    "zh": "检查检验结果互认",
}

# key -> (english, chinese)
CARDS: dict[str, tuple[str, str]] = {
    "summary.waive": (
        "{name}: no need to re-test — recognised result of {date} from {lab}",
        "{name}：可互认{lab} {date}的结果，无需重复检查",
    ),
    "summary.partial": (
        "{name}: {n} of {m} components recognised — order only {retest}",
        "{name}：{n}/{m}项可互认，仅需检查{retest}",
    ),
    "head.waive": (
        "**{name}** need not be repeated: a recognised prior result is available.",
        "**{name}** 无需重复检查：已有可互认的既往结果。",
    ),
    "head.partial": (
        "**{name}**: {n} of {m} components have recognised prior results; "
        "order only the components listed under *To order*.",
        "**{name}**：{m}项中{n}项已有可互认的既往结果，仅需开立“需检查”所列项目。",
    ),
    "result": ("Result", "结果"),
    "reference": ("reference range", "参考区间"),
    "collected": ("Collected", "采集时间"),
    "before": ("{age} before this order", "开单前 {age:zh}"),
    "lab": ("Performing laboratory", "检验机构"),
    "mark": ("mark", "互认标识"),
    "resource": ("Result resource", "结果资源"),
    "why": ("Why", "依据"),
    "why.text": (
        "within the {max_age} limit{source}; specimen, unit, reference range, institution "
        "and recognition checks passed",
        "在互认时效 {max_age:zh} 内{source}；标本、单位、参考区间、机构及互认标识核对通过",
    ),
    "saving": ("Saving", "节省"),
    "abnormal": (
        "⚠ The value is outside the reporting laboratory's reference range: review it.",
        "⚠ 该结果超出检验机构的参考区间，请查看。",
    ),
    "others": ("Other results considered:", "其他既往结果："),
    "more": ("… and {n} more", "……另有 {n} 条"),
    "recognised": ("Recognised:", "可互认："),
    "to_order": ("To order:", "需检查："),
    "no_suggestion": (
        "No automatic change is suggested for a partly recognised panel: edit the draft "
        "order to the components under *To order*.",
        "部分互认的组合项目不提供自动修改建议：请将草稿医嘱改为“需检查”所列项目。",
    ),
    "suggest": ("Remove the draft order for {name}", "撤销{name}草稿医嘱"),
    "action": (
        "Delete {request}: {name} is recognised from {observation} ({date}, {lab})",
        "删除 {request}：{name}可互认 {observation}（{date}，{lab}）",
    ),
    "value.none": ("no value", "无结果值"),
    # -- the order's summary card: what is still to order, and the total saving
    "topic.lab-order-summary": ("What the order still needs", "本次医嘱仍需检查的项目"),
    "summary.only.one": (
        "Only {names} needs to be done — {saving} saved",
        "仅需检查：{names}（节省 {saving}）",
    ),
    "summary.only.many": (
        "Only {names} need to be done — {saving} saved",
        "仅需检查：{names}（节省 {saving}）",
    ),
    "summary.nothing": (
        "No ordered test needs to be done — {saving} saved",
        "所开检查均可互认，无需检查（节省 {saving}）",
    ),
    "summary.to_order": ("Still to order", "仅需检查"),
    "summary.to_order.none": (
        "nothing, every ordered test is recognised.",
        "无，所开检查均可互认。",
    ),
    "summary.why": (": {why}", "：{why}"),
    "summary.rest_of": (
        "{rest}: the rest of {panel} is recognised",
        "{rest}：{panel}其余项目可互认",
    ),
    "summary.recognised": ("Recognised, not to be repeated", "可互认，无需重复检查"),
    "summary.panel": ("{panel}: {n} of {m} components", "{panel}：{m}项中{n}项"),
    "summary.saving": ("Total saving", "合计节省"),
    # -- the authorisation notice: tests only the patient's authorisation keeps from recognition
    "topic.patient-authorization": ("Patient authorisation", "患者授权"),
    "auth.summary.one": (
        "1 ordered test could be recognised once the patient authorises",
        "请患者授权后可互认 1 项检查",
    ),
    "auth.summary.many": (
        "{n} ordered tests could be recognised once the patient authorises",
        "请患者授权后可互认 {n} 项检查",
    ),
    "auth.head": (
        "**Patient authorisation needed.** This visit has no valid authorisation to use the "
        "patient's results from other institutions (none given, expired, or given for another "
        "visit), so none of them may be used. With the patient's authorisation for this "
        "visit, results on file would recognise these ordered tests:",
        "**需患者授权。** 本次就诊未取得使用患者外院检查检验结果的有效授权（未授权、已过期或"
        "属于其他就诊），因此不能使用其外院结果。患者授权本次就诊使用后，以下所开检查可凭已有"
        "结果互认：",
    ),
    "auth.then": (
        "Once the patient authorises, the next check of the order (at signing, say) looks at "
        "their prior results.",
        "患者授权后，再次审核医嘱（如签署医嘱时）即按互认规则查看其既往结果。",
    ),
}


# --------------------------------------------------------------------------- CDS discovery

DISCOVERY: dict[str, tuple[str, str]] = {
    "description": (
        "Decides, with rule set {id} {version}, which draft lab orders need not "
        "be performed again because a recent prior result can be recognised; one card per "
        "recognisable item, suggesting to delete its draft ServiceRequest, and (unless "
        "configured otherwise) one summary card of what is still to order. "
        "Required prefetch: {required}; without them there is no decision. "
        "Optional: labReports — without it, results whose collection time, laboratory, "
        "specimen or recognition mark is given only on their DiagnosticReport cannot be "
        "read, so the tests they are for are re-tested; encounter — "
        "without it the setting is unknown",
        "按规则集 {id} {version} 判断草稿检验医嘱中哪些项目可采用近期外院结果"
        "而无需重复检查；每个可互认项目一张卡片，建议删除对应的 ServiceRequest，"
        "并（除非另行配置）以一张汇总卡片列出仍需检查的项目。"
        "必需的预取数据：{required}，缺少时无法判断。"
        "可选：labReports——缺少时，采集时间、检验机构、标本或互认标识只记录在 "
        "DiagnosticReport 上的结果无法读取，相应项目需重新检查；"
        "encounter——缺少时就诊类型未知",
    ),
    "description.settings": (
        ", so the conditions on the setting ({settings}) are undecidable and the tests "
        "they cover are re-tested",
        "，与就诊类型有关的条件（{settings}）无法判断，相关项目需重新检查",
    ),
    "description.institution": (
        ", and an ordering institution named only by the encounter is not found. ",
        "，且仅由就诊记录给出的开单机构无法读取。",
    ),
    "description.fetch": (
        "Keys missing from the request are fetched from fhirServer with these templates "
        "when the request gives fhirAuthorization (Bearer); HTTP 412 when a required key "
        "can be neither read nor fetched.",
        "请求中缺少的预取数据，如同时提供 fhirServer 与 fhirAuthorization（Bearer），"
        "本服务将按上述预取模板自行向 FHIR 服务器查询；必需数据既未提供又无法查询时"
        "返回 HTTP 412。",
    ),
    "description.no_fetch": (
        "This service does not query the FHIR server: send these keys as prefetch (HTTP 412 "
        "when a required key is missing).",
        "本服务不访问 FHIR 服务器：请以预取方式提供上述数据（缺少必需数据时返回 HTTP 412）。",
    ),
    "usage": (
        "Requires the prefetch keys {required} ({how}; otherwise HTTP 412); labReports "
        "(collection times and recognition marks given on reports) and encounter (setting) "
        "are optional.",
        "必需的预取数据 {required}（{how}；无法获得时返回 HTTP 412）；"
        "labReports（报告上的采集时间、互认标识）与 encounter（就诊类型）可选。",
    ),
    "usage.fetch": (
        "as prefetch, or fhirServer with fhirAuthorization for the service to fetch them",
        "以预取方式提供，或提供 fhirServer 与 fhirAuthorization 由本服务查询",
    ),
    "usage.no_fetch": (
        "as prefetch: this service does not query the FHIR server",
        "须以预取方式提供，本服务不访问 FHIR 服务器",
    ),
}

# --------------------------------------------------------------------------- explain

EXPLAIN: dict[str, tuple[str, str]] = {
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
    "auth.visit": ("for visit {visit}", "限就诊 {visit}"),
    "auth.until": ("until {when}", "有效至 {when}"),
    "auth.not_valid": ("not valid for this order: {why}", "不适用于本次医嘱：{why}"),
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
    "before": ("({age} before the order)", "（开单前 {age:zh}）"),
    "after": ("({age} after the order)", "（开单后 {age:zh}）"),
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
    # the last line: the decision's to_order, by name
    "to_order": ("Still to order: ", "仅需检查："),
    "to_order.none": ("nothing, every ordered test is recognised", "无，所开检查均可互认"),
}

STATUS_ZH = {"waive": "互认免检", "partial": "部分互认", "retest": "需复查"}
SETTING_ZH = {"outpatient": "门诊", "inpatient": "住院", "emergency": "急诊", "checkup": "体检"}

"""Chinese names of record keys, for messages people read."""

from __future__ import annotations

REQUEST_ROW = {
    "new": "本年新收申请", "carried_over": "上年结转", "granted": "予以公开", "partially_granted": "部分公开",
    "withheld_state_secret": "不予公开·国家秘密", "withheld_law_prohibited": "不予公开·法律行政法规禁止",
    "withheld_three_safeties": "不予公开·三安全一稳定", "withheld_third_party": "不予公开·第三方合法权益",
    "withheld_internal_affairs": "不予公开·内部事务", "withheld_process_info": "不予公开·过程性信息",
    "withheld_enforcement_file": "不予公开·行政执法案卷", "withheld_admin_query": "不予公开·行政查询事项",
    "unavailable_not_held": "无法提供·本机关不掌握", "unavailable_needs_creation": "无法提供·需另行制作",
    "unavailable_unclear": "无法提供·补正后仍不明确", "not_processed_petition": "不予处理·信访举报投诉",
    "not_processed_duplicate": "不予处理·重复申请", "not_processed_publication": "不予处理·公开出版物",
    "not_processed_excessive": "不予处理·大量反复申请", "not_processed_confirmation": "不予处理·要求确认或重新出具",
    "other": "其他处理", "other_no_correction": "其他处理·逾期不补正", "other_fee_unpaid": "其他处理·逾期未缴费",
    "other_misc": "其他处理·其他", "total": "（七）总计", "carried_forward": "结转下年度继续办理",
}
APPLICANT = {"natural_person": "自然人", "commercial": "商业企业", "research": "科研机构",
             "social_welfare": "社会公益组织", "legal_service": "法律服务机构", "other_org": "其他法人或组织",
             "total": "总计"}
REVIEW_BLOCK = {"review": "行政复议", "litigation_direct": "行政诉讼（未经复议直接起诉）",
                "litigation_after_review": "行政诉讼（复议后起诉）"}
REVIEW_COLUMN = {"upheld": "结果维持", "corrected": "结果纠正", "other": "其他结果", "pending": "尚未审结",
                 "total": "总计"}
PROACTIVE_ROW = {"rules": "规章", "normative_documents": "规范性文件", "licensing": "行政许可",
                 "other_services": "其他对外管理服务事项", "punishment": "行政处罚", "coercion": "行政强制",
                 "fees": "行政事业性收费", "procurement": "政府集中采购"}
PROACTIVE_FIELD = {"issued": "本年制发件数", "repealed": "本年废止件数", "in_force": "现行有效件数",
                   "decisions": "处理决定数量", "amount": "金额", "made": "本年新制作数量",
                   "published": "本年新公开数量", "total": "对外公开总数量", "previous": "上一年项目数量",
                   "change": "本年增/减", "items": "采购项目数量"}
SECTION = {"overview": "一、总体情况", "proactive": "二、主动公开政府信息情况",
           "requests": "三、收到和处理政府信息公开申请情况", "review": "四、政府信息公开行政复议、行政诉讼情况",
           "problems": "五、存在的主要问题及改进情况", "other": "六、其他需要报告的事项"}


def num(value: object) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return "空" if value is None else str(value)

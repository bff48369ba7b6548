"""A letter a person can send ★: for a report with findings an admin confirmed, the dashboard drafts a
意见建议 / 监督建议 letter to the agency's 政府信息公开工作主管部门 (《政府信息公开条例》第三条: the 办公厅（室）of
the government at the agency's level; for a government's own report, the level above) — the report, each
confirmed finding with its page, cell and numbers, the legal basis (条例第四十九条、第五十条 and the national
report format), polite and factual — as plain text and DOCX, for a person to review, sign and send.
Nothing is ever sent from here."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from checks.labels import num
from notifier.messages import RULES, cell_name

if TYPE_CHECKING:
    from .app import Dashboard

CHINESE_NUMBERS = "一二三四五六七八九十"
FORMAT_2021 = "国务院办公厅政府信息与政务公开办公室《关于印发〈中华人民共和国政府信息公开工作年度报告格式〉的通知》" \
              "（国办公开办函〔2021〕30号）"
FORMAT_GENERAL = "国务院办公厅政府信息与政务公开办公室印发的《中华人民共和国政府信息公开工作年度报告格式》"


@dataclass(frozen=True)
class Recipient:
    name: str  # 淮安市洪泽区人民政府办公室
    note: str  # why this office


@dataclass(frozen=True)
class Evidence:
    rule: str
    message: str
    cell: str | None
    page: int | None
    printed: Any
    expected: Any
    quote: str | None
    note: str | None


@dataclass
class Letter:
    title: str
    recipient: Recipient
    agency: str
    year: int | None
    report_title: str
    url: str
    published: str | None
    template: str | None
    findings: list[Evidence] = field(default_factory=list)
    today: date | None = None

    def paragraphs(self) -> list[str]:
        year = f"{self.year}年度" if self.year else ""
        published = f"于{chinese_date(self.published)}" if self.published else ""
        format_ = FORMAT_2021 if self.template == "2021" else FORMAT_GENERAL
        opening = (f"《中华人民共和国政府信息公开条例》第四十九条规定，行政机关应当按期向社会公布本机关上一年度"
                   f"政府信息公开工作年度报告；第五十条规定了年度报告应当包括的内容，年度报告应当按照{format_}编制。"
                   f"本人在查阅{self.agency}{published}公开的《{self.report_title}》（{self.url}）时，发现其中"
                   f"有{len(self.findings)}处数据与上述格式的填报要求或报告自身内容不一致，经逐项核对原文确认，"
                   f"现将有关情况反映如下，供贵单位在指导和监督检查政府信息公开工作中参考。")
        items = []
        for index, item in enumerate(self.findings):
            where = "，".join(p for p in (f"第{item.page}页" if item.page else None, item.cell) if p)
            parts = [f"{chinese_number(index + 1)}、{where or '报告正文'}："]
            if item.printed is not None or item.expected is not None:
                numbers = f"报告填报为{num(item.printed)}"
                if item.expected is not None and item.rule not in ("T3-BLANK",):
                    numbers += f"，按{rule_basis(item.rule)}应为{num(item.expected)}"
                parts.append(numbers + "。")
            parts.append(item.message.rstrip("。") + "。")
            if item.quote and item.quote != str(item.printed):
                parts.append(f"原文为：“{item.quote[:200]}”。")
            if item.rule in RULES:
                parts.append(f"（依据：{RULES[item.rule].rstrip('。')}。）")
            items.append("".join(parts))
        request = (f"上述情况可能影响社会公众对{self.agency}{year}政府信息公开工作情况的准确了解。建议贵单位督促"
                   f"{self.agency}对上述数据予以核实；如确有错误，依规更正年度报告并作出说明。如上述理解有误，"
                   f"也恳请予以指正。")
        return [opening, *items, request, "感谢贵单位对政府信息公开工作的重视和支持。"]

    def signature(self) -> list[str]:
        return ["建议人：＿＿＿＿＿＿＿＿", "联系方式：＿＿＿＿＿＿＿＿",
                f"日期：{chinese_date(self.today.isoformat())}" if self.today else "日期：　　年　　月　　日"]

    def text(self) -> str:
        lines = [self.title, "", f"{self.recipient.name}：", ""]
        lines += [f"　　{p}" for p in self.paragraphs()]
        lines += ["", *[f"　　　　　　　　{s}" for s in self.signature()]]
        lines += ["", f"附：报告原文地址 {self.url}"]
        return "\n".join(lines) + "\n"

    def docx(self) -> bytes:
        from docx import Document as Docx
        from docx.enum.text import WD_ALIGN_PARAGRAPH
        from docx.oxml.ns import qn
        from docx.shared import Pt

        document = Docx()
        style = document.styles["Normal"]
        style.font.name = "FangSong"
        style.font.size = Pt(14)
        fonts = style.element.get_or_add_rPr().get_or_add_rFonts()
        fonts.set(qn("w:eastAsia"), "仿宋")
        document.core_properties.title = self.title
        document.core_properties.comments = "nianbao-watch 起草，请核对后由本人署名寄送"

        def paragraph(text: str, *, size: int | None = None, bold: bool = False, align: Any = None,
                      indent: bool = False) -> None:
            para = document.add_paragraph()
            if align is not None:
                para.alignment = align
            if indent:
                para.paragraph_format.first_line_indent = Pt(28)
            run = para.add_run(text)
            run.bold = bold
            if size:
                run.font.size = Pt(size)

        paragraph(self.title, size=18, bold=True, align=WD_ALIGN_PARAGRAPH.CENTER)
        paragraph(f"{self.recipient.name}：")
        for text in self.paragraphs():
            paragraph(text, indent=True)
        for line in self.signature():
            paragraph(line, align=WD_ALIGN_PARAGRAPH.RIGHT)
        paragraph(f"附：报告原文地址 {self.url}", size=12)
        out = io.BytesIO()
        document.save(out)
        return out.getvalue()


def chinese_date(iso: str) -> str:
    try:
        day = date.fromisoformat(iso)
    except ValueError:
        return iso
    return f"{day.year}年{day.month}月{day.day}日"


def chinese_number(n: int) -> str:
    if n <= 10:
        return CHINESE_NUMBERS[n - 1]
    if n < 20:
        return "十" + CHINESE_NUMBERS[n - 11]
    tens, ones = divmod(n, 10)
    return CHINESE_NUMBERS[tens - 1] + "十" + (CHINESE_NUMBERS[ones - 1] if ones else "")


def rule_basis(rule: str) -> str:
    return {"T3-BALANCE": "表三的勾稽关系", "T3-ROWSUM": "各类申请人之和", "T3-RESULTS": "各项办理结果之和",
            "T4-BLOCK": "结果维持、结果纠正、其他结果、尚未审结之和", "NARRATIVE-TABLE": "表格数据",
            "CARRY-OVER": "上一年度报告的“结转下年度继续办理”数", "LATE": "法定期限",
            "T2-2019-TOTAL": "本年新公开数量"}.get(rule, "填报要求")


def recipient_for(agency_name: str, kind: str, region_code: str | None) -> Recipient:
    """The 政府信息公开工作主管部门 (条例第三条: 县级以上地方人民政府办公厅（室）): the office of the government at
    the agency's level; for a government's own report, the level above; for 乡镇/街道, the county's."""
    from domain.regions import region_by_code, region_from_agency_name

    region = region_by_code(region_code.ljust(6, "0")[:6]) if region_code else None
    if region is None:
        region = region_from_agency_name(agency_name)
    if region is None:
        return Recipient("（请填写：该机关所属人民政府办公厅（室）政务公开办公室）",
                         "未能确定机关所属地区，请核对后填写收件单位。")
    target = region
    if kind == "government":
        parent = region_by_code(region.parent_code) if region.parent_code else None
        if parent is None:
            return Recipient("国务院办公厅政府信息与政务公开办公室",
                             "省级人民政府年度报告的政府信息公开工作主管部门为国务院办公厅。")
        target = parent
    office = "人民政府办公厅" if target.level == "province" else "人民政府办公室"
    return Recipient(f"{government_name(target)}{office}（政务公开办公室）",
                     "依据《中华人民共和国政府信息公开条例》第三条，县级以上地方人民政府办公厅（室）是本行政区域的政府信息"
                     "公开工作主管部门（通常由其政务公开办公室具体承办）。")


def government_name(region: Any) -> str:
    """淮安市洪泽区 (a county under a city: the city and the county, as the government signs), 北京市东城区,
    淮安市, 江苏省."""
    from domain.regions import region_by_code

    if region.level == "county" and region.parent_code:
        parent = region_by_code(region.parent_code)
        if parent is not None and parent.level == "city" and not region.name.startswith(parent.name):
            return parent.name + region.name
        return str(region.full_name)
    return str(region.name)


def letter_for(session: Any, report_id: int, today: date | None) -> Letter | None:
    from storage.models import Report

    report = session.get(Report, report_id)
    if report is None:
        return None
    document = report.version.document
    agency = document.agency
    confirmed = [f for f in report.findings if f.status == "confirmed"]
    record = report.record or {}
    letter = Letter(
        title=f"关于{agency.name}{report.year or ''}年度政府信息公开工作年度报告有关数据问题的意见建议",
        recipient=recipient_for(agency.name, agency.kind, agency.region_code), agency=agency.name,
        year=report.year, report_title=str(report.title or record.get("title") or document.title or "年度报告"),
        url=document.url, published=document.published_on.isoformat() if document.published_on else None,
        template=report.template, today=today)
    for finding in confirmed:
        evidence = finding.evidence or {}
        letter.findings.append(Evidence(
            rule=finding.rule, message=finding.message,
            cell=cell_name(evidence.get("table"), evidence.get("row"), evidence.get("column")),
            page=evidence.get("page"), printed=evidence.get("printed"), expected=evidence.get("expected"),
            quote=evidence.get("text"), note=finding.note))
    return letter


class Letters:
    def __init__(self, board: Dashboard) -> None:
        self.board = board

    def _letter(self, request: Request) -> Letter:
        from notifier.digest import CHINA

        with self.board.sessions() as session:
            letter = letter_for(session, int(request.path_params["report_id"]),
                                self.board.clock().astimezone(CHINA).date())
        if letter is None:
            raise HTTPException(404, "没有这份报告")
        return letter

    async def page(self, request: Request) -> Response:
        letter = self._letter(request)
        return self.board.render(request, "letter.html", {"l": letter, "report_id": request.path_params["report_id"],
                                                          "text": letter.text() if letter.findings else ""})

    async def download(self, request: Request) -> Response:
        letter = self._letter(request)
        if not letter.findings:
            raise HTTPException(404, "这份报告没有经确认的问题，无法起草意见建议")
        name = f"letter-{request.path_params['report_id']}"
        if request.path_params["format"] not in ("docx", "txt"):
            raise HTTPException(404, "可下载 .docx 或 .txt")
        if request.path_params["format"] == "docx":
            return Response(letter.docx(), media_type="application/vnd.openxmlformats-officedocument."
                                                      "wordprocessingml.document",
                            headers={"Content-Disposition": f'attachment; filename="{name}.docx"'})
        return Response(letter.text().encode("utf-8"), media_type="text/plain; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}.txt"'})


def letter_routes(board: Dashboard) -> list[Route]:
    letters = Letters(board)
    return [Route("/reports/{report_id:int}/letter", letters.page),
            Route("/reports/{report_id:int}/letter.{format:str}", letters.download)]

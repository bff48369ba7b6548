"""A report as a CMS article page: TRS-style body, Word-exported tables, `PubDate` meta."""

from __future__ import annotations

from html import escape

from .layout import Block, layout
from .model import ReportSpec


def _table(block: Block) -> str:
    out = ['<table border="1" cellspacing="0" cellpadding="0" class="MsoNormalTable" style="border-collapse:collapse">']
    for row in block.rows:
        out.append("<tr>")
        for cell in row:
            attrs = ""
            if cell.rowspan > 1:
                attrs += f' rowspan="{cell.rowspan}"'
            if cell.colspan > 1:
                attrs += f' colspan="{cell.colspan}"'
            text = escape(cell.text) if cell.text else "&nbsp;"
            out.append(f'<td{attrs} valign="center"><p class="MsoNormal" align="center"><span>{text}</span></p></td>')
        out.append("</tr>")
    out.append("</table>")
    return "\n".join(out)


def render_html(spec: ReportSpec, *, published: str | None = None, encoding: str = "utf-8",
                site_name: str = "政府门户网站") -> bytes:
    record = spec.record
    title = record.title or ""
    body: list[str] = []
    for block in layout(spec):
        if block.kind == "title":
            body.append(f'<p align="center"><b><span style="font-size:22pt">{escape(block.text)}</span></b></p>')
        elif block.kind == "heading":
            body.append(f"<p><b>{escape(block.text)}</b></p>")
        elif block.kind == "paragraph":
            body.append(f'<p style="text-indent:2em">{escape(block.text)}</p>')
        elif block.kind == "table":
            body.append(_table(block))
        elif block.kind == "signature":
            body.append(f'<p align="right">{escape(block.text)}</p>')
    charset = "gb2312" if encoding.lower() in ("gbk", "gb2312", "gb18030") else encoding
    pub_meta = f'<meta name="PubDate" content="{published} 09:00"/>' if published else ""
    pub_text = f"<span>发布时间：{published}</span>" if published else ""
    page = f"""<!DOCTYPE html>
<html><head><meta http-equiv="Content-Type" content="text/html; charset={charset}"/>
<meta name="ArticleTitle" content="{escape(title)}"/>{pub_meta}
<title>{escape(title)}_{escape(site_name)}</title></head>
<body><div class="header"><a href="/">首页</a> &gt; <a href="../">政府信息公开年报</a></div>
<div class="article"><h1>{escape(title)}</h1>
<div class="info">{pub_text} <span>来源：{escape(record.agency or "")}</span></div>
<div class="TRS_Editor">
{chr(10).join(body)}
</div></div>
<div class="footer">主办：{escape(site_name)} 网站标识码：0000000000</div>
</body></html>
"""
    return page.encode("gb18030" if charset == "gb2312" else encoding)

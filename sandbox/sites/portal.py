"""Each simulated agency's portal: a home page with a realistic navigation menu, its 政务公开 section, and the
annual-report column two or three levels down under one of the names real portals use — what discovery must
find its way through. One portal (`PORTAL_WITHOUT_COLUMN`) has no such column at all."""

from __future__ import annotations

from html import escape

from .pages import list_path, page
from .world import SandboxSite

COLUMN_NAMES = ("政府信息公开年报", "信息公开年报", "年度报告", "政府信息公开工作年度报告")
PORTAL_WITHOUT_COLUMN = "nocolumn"
AGENCY_WITHOUT_COLUMN = "铁岭市银州区文化旅游和广播电视局"


def column_name(site: SandboxSite) -> str:
    return COLUMN_NAMES[site.index % len(COLUMN_NAMES)]


def column_depth(site: SandboxSite) -> int:
    """2: home → 政务公开 → column; 3: home → 政务公开 → 法定主动公开内容 → column."""
    return 2 + site.index % 2


def column_path(site: SandboxSite) -> str:
    """The column's page as a visitor reaches it (Hanweb's column page embeds its dataproxy list)."""
    if site.platform == "hanweb":
        return f"/s/{site.key}/col/col123/index.html"
    return list_path(site)


def _chrome(key: str, agency: str, title: str, content: str, encoding: str) -> bytes:
    root = f"/s/{key}"
    menu = "".join(f'<li><a href="{root}{href}">{text}</a></li>' for text, href in (
        ("首页", "/"), ("要闻动态", "/xwdt/index.html"), ("政务公开", "/zwgk/index.html"),
        ("政务服务", "/zwfw/index.html"), ("互动交流", "/hdjl/index.html"), ("走进本地", "/zjbd/index.html")))
    links = ('<a href="https://www.gov.cn/">中国政府网</a> <a href="https://www.gov.cn/zhengce/">国务院政策文件库</a> '
             f'<a href="{root}/wzdt/index.html">网站地图</a> <a href="{root}/lxwm/index.html">联系我们</a>')
    footer = (f'<div class="footer"><p>主办单位：{escape(agency)}办公室　承办单位：{escape(agency)}信息中心</p>'
              f"<p>网站标识码：3200000000　ICP备案号：苏ICP备00000000号</p><p>{links}</p></div>")
    body = (f'<div class="header"><div class="logo">{escape(agency)}</div><ul class="nav">{menu}</ul></div>'
            f'<div class="main">{content}</div>{footer}')
    return page(title, body, encoding)


def home(site: SandboxSite) -> bytes:
    root = f"/s/{site.key}"
    news = "".join(f'<li><a href="{root}/xwdt/{2024000 + i}.html">{escape(t)}</a><span>2025-0{i + 1}-1{i}</span></li>'
                   for i, t in enumerate(("区领导调研重点项目建设", "关于开展2025年度政务公开工作考核的通知",
                                          "召开优化营商环境工作推进会", "2024年度法治政府建设年度报告")))
    content = (f'<div class="news"><h3>要闻动态</h3><ul>{news}</ul></div>'
               f'<div class="quick"><a href="{root}/zwgk/index.html">政府信息公开</a>'
               f'<a href="{root}/zwfw/index.html">办事服务</a><a href="{root}/hdjl/index.html">领导信箱</a></div>')
    return _chrome(site.key, site.agency, f"首页_{site.agency}", content, site.encoding)


def section(site: SandboxSite) -> bytes:
    """政务公开: the 信息公开 menu (指南, 制度, 法定主动公开内容, …, and at depth 2 the report column)."""
    root = f"/s/{site.key}"
    items = [("政府信息公开指南", f"{root}/zwgk/gkzn/index.html"), ("政府信息公开制度", f"{root}/zwgk/gkzd/index.html"),
             ("法定主动公开内容", f"{root}/zwgk/fdzdgknr/index.html"),
             ("政务公开工作要点", f"{root}/zwgk/gkyd/index.html"), ("依申请公开", f"{root}/zwgk/ysqgk/index.html")]
    if column_depth(site) == 2:
        items.insert(3, (column_name(site), column_path(site)))
    menu = "".join(f'<li><a href="{escape(href)}">{escape(text)}</a></li>' for text, href in items)
    return _chrome(site.key, site.agency, f"政府信息公开_{site.agency}",
                   f'<div class="gk-nav"><h3>政府信息公开</h3><ul>{menu}</ul></div>', site.encoding)


def statutory(site: SandboxSite) -> bytes:
    """法定主动公开内容: the sub-columns (at depth 3 the report column among them)."""
    root = f"/s/{site.key}/zwgk/fdzdgknr"
    items = [("机构职能", f"{root}/jgzn/index.html"), ("规划信息", f"{root}/ghxx/index.html"),
             ("财政预决算", f"{root}/czyjs/index.html"), ("统计信息", f"{root}/tjxx/index.html"),
             ("法治政府建设年度报告", f"{root}/fzzfjs/index.html")]
    if column_depth(site) == 3:
        items.insert(4, (column_name(site), column_path(site)))
    menu = "".join(f'<li><a href="{escape(href)}">{escape(text)}</a></li>' for text, href in items)
    return _chrome(site.key, site.agency, f"法定主动公开内容_{site.agency}",
                   f'<div class="gk-nav"><h3>法定主动公开内容</h3><ul>{menu}</ul></div>', site.encoding)


def hanweb_column(site: SandboxSite, first_records: str) -> bytes:
    """A Hanweb column page: the list comes from dataproxy.jsp, its first records inlined as a datastore."""
    proxy = (f"/s/{site.key}/module/web/jpage/dataproxy.jsp?page=1&amp;webid=1&amp;path=/&amp;columnid=123"
             f"&amp;unitid=4567&amp;webname={escape(site.agency)}&amp;permissiontype=0")
    script = (f'<div id="4567"><script type="text/xml"><datastore><nextgroup><![CDATA[<a href="{proxy}"></a>]]>'
              f"</nextgroup><recordset>{first_records}</recordset></datastore></script></div>"
              '<script language="javascript" src="/module/web/jpage/jpage.js"></script>')
    return _chrome(site.key, site.agency, f"{column_name(site)}_{site.agency}",
                   f"<h3>{escape(column_name(site))}</h3>{script}", site.encoding)


def blank(site: SandboxSite, title: str) -> bytes:
    return _chrome(site.key, site.agency, f"{title}_{site.agency}", f"<h3>{escape(title)}</h3><p>暂无内容</p>",
                   site.encoding)


def without_column(path: str) -> bytes | None:
    """The portal that has no annual-report column: its home, its 政务公开 and statutory-content pages."""
    root = f"/s/{PORTAL_WITHOUT_COLUMN}"
    agency = AGENCY_WITHOUT_COLUMN
    if path in ("/", "/index.html"):
        content = f'<a href="{root}/zwgk/index.html">政务公开</a><a href="{root}/xwdt/index.html">工作动态</a>'
        return _chrome(PORTAL_WITHOUT_COLUMN, agency, f"首页_{agency}", content, "utf-8")
    if path == "/zwgk/index.html":
        menu = "".join(f'<li><a href="{root}{href}">{text}</a></li>' for text, href in (
            ("机构概况", "/zwgk/jggk/index.html"), ("法定主动公开内容", "/zwgk/fdzdgknr/index.html"),
            ("政策文件", "/zwgk/zcwj/index.html")))
        return _chrome(PORTAL_WITHOUT_COLUMN, agency, f"政务公开_{agency}", f"<ul>{menu}</ul>", "utf-8")
    if path.endswith("/index.html"):
        return _chrome(PORTAL_WITHOUT_COLUMN, agency, f"栏目_{agency}", "<p>暂无内容</p>", "utf-8")
    return None

"""Locating a CJK font on the machine (Debian's fonts-wqy-zenhei by default)."""

from __future__ import annotations

import os
from pathlib import Path

CANDIDATES = (
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
)


def cjk_font_path() -> Path:
    override = os.environ.get("NIANBAO_CJK_FONT")
    for candidate in ((override,) if override else ()) + CANDIDATES:
        if candidate and Path(candidate).exists():
            return Path(candidate)
    raise FileNotFoundError("no CJK font found: apt-get install fonts-wqy-zenhei (or set NIANBAO_CJK_FONT)")

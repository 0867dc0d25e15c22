"""A printable A4 poster (PDF) of a public notice: its sections and two QR codes, one to the
notice's page and one to the report form (prefilled with the grid, or the building).

Made with fpdf2 (PDF, fonts embedded as subsets with their Unicode maps, so the text can be
searched and copied) and segno (QR codes, error correction M, drawn as images). Chinese text
needs a CJK font: ``$WANGGE_CJK_FONT`` if set, else the first found of the usual system places
(WenQuanYi, Noto Sans CJK, Droid Sans Fallback on Linux; PingFang/STHeiti on macOS; YaHei,
SimHei on Windows), else what ``fc-match :lang=zh`` names; none: :class:`FontMissingError`
saying what to install. Sizes in millimetres.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import segno
from fpdf import FPDF

from gis.errors import WanggeError
from maps.notice import NoticeSection

FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
    "/System/Library/Fonts/STHeiti Medium.ttc",
    "/System/Library/Fonts/Supplemental/Arial Unicode.ttf",
    "/Library/Fonts/Arial Unicode.ttf",
    "C:/Windows/Fonts/msyh.ttc",
    "C:/Windows/Fonts/simhei.ttf",
)
A4 = (210.0, 297.0)
MARGIN = 15.0
QR_SIZE = 62.0  # mm: a phone reads it from about 1.5 m
RED = (198, 40, 40)


class FontMissingError(WanggeError, RuntimeError):
    """No font for Chinese text was found to print the poster with."""


def find_cjk_font() -> Path:
    """A font file with Chinese glyphs (see the module's docstring for where it looks)."""
    chosen = os.environ.get("WANGGE_CJK_FONT")
    if chosen:
        if Path(chosen).is_file():
            return Path(chosen)
        raise FontMissingError(f"WANGGE_CJK_FONT 指向的字体文件不存在：{chosen}",
                               f"WANGGE_CJK_FONT names no font file: {chosen}")
    for candidate in FONT_CANDIDATES:
        if Path(candidate).is_file():
            return Path(candidate)
    if shutil.which("fc-match"):
        found = subprocess.run(["fc-match", "-f", "%{file}", ":lang=zh"], capture_output=True,
                               text=True, timeout=10, check=False).stdout.strip()
        if found and Path(found).suffix.lower() in (".ttf", ".ttc", ".otf") and \
                Path(found).is_file() and "dejavu" not in found.lower():
            return Path(found)
    raise FontMissingError(
        "找不到中文字体，无法生成海报：请安装文泉驿微米黑（Debian/Ubuntu：apt-get install "
        "fonts-wqy-microhei）或 Noto Sans CJK，或用环境变量 WANGGE_CJK_FONT 指定字体文件",
        "no font with Chinese glyphs found to print the poster: install WenQuanYi Micro Hei "
        "(Debian/Ubuntu: apt-get install fonts-wqy-microhei) or Noto Sans CJK, or set "
        "WANGGE_CJK_FONT to a font file")


def qr_png(url: str, scale: int = 8) -> bytes:
    """A QR code (error correction M) of ``url`` as a PNG, with the quiet zone."""
    buffer = io.BytesIO()
    segno.make_qr(url, error="m").save(buffer, kind="png", scale=scale, border=4)
    return buffer.getvalue()


@dataclass(frozen=True)
class PosterCode:
    """A QR code on the poster: what it says under it and the address it encodes."""

    caption: str
    url: str


def poster_pdf(title: str, subtitle: str, sections: Sequence[NoticeSection],
               codes: Sequence[PosterCode], footer: str = "",
               font: Path | None = None) -> bytes:
    """The A4 poster as PDF bytes: a red title band, the sections' lines, the QR codes side
    by side with their captions and addresses, and ``footer`` at the bottom."""
    pdf = FPDF(orientation="P", unit="mm", format="A4")
    pdf.set_auto_page_break(False)
    pdf.set_margins(MARGIN, MARGIN, MARGIN)
    pdf.set_title(title)
    pdf.set_creator("Wangge 网格")
    font_path = font or find_cjk_font()
    pdf.add_font("cjk", "", str(font_path))
    pdf.add_page()
    width = A4[0] - 2 * MARGIN
    pdf.set_fill_color(*RED)
    pdf.rect(0, 0, A4[0], 38, style="F")
    pdf.set_text_color(255, 255, 255)
    pdf.set_font("cjk", size=26)
    pdf.set_xy(MARGIN, 8)
    pdf.cell(width, 13, title, align="C")
    pdf.set_font("cjk", size=13)
    pdf.set_xy(MARGIN, 23)
    pdf.cell(width, 8, subtitle, align="C")
    pdf.set_text_color(33, 33, 33)
    pdf.set_y(46)
    qr_top = A4[1] - MARGIN - 12 - QR_SIZE - 16
    for section in sections:
        if pdf.get_y() > qr_top - 16:
            break  # the codes keep their place: the sections stop above them
        pdf.set_font("cjk", size=14)
        pdf.set_text_color(*RED)
        pdf.multi_cell(width, 7.5, section.heading, new_x="LMARGIN", new_y="NEXT")
        pdf.set_text_color(33, 33, 33)
        pdf.set_font("cjk", size=11.5)
        for line in section.lines:
            pdf.multi_cell(width, 6.2, line, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(2.5)
    slot = width / max(1, len(codes))
    for i, code in enumerate(codes):
        x = MARGIN + i * slot + (slot - QR_SIZE) / 2
        pdf.image(io.BytesIO(qr_png(code.url)), x=x, y=qr_top, w=QR_SIZE, h=QR_SIZE,
                  title=code.caption, alt_text=code.url)
        pdf.set_font("cjk", size=12)
        pdf.set_xy(MARGIN + i * slot, qr_top + QR_SIZE + 1)
        pdf.cell(slot, 6, code.caption, align="C")
        pdf.set_font("cjk", size=7)
        pdf.set_xy(MARGIN + i * slot, qr_top + QR_SIZE + 7)
        pdf.multi_cell(slot, 3.5, code.url, align="C")
    if footer:
        pdf.set_font("cjk", size=7.5)
        pdf.set_text_color(97, 97, 97)
        pdf.set_xy(MARGIN, A4[1] - MARGIN - 4)
        pdf.cell(width, 4, footer, align="C")
    return bytes(pdf.output())

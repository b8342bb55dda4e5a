"""The page: an fpdf2 document with the station's header, footer, headings, paragraphs and tables.

Core PDF fonts only (Helvetica): nothing to install or embed, and text stays
extractable (``pdftotext``). They cover Latin-1; anything else (a therapist's
typographic dash or arrow) is replaced by its ASCII form, or "?".
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from fpdf import FPDF
from fpdf.enums import XPos, YPos

FONT = "Helvetica"
BODY_PT = 8.5
LINE_MM = 4.0
GREY = (90, 90, 90)
RULE = (170, 170, 170)
ASCII_FOR = {"\u2013": "-", "\u2014": "-", "\u2212": "-", "\u2192": "->", "\u2190": "<-", "\u2018": "'",
             "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2026": "...", "\u2265": ">=", "\u2264": "<="}


def latin1(text: str) -> str:
    """``text`` as the core fonts can draw it."""
    for k, v in ASCII_FOR.items():
        text = text.replace(k, v)
    return text.encode("latin-1", "replace").decode("latin-1")


class ReportPDF(FPDF):
    """An A4 report page with a title band and a footer naming when and where it was made."""

    def __init__(self, *, title: str, subtitle: str, made_at: datetime, made_by: str) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self.report_title = title
        self.report_subtitle = subtitle
        self.made_line = f"Made {made_at.strftime('%Y-%m-%d %H:%M')} by {made_by}"
        self.set_margins(12, 12, 12)
        self.set_auto_page_break(True, margin=14)
        self.set_creation_date(made_at)
        self.set_title(latin1(f"{title} - {subtitle}"))
        self.set_creator(made_by)
        self.set_font(FONT, size=BODY_PT)

    def header(self) -> None:
        self.set_font(FONT, "B", 13)
        self.cell(0, 7, latin1(self.report_title), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_font(FONT, "", 9)
        self.set_text_color(*GREY)
        self.cell(0, 5, latin1(self.report_subtitle), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_text_color(0, 0, 0)
        self.set_draw_color(*RULE)
        self.line(self.l_margin, self.get_y() + 1, self.w - self.r_margin, self.get_y() + 1)
        self.ln(3)
        self.set_font(FONT, size=BODY_PT)

    def footer(self) -> None:
        self.set_y(-11)
        self.set_font(FONT, "", 7)
        self.set_text_color(*GREY)
        self.cell(0, 4, latin1(self.made_line), align="L")
        self.set_x(self.l_margin)
        self.cell(0, 4, f"page {self.page_no()}/{{nb}}", align="R")
        self.set_text_color(0, 0, 0)

    def heading(self, text: str) -> None:
        """A section heading."""
        self.ln(1.5)
        self.set_font(FONT, "B", 9.5)
        self.cell(0, 5, latin1(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_font(FONT, size=BODY_PT)

    def para(self, text: str, *, size: float = BODY_PT, grey: bool = False) -> None:
        """A wrapped paragraph."""
        self.set_font(FONT, size=size)
        if grey:
            self.set_text_color(*GREY)
        self.multi_cell(0, LINE_MM * size / BODY_PT, latin1(text), align="L", new_x=XPos.LMARGIN,
                        new_y=YPos.NEXT)
        self.set_text_color(0, 0, 0)
        self.set_font(FONT, size=BODY_PT)

    def grid(self, head: Sequence[str], rows: Sequence[Sequence[str]], widths: Sequence[float],
             *, size: float = 7.5) -> None:
        """A small table: a bold header row, then the rows (text wraps within a cell)."""
        self.set_font(FONT, size=size)
        self.set_draw_color(*RULE)
        self.set_fill_color(255, 255, 255)  # a chart may have left its colour
        with self.table(col_widths=tuple(widths), width=sum(widths), align="LEFT", line_height=3.6,
                        first_row_as_headings=True, text_align="LEFT",
                        headings_style=_HEADINGS) as table:
            for r in (head, *rows):
                row = table.row()
                for cell in r:
                    row.cell(latin1(cell))
        self.set_font(FONT, size=BODY_PT)

    def rows(self, head: Sequence[str], rows: Sequence[Sequence[str]], widths: Sequence[float],
             *, size: float = 6.5, height: float = 3.4) -> None:
        """A long table of one-line cells (cut to fit, no wrapping), its header repeated on each page:
        much cheaper than ``grid`` for a hundred rows."""
        self.set_draw_color(*RULE)

        def header() -> None:
            self.set_font(FONT, "B", size)
            self.set_fill_color(235, 235, 235)
            for text, w in zip(head, widths, strict=True):
                self.cell(w, height, self._fit(latin1(text), w), border=1, fill=True)
            self.ln(height)
            self.set_font(FONT, "", size)

        header()
        for r in rows:
            if self.get_y() + height > self.h - self.b_margin:
                self.add_page()
                header()
            for text, w in zip(r, widths, strict=True):
                self.cell(w, height, self._fit(latin1(text), w), border=1)
            self.ln(height)
        self.set_font(FONT, size=BODY_PT)

    def _fit(self, text: str, w: float) -> str:
        """``text`` cut (with "..") to fit a cell ``w`` mm wide."""
        room = w - 2 * self.c_margin
        if self.get_string_width(text) <= room:
            return text
        while text and self.get_string_width(text + "..") > room:
            text = text[:-1]
        return text + ".."


def _headings_style():
    from fpdf.fonts import FontFace
    return FontFace(emphasis="BOLD", fill_color=(235, 235, 235))


_HEADINGS = _headings_style()

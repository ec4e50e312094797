"""The credit report as a PDF (fpdf2), A4, with the Chinese font embedded as a subset.

fpdf2 is pure Python (fontTools underneath): nothing beyond the PyPI packages is needed, so
`make run` still asks only for Python and make. Each section starts on a new page, as the
print page does; the running header names the customer and the footer the page.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path

from fpdf import FPDF
from fpdf.fonts import FontFace

from riskdesk.reports import fonts
from riskdesk.reports.formatting import NONE, View, number
from riskdesk.reports.schemas import CreditReport

log = logging.getLogger(__name__)

FAMILY = "report"
FALLBACK = "report-full"
INK = (33, 37, 41)
MUTED = (108, 117, 125)
RULE = (206, 212, 218)
HEAD_FILL = (233, 236, 239)
DANGER = (176, 42, 55)


class _Document(FPDF):
    """A4 pages with the report's running header and footer."""

    def __init__(self, view: View, report: CreditReport) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.view = view
        self.report = report
        self.set_margins(16, 18, 16)
        self.set_auto_page_break(auto=True, margin=18)

    def header(self) -> None:
        if self.page_no() == 1:
            return
        c = self.report.customer
        self.set_font(FAMILY, size=8)
        self.set_text_color(*MUTED)
        self.cell(0, 5, f"{self.view.t('report.title')} · {c.code} · {c.name}", align="L")
        self.ln(8)
        self.set_text_color(*INK)

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(FAMILY, size=7.5)
        self.set_text_color(*MUTED)
        made = self.view.stamp(self.report.generated_at)
        self.cell(0, 5, self.view.t("report.footer", when=made), align="L")
        self.set_x(self.l_margin)
        page = self.view.t("report.page", page=self.page_no(), pages="{nb}")
        self.cell(0, 5, page, align="R")
        self.set_text_color(*INK)


def needs_full_face(report: CreditReport) -> bool:
    """Whether the report has a character beyond the working face."""
    return beyond_working_face(report.model_dump_json())


def beyond_working_face(text: str) -> bool:
    """Whether a text has a character the working face lacks."""
    covered = fonts.working_set()
    return any(ord(ch) not in covered for ch in text if ord(ch) > 0x7E)


def embed_fonts(pdf: FPDF, data_dir: Path, full_face: bool) -> None:
    """Give a document the working face (and the whole face when ``full_face``)."""
    pdf.add_font(FAMILY, fname=str(fonts.working_face(data_dir)))
    if full_face:
        # A character beyond the working face: this document carries the whole face as well.
        pdf.add_font(FALLBACK, fname=str(fonts.SOURCE))
        pdf.set_fallback_fonts([FALLBACK], exact_match=False)
    for font in pdf.fonts.values():
        # Recomputing the subset's bounding boxes draws every glyph again (a third of the time
        # spent writing the PDF); the face's own box still bounds the subset, and viewers read
        # the box from the font descriptor, which fpdf2 fills from the face.
        ttfont = getattr(font, "ttfont", None)
        if ttfont is not None:
            ttfont.recalcBBoxes = False


class Writer:
    """Sections, headings, notes, label-value pairs and tables in the reports' style."""

    def __init__(self, pdf: FPDF, view: View) -> None:
        self.pdf = pdf
        self.view = view
        self.t = view.t

    def section(self, key: str, first: bool = False) -> None:
        if not first:
            self.pdf.add_page()
        self.pdf.set_font(FAMILY, size=13)
        self.pdf.set_text_color(*INK)
        self.pdf.cell(0, 8, self.t(key), new_x="LMARGIN", new_y="NEXT")
        self.pdf.set_draw_color(*RULE)
        y = self.pdf.get_y()
        self.pdf.line(self.pdf.l_margin, y, self.pdf.w - self.pdf.r_margin, y)
        self.pdf.ln(2)

    def heading(self, text: str) -> None:
        self.pdf.ln(2)
        self.pdf.set_font(FAMILY, size=10.5)
        self.pdf.cell(0, 6, text, new_x="LMARGIN", new_y="NEXT")

    def note(self, text: str) -> None:
        self.pdf.set_font(FAMILY, size=8)
        self.pdf.set_text_color(*MUTED)
        self.pdf.multi_cell(0, 4.2, text, new_x="LMARGIN", new_y="NEXT")
        self.pdf.set_text_color(*INK)

    def pairs(self, rows: Sequence[tuple[str, str]]) -> None:
        """Label and value, two pairs a line."""
        self.pdf.set_font(FAMILY, size=9)
        with self.pdf.table(
            col_widths=(22, 28, 22, 28),
            first_row_as_headings=False,
            borders_layout="HORIZONTAL_LINES",
            line_height=5.2,
            padding=1,
        ) as table:
            for i in range(0, len(rows), 2):
                row = table.row()
                for label, value in rows[i : i + 2]:
                    row.cell(label, style=FontFace(color=MUTED))
                    row.cell(value)
                if len(rows[i : i + 2]) == 1:
                    row.cell("")
                    row.cell("")

    def table(
        self,
        headings: Sequence[str],
        rows: Sequence[Sequence[str]],
        widths: Sequence[float],
        numeric: Sequence[int] = (),
        empty: str | None = None,
    ) -> None:
        """A table with a heading row; numbers aligned right."""
        if not rows:
            self.note(empty or self.t("common.none"))
            return
        self.pdf.set_font(FAMILY, size=8.5)
        align = tuple("RIGHT" if i in numeric else "LEFT" for i in range(len(headings)))
        with self.pdf.table(
            col_widths=tuple(widths),
            text_align=align,
            headings_style=FontFace(fill_color=HEAD_FILL),
            borders_layout="HORIZONTAL_LINES",
            line_height=4.8,
            padding=1,
            repeat_headings=1,
        ) as table:
            head = table.row()
            for text in headings:
                head.cell(text)
            for values in rows:
                row = table.row()
                for text in values:
                    row.cell(text)


def _profile(w: Writer, report: CreditReport) -> None:
    v, t, c = w.view, w.t, report.customer
    w.section("report.section.profile", first=True)
    identity = (
        (t("field.tax_id"), v.value(c.tax_id))
        if c.kind == "company"
        else (t("field.national_id"), v.value(c.national_id))
    )
    w.pairs(
        [
            (t("report.code"), c.code),
            (t("field.name"), c.name),
            (t("report.kind"), v.enum("kind", c.kind)),
            (t("field.status"), v.enum("status", c.status)),
            identity,
            (t("field.segment"), v.enum("segment", c.segment)),
            (t("field.industry"), v.value(c.industry)),
            (t("field.region"), v.value(c.region)),
            (t("field.owner"), c.owner.display_name if c.owner else NONE),
            (t("file.group"), f"{c.group.name} ({c.group.code})" if c.group else NONE),
            (t("field.phone"), v.value(c.phone)),
            (t("field.email"), v.value(c.email)),
            (t("field.address"), v.value(c.address)),
            (t("field.bank_account"), v.value(c.bank_account)),
        ]
    )
    if report.masked:
        w.note(t("report.masked_note"))
    w.heading(t("file.contacts"))
    w.table(
        [t("customers.name"), t("field.title"), t("field.phone"), t("field.email")],
        [
            [
                ct.name + (" ★" if ct.is_primary else ""),
                v.value(ct.title),
                v.value(ct.phone),
                v.value(ct.email),
            ]
            for ct in report.contacts
        ],
        (25, 20, 25, 30),
    )
    _score(w, report)


def _score(w: Writer, report: CreditReport) -> None:
    v, t, s, p = w.view, w.t, report.score, report.customer.profile
    w.heading(t("report.section.score"))
    if s is None:
        w.note(t("scoring.none"))
    else:
        rating = s.rating + (f" → {p.rating_override}" if p.rating_override else "")
        w.pairs(
            [
                (t("field.score"), f"{s.score} / 1000"),
                (t("field.rating"), rating),
                (t("field.risk_tier"), v.enum("tier", s.risk_tier)),
                (t("scoring.scorecard"), v.value(s.scorecard)),
                (t("scoring.scored_at"), v.stamp(s.scored_at)),
                (t("report.as_of"), v.day(s.as_of)),
            ]
        )
        w.heading(t("scoring.reasons"))
        if s.reasons:
            w.pdf.set_font(FAMILY, size=9)
            for i, reason in enumerate(s.reasons, 1):
                w.pdf.multi_cell(0, 5, f"{i}. {v.text(reason)}", new_x="LMARGIN", new_y="NEXT")
        else:
            w.note(t("scoring.no_reasons"))
    if len(report.score_history) > 1:
        w.heading(t("report.score_history"))
        w.table(
            [t("report.as_of"), t("field.score"), t("field.rating")],
            [[v.day(h.as_of), str(h.score), h.rating] for h in report.score_history],
            (40, 30, 30),
            numeric=(1,),
        )


def _exposure(w: Writer, report: CreditReport) -> None:
    v, t, p, e = w.view, w.t, report.customer.profile, report.exposure
    cur = e.limit_currency
    w.section("report.section.exposure")
    w.pairs(
        [
            (t("field.credit_limit"), v.money(p.credit_limit, p.limit_currency)),
            (t("report.limit_in_force"), v.money(e.limit_in_force, cur)),
            (
                f"{t('field.limit_valid_from')} – {t('field.limit_valid_to')}",
                v.period(p.limit_valid_from, p.limit_valid_to),
            ),
            (t("field.payment_terms_days"), str(p.payment_terms_days)),
            (t("field.prepayment_required"), v.yesno(p.prepayment_required)),
            (
                t("field.blocked"),
                v.yesno(p.blocked) + (f": {p.blocked_reason}" if p.blocked_reason else ""),
            ),
            (t("limits.recommended"), v.money(report.recommended_limit, p.limit_currency)),
            (t("field.next_review_date"), v.day(p.next_review_date)),
        ]
    )
    w.heading(t("credit.exposure"))
    rows = [
        [
            v.text_of(line.name_en, line.name_zh),
            v.yesno(line.counts_in_limit),
            v.money(line.amount, cur),
        ]
        for line in e.lines
    ]
    rows.append([t("credit.counted"), "", v.money(e.counted, cur)])
    rows.append([t("credit.available"), "", v.money(e.available, cur)])
    rows.append([t("credit.utilisation"), "", v.percent(e.utilisation)])
    w.table(
        [t("report.category"), t("report.counts_in_limit"), t("common.amount")],
        rows,
        (50, 20, 30),
        numeric=(2,),
    )
    w.heading(t("credit.ageing"))
    total = sum(b.amount or 0.0 for b in report.ageing)
    w.table(
        [t("report.bucket"), t("common.amount"), t("report.share")],
        [
            [
                t(f"report.bucket.{b.bucket}"),
                v.measure(b.amount, "CNY"),
                v.percent((b.amount or 0.0) / total) if total else NONE,
            ]
            for b in report.ageing
        ],
        (40, 35, 25),
        numeric=(1, 2),
    )
    _behaviour(w, report)


def _behaviour(w: Writer, report: CreditReport) -> None:
    v, t = w.view, w.t
    w.heading(t("report.section.behaviour"))
    if report.indicators_as_of is None:
        w.note(t("indicators.none"))
        return
    w.note(t("indicators.as_of", date=v.day(report.indicators_as_of)))
    w.table(
        [t("report.measure"), t("report.value")],
        [[v.text(m.label), v.measure(m.value, m.unit)] for m in report.payment_behaviour],
        (75, 25),
        numeric=(1,),
    )


def _statements(w: Writer, report: CreditReport) -> None:
    v, t = w.view, w.t
    w.section("report.section.statements")
    items = report.statements
    w.table(
        [
            t("field.period_end"),
            t("field.revenue"),
            t("field.total_assets"),
            t("field.total_liabilities"),
            t("field.equity"),
            t("field.net_income"),
        ],
        [
            [
                f"{v.day(s.statement.period_end)} "
                f"({v.enum('report.period', s.statement.period_type)})",
                v.money(s.statement.revenue, None),
                v.money(s.statement.total_assets, None),
                v.money(s.statement.total_liabilities, None),
                v.money(s.statement.equity, None),
                v.money(s.statement.net_income, None),
            ]
            for s in items
        ],
        (24, 16, 16, 16, 14, 14),
        numeric=(1, 2, 3, 4, 5),
    )
    if items:
        w.note(t("report.amounts_in", currency=items[0].statement.currency))
    w.heading(t("report.altman"))
    w.table(
        [
            t("field.period_end"),
            t("report.altman_model"),
            t("report.altman_score"),
            t("report.altman_zone"),
        ],
        [
            [
                v.day(s.statement.period_end),
                v.enum("report.model", s.altman_model),
                number(s.altman_score, 2),
                v.enum("report.zone", s.altman_zone),
            ]
            for s in items
        ],
        (25, 35, 20, 20),
        numeric=(2,),
    )
    if items:
        w.note(t("report.altman_note"))
    w.heading(t("report.ratios"))
    names = list(items[0].ratios) if items else []
    w.table(
        [t("field.period_end"), *[t(f"report.ratio.{n}") for n in names]],
        [[v.day(s.statement.period_end), *[v.ratio(n, s.ratios[n]) for n in names]] for s in items],
        (16, *([84 / max(len(names), 1)] * len(names))),
        numeric=tuple(range(1, len(names) + 1)),
    )


def _bureau(w: Writer, report: CreditReport) -> None:
    v, t = w.view, w.t
    w.section("report.section.bureau")
    w.table(
        [t("field.source"), t("field.report_date"), t("field.score"), t("field.recommended_limit")],
        [
            [
                v.source(b.source),
                v.day(b.report_date),
                v.value(None if b.score is None else str(b.score)),
                v.money(b.recommended_limit, None),
            ]
            for b in report.bureau
        ],
        (30, 25, 15, 30),
        numeric=(2, 3),
    )
    for b in report.bureau:
        if b.masked:
            w.note(t("report.bureau_masked", source=v.source(b.source), date=v.day(b.report_date)))
        elif b.details:
            w.heading(f"{v.source(b.source)} · {v.day(b.report_date)}")
            w.table([t("report.item"), t("report.value")], [list(d) for d in b.details], (40, 60))


def _alerts(w: Writer, report: CreditReport) -> None:
    v, t = w.view, w.t
    w.section("report.section.alerts")
    w.table(
        [
            t("alerts.severity"),
            t("report.alert"),
            t("report.observed_on"),
            t("common.status"),
            t("report.case"),
        ],
        [
            [
                v.enum("alerts.severity", a.severity),
                v.text(a.title),
                v.day(a.observed_on),
                v.enum("alerts.status", a.status)
                + (f" · {v.enum('alerts.outcome', a.outcome)}" if a.outcome else ""),
                f"#{a.case_id}" if a.case_id else NONE,
            ]
            for a in report.alerts
        ],
        (14, 44, 16, 16, 10),
        empty=t("report.no_alerts"),
    )
    w.heading(t("report.cases"))
    w.table(
        [
            t("report.case"),
            t("common.status"),
            t("report.opened_at"),
            t("report.closed_at"),
            t("report.alert_count"),
        ],
        [
            [
                f"#{c.id}",
                v.enum("case.status", c.status),
                v.day(c.opened_at),
                v.day(c.closed_at),
                str(c.alerts),
            ]
            for c in report.cases
        ],
        (15, 20, 25, 25, 15),
        numeric=(4,),
    )


def _decisions(w: Writer, report: CreditReport) -> None:
    v, t = w.view, w.t
    w.section("report.section.decisions")
    w.table(
        [
            t("common.when"),
            t("credit.order"),
            t("common.amount"),
            t("credit.outcome"),
            t("common.status"),
            t("credit.reasons"),
        ],
        [
            [
                v.day(d.created_at),
                d.order,
                v.money(d.amount, d.currency),
                v.enum("report.outcome", d.outcome),
                v.enum("decision", d.status),
                "; ".join(v.text(r) for r in d.reasons) or NONE,
            ]
            for d in report.decisions
        ],
        (14, 18, 18, 10, 10, 30),
        numeric=(2,),
    )
    w.heading(t("report.approvals"))
    w.table(
        [
            t("common.when"),
            t("limits.new_limit"),
            t("common.status"),
            t("report.requested_by"),
            t("report.decided_by"),
            t("common.reason"),
        ],
        [
            [
                v.day(r.requested_at),
                f"{v.money(r.current_limit, None)} → {v.money(r.requested_limit, r.currency)}",
                v.enum("limits.status", r.status),
                f"{v.value(r.requested_by)} ({v.enum('limits.origin', r.origin)})",
                v.value(r.decided_by) + (f" · {v.day(r.decided_at)}" if r.decided_at else ""),
                r.reason + (f" / {r.comment}" if r.comment else ""),
            ]
            for r in report.limit_requests
        ],
        (13, 25, 10, 17, 15, 20),
    )


def render(report: CreditReport, view: View, data_dir: Path) -> bytes:
    """The report as PDF bytes, in the view's language."""
    pdf = _Document(view, report)
    pdf.set_title(f"{view.t('report.title')} {report.customer.code}")
    pdf.set_creator("Riskdesk")
    pdf.set_lang("zh-CN" if view.locale == "zh-CN" else "en")
    embed_fonts(pdf, data_dir, needs_full_face(report))
    pdf.add_page()
    c = report.customer
    pdf.set_font(FAMILY, size=18)
    pdf.cell(0, 10, view.t("report.title"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FAMILY, size=12)
    pdf.cell(0, 7, f"{c.name} · {c.code}", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FAMILY, size=8)
    pdf.set_text_color(*MUTED)
    made = view.t("report.generated", when=view.stamp(report.generated_at), who=report.generated_by)
    pdf.cell(0, 5, made, new_x="LMARGIN", new_y="NEXT")
    pdf.cell(0, 5, view.t("report.confidential"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(*INK)
    pdf.ln(3)
    writer = Writer(pdf, view)
    _profile(writer, report)
    _exposure(writer, report)
    _statements(writer, report)
    _bureau(writer, report)
    _alerts(writer, report)
    _decisions(writer, report)
    return bytes(pdf.output())


def warm_up(data_dir: Path) -> None:
    """Make the working face, then write one small table with it: the first report of the
    process then finds fontTools' table and subsetting code loaded."""
    pdf = FPDF(format="A4")
    pdf.add_font(FAMILY, fname=str(fonts.working_face(data_dir)))
    pdf.add_page()
    pdf.set_font(FAMILY, size=9)
    with pdf.table(col_widths=(50, 50), headings_style=FontFace(fill_color=HEAD_FILL)) as table:
        for texts in (("客户信用报告", "Credit report"), ("信用额度", "1,234.56 CNY")):
            row = table.row()
            for text in texts:
                row.cell(text)
    pdf.output()


def prepare_in_background(data_dir: Path) -> threading.Thread:
    """Warm up in a daemon thread at start, so the first report need not wait for the face."""

    def run() -> None:
        try:
            warm_up(data_dir)
        except Exception:  # the first report makes the face then, or says why it cannot
            log.warning("could not prepare the credit report's font", exc_info=True)

    thread = threading.Thread(target=run, name="report-font", daemon=True)
    thread.start()
    return thread

"""The credit committee pack as a PDF: A4, the reports' font and table style (pdf.Writer), a
section per page group; the running header names the pack and the month."""

from __future__ import annotations

from pathlib import Path

from fpdf import FPDF

from riskdesk.reports import pdf
from riskdesk.reports.committee_schemas import CommitteePack
from riskdesk.reports.formatting import NONE, View, concentration_name, number

FAMILY = pdf.FAMILY


class _Document(FPDF):
    def __init__(self, view: View, pack: CommitteePack) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.view, self.pack = view, pack
        self.set_margins(14, 18, 14)
        self.set_auto_page_break(auto=True, margin=18)

    def header(self) -> None:
        if self.page_no() == 1:
            return
        self.set_font(FAMILY, size=8)
        self.set_text_color(*pdf.MUTED)
        self.cell(0, 5, f"{self.view.t('pack.title')} · {self.pack.month}", align="L")
        self.ln(8)
        self.set_text_color(*pdf.INK)

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(FAMILY, size=7.5)
        self.set_text_color(*pdf.MUTED)
        made = self.view.stamp(self.pack.generated_at)
        self.cell(0, 5, self.view.t("pack.footer", when=made), align="L")
        self.set_x(self.l_margin)
        page = self.view.t("report.page", page=self.page_no(), pages="{nb}")
        self.cell(0, 5, page, align="R")
        self.set_text_color(*pdf.INK)


# The filters that narrow the customers (the period only narrows the alerts).
SCOPE_KEYS = ("region", "segment", "owner_id", "tier", "industry")


def _count(value: int) -> str:
    return number(value, 0)


def _tier(v: View, tier: str | None) -> str:
    return v.enum("tier", tier or "unrated")


def _rating(v: View, rating: str) -> str:
    return v.t("migration.not_rated") if rating == "not_rated" else rating


def _summary(w: pdf.Writer, p: CommitteePack) -> None:
    v, t, s = w.view, w.t, p.summary
    cur = s.currency
    w.section("pack.section.summary", first=True)
    w.pairs(
        [
            (t("portfolio.customers"), _count(s.totals.customers)),
            (t("portfolio.exposure"), v.money(s.totals.exposure, cur)),
            (t("customers.limit"), v.money(s.totals.credit_limit, cur)),
            (t("pack.available"), v.money(s.totals.available, cur)),
            (t("portfolio.utilisation"), v.percent(s.totals.utilisation)),
            (t("pack.open_receivables"), v.money(s.overdue.open_receivables, cur)),
            (t("portfolio.overdue"), v.money(s.overdue.overdue, cur)),
            (t("pack.overdue_share"), v.percent(s.overdue.share)),
            (t("pack.overdue_customers"), _count(s.overdue.customers)),
            (
                t("portfolio.held_orders"),
                f"{_count(s.held_orders.count)} · {v.money(s.held_orders.amount, cur)}",
            ),
            (
                t("portfolio.limit_requests"),
                f"{_count(s.limit_requests.count)} · {v.money(s.limit_requests.amount, cur)}",
            ),
            (
                t("pack.reviews_due"),
                t(
                    "pack.reviews_value",
                    due=_count(s.reviews.due),
                    overdue=_count(s.reviews.overdue),
                ),
            ),
        ]
    )
    w.note(t("pack.exposure_note", day=v.day(p.generated_at)))
    w.heading(t("portfolio.ageing"))
    total = s.overdue.open_receivables
    w.table(
        [t("report.bucket"), t("portfolio.customers"), t("common.amount"), t("report.share")],
        [
            [
                t(f"portfolio.bucket.{a.bucket}"),
                _count(a.customers),
                v.money(a.amount, None),
                v.percent(float(a.amount / total) if total else None),
            ]
            for a in s.ageing
        ],
        (30, 20, 30, 20),
        numeric=(1, 2, 3),
    )
    w.heading(t("portfolio.tiers"))
    w.table(
        [
            t("customers.tier"),
            t("portfolio.customers"),
            t("portfolio.exposure"),
            t("customers.limit"),
        ],
        [
            [
                _tier(v, x.tier),
                _count(x.customers),
                v.money(x.exposure, None),
                v.money(x.credit_limit, None),
            ]
            for x in s.tiers
        ],
        (25, 20, 30, 30),
        numeric=(1, 2, 3),
    )
    w.heading(t("portfolio.concentration"))
    rows = []
    for c in s.concentration:
        largest = "; ".join(
            f"{concentration_name(t, c.dimension, i.key, i.name, i.customer_id)} "
            f"{v.percent(i.share)}"
            for i in c.items[:3]
        )
        rows.append(
            [
                t(f"portfolio.by.{c.dimension}"),
                number(c.hhi, 1) if c.hhi is not None else NONE,
                largest or NONE,
            ]
        )
    w.table([t("pack.dimension"), "HHI", t("pack.largest")], rows, (18, 14, 68), numeric=(1,))
    w.note(t("portfolio.hhi_hint"))


def _migration(w: pdf.Writer, p: CommitteePack) -> None:
    v, t, m = w.view, w.t, p.migration
    w.section("migration.title")
    w.note(t("migration.period", quarter=m.quarter, start=v.day(m.start), end=v.day(m.end)))
    w.pairs(
        [
            (t("migration.upgraded"), f"{v.percent(m.upgraded_share)} ({_count(m.upgraded)})"),
            (t("migration.unchanged"), f"{v.percent(m.unchanged_share)} ({_count(m.unchanged)})"),
            (
                t("migration.downgraded"),
                f"{v.percent(m.downgraded_share)} ({_count(m.downgraded)})",
            ),
            (t("migration.newly_rated"), _count(m.newly_rated)),
        ]
    )
    size = len(m.ratings)
    w.table(
        [t("migration.from_to"), *[_rating(v, r) for r in m.ratings], t("migration.total")],
        [
            [
                _rating(v, row.rating),
                *[_count(n) if n else "·" for n in row.counts],
                _count(row.total),
            ]
            for row in m.rows
        ],
        (2.2, *([1] * size), 1.2),
        numeric=tuple(range(1, size + 2)),
    )
    w.note(t("pack.migration_note"))


def _risks(w: pdf.Writer, p: CommitteePack) -> None:
    v, t = w.view, w.t
    w.section("pack.section.risks")
    w.heading(t("portfolio.top_exposures", n=len(p.summary.top_exposures)))
    w.table(
        [
            "#",
            t("customers.code"),
            t("customers.name"),
            t("customers.tier"),
            t("portfolio.exposure"),
            t("customers.limit"),
            t("portfolio.utilisation"),
        ],
        [
            [
                str(i),
                x.code,
                x.name or t("portfolio.individual"),
                _tier(v, x.tier),
                v.money(x.exposure, None),
                v.money(x.credit_limit, None),
                v.percent(x.utilisation),
            ]
            for i, x in enumerate(p.summary.top_exposures, 1)
        ],
        (5, 14, 32, 10, 17, 17, 11),
        numeric=(0, 4, 5, 6),
        empty=t("portfolio.no_exposure"),
    )
    w.heading(t("pack.worst", n=len(p.worst)))
    w.table(
        [
            t("customers.code"),
            t("customers.name"),
            t("customers.tier"),
            t("portfolio.overdue"),
            t("pack.days_past_due"),
        ],
        [
            [
                x.code,
                x.name or t("portfolio.individual"),
                _tier(v, x.tier),
                v.money(x.overdue, None),
                _count(x.days_past_due),
            ]
            for x in p.worst
        ],
        (15, 40, 12, 20, 13),
        numeric=(3, 4),
        empty=t("pack.no_overdue"),
    )


# The early-warning table's columns: every warning type and heading on one line in either
# language ("Payment deterioration" and "SLA breached" wrapped with ten in each count column).
WARNING_WIDTHS = (21, 22, 7, 8, 10, 11, 9, 12)


def _warnings(w: pdf.Writer, p: CommitteePack) -> None:
    v, t, total = w.view, w.t, p.warnings_total
    w.section("pack.section.warnings")
    w.note(t("pack.warnings_period", start=v.day(p.start), end=v.day(p.end)))
    w.pairs(
        [
            (t("portfolio.alerts.raised"), _count(total.raised)),
            (t("portfolio.alerts.worked"), _count(total.worked)),
            (t("portfolio.alerts.confirmed"), _count(total.confirmed)),
            (t("portfolio.alerts.false_alarm"), _count(total.false_alarm)),
            (t("pack.precision"), v.percent(total.precision)),
            (t("portfolio.alerts.sla_breached"), _count(total.sla_breached)),
        ]
    )
    w.table(
        [
            t("pack.warning_type"),
            t("pack.rule"),
            t("portfolio.alerts.raised"),
            t("portfolio.alerts.worked"),
            t("portfolio.alerts.confirmed"),
            t("portfolio.alerts.false_alarm"),
            t("pack.precision"),
            t("portfolio.alerts.sla_breached"),
        ],
        [
            [
                v.enum("warning_type", e.warning_type),
                v.text_of(e.rule_name_en or e.rule_code, e.rule_name_zh or e.rule_code),
                _count(e.raised),
                _count(e.worked),
                _count(e.confirmed),
                _count(e.false_alarm),
                v.percent(e.precision),
                _count(e.sla_breached),
            ]
            for e in p.warnings
        ],
        WARNING_WIDTHS,
        numeric=(2, 3, 4, 5, 6, 7),
        empty=t("portfolio.no_alerts"),
    )
    w.note(t("pack.precision_hint"))


def _ecl(w: pdf.Writer, p: CommitteePack) -> None:
    v, t, e = w.view, w.t, p.ecl
    w.section("pack.section.ecl")
    if not p.ecl_shown:
        w.note(t("pack.ecl_not_permitted"))
        return
    if e is None:
        w.note(t("ecl.no_runs"))
        return
    filters = p.summary.filters
    if any(getattr(filters, k) not in (None, "") for k in SCOPE_KEYS):
        # A run is the whole book's; its matrix and movement are not split by the filters.
        w.note(t("pack.ecl_whole_book"))
    change = e.total_ecl - e.previous_total_ecl if e.previous_total_ecl is not None else None
    w.pairs(
        [
            (t("ecl.as_of"), v.day(e.as_of)),
            (t("ecl.balance"), v.money(e.total_balance, "CNY")),
            (t("ecl.ecl"), v.money(e.total_ecl, "CNY")),
            (t("ecl.coverage"), v.percent(e.coverage)),
            (t("pack.previous_ecl"), v.money(e.previous_total_ecl, "CNY")),
            (t("pack.ecl_change"), v.money(change, "CNY")),
        ]
    )
    w.heading(t("ecl.matrix"))
    w.table(
        [t("ecl.bucket"), t("ecl.balance"), t("ecl.adjusted_rate"), t("ecl.ecl")],
        [
            [
                t(f"ecl.bucket.{b.bucket}"),
                v.money(b.balance, None),
                v.percent(b.adjusted_rate),
                v.money(b.ecl, None),
            ]
            for b in e.buckets
        ],
        (25, 25, 20, 25),
        numeric=(1, 2, 3),
    )
    w.heading(t("pack.ecl_movement"))
    w.table(
        [t("ecl.bucket"), t("pack.balance_change"), t("pack.rate_change"), t("pack.ecl_change")],
        [
            [
                t(f"ecl.bucket.{m.bucket}"),
                v.money(m.balance_change, None),
                v.percent(m.adjusted_rate_change),
                v.money(m.ecl_change, None),
            ]
            for m in e.movement
        ],
        (25, 25, 20, 25),
        numeric=(1, 2, 3),
        empty=t("pack.no_previous_run"),
    )
    w.heading(t("ecl.segments"))
    w.table(
        [t("ecl.segment"), t("ecl.balance"), t("ecl.ecl"), t("ecl.coverage")],
        [
            [
                segment_name(v, s.segment),
                v.money(s.balance, None),
                v.money(s.ecl, None),
                v.percent(s.coverage),
            ]
            for s in e.segments
        ],
        (30, 25, 25, 15),
        numeric=(1, 2, 3),
    )


def segment_name(v: View, segment: str) -> str:
    """An ECL segment in words (the whole portfolio, no segment, or a customer segment)."""
    if segment in ("portfolio", "none"):
        return v.t(f"ecl.segment.{segment}")
    return v.enum("segment", segment)


def render(pack: CommitteePack, view: View, data_dir: Path) -> bytes:
    """The pack as PDF bytes, in the view's language."""
    document = _Document(view, pack)
    document.set_title(f"{view.t('pack.title')} {pack.month}")
    document.set_creator("Riskdesk")
    document.set_lang("zh-CN" if view.locale == "zh-CN" else "en")
    pdf.embed_fonts(document, data_dir, pdf.beyond_working_face(pack.model_dump_json()))
    document.add_page()
    document.set_font(FAMILY, size=18)
    document.cell(0, 10, view.t("pack.title"), new_x="LMARGIN", new_y="NEXT")
    document.set_font(FAMILY, size=12)
    period = view.t(
        "pack.period", month=pack.month, start=view.day(pack.start), end=view.day(pack.end)
    )
    document.cell(0, 7, period, new_x="LMARGIN", new_y="NEXT")
    document.set_font(FAMILY, size=8)
    document.set_text_color(*pdf.MUTED)
    made = view.t("report.generated", when=view.stamp(pack.generated_at), who=pack.generated_by)
    document.cell(0, 5, made, new_x="LMARGIN", new_y="NEXT")
    document.cell(0, 5, view.t("pack.confidential"), new_x="LMARGIN", new_y="NEXT")
    document.set_text_color(*pdf.INK)
    document.ln(3)
    writer = pdf.Writer(document, view)
    _summary(writer, pack)
    _migration(writer, pack)
    _risks(writer, pack)
    _warnings(writer, pack)
    _ecl(writer, pack)
    return bytes(document.output())

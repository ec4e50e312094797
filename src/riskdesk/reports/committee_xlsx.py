"""The credit committee pack as an .xlsx workbook: a sheet per section, typed cells (money with
a number format, counts as integers, shares as percentages), through the streaming writer of
kit.exports."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from riskdesk.kit.exports import Column, Sheet, write_workbook
from riskdesk.reports.committee_schemas import CommitteePack, WarningEffect
from riskdesk.reports.formatting import Translate, concentration_name, translator

FIGURES = (
    Column("figure", "pack.figure", width=36),
    Column("customers", "portfolio.customers", "integer"),
    Column("amount", "common.amount", "money"),
    Column("share", "report.share", "percent"),
)


def _summary(p: CommitteePack, t: Translate) -> Iterator[dict[str, Any]]:
    s, m, w = p.summary, p.migration, p.warnings_total
    yield {"figure": f"{t('pack.period_label')}: {p.month} ({p.start} – {p.end})"}
    yield {
        "figure": t("portfolio.exposure"),
        "customers": s.totals.customers,
        "amount": s.totals.exposure,
        "share": s.totals.utilisation,
    }
    yield {"figure": t("customers.limit"), "amount": s.totals.credit_limit}
    yield {"figure": t("pack.available"), "amount": s.totals.available}
    yield {"figure": t("pack.open_receivables"), "amount": s.overdue.open_receivables}
    yield {
        "figure": t("portfolio.overdue"),
        "customers": s.overdue.customers,
        "amount": s.overdue.overdue,
        "share": s.overdue.share,
    }
    total = s.overdue.open_receivables
    for a in s.ageing:
        yield {
            "figure": f"{t('portfolio.ageing')}: {t('portfolio.bucket.' + a.bucket)}",
            "customers": a.customers,
            "amount": a.amount,
            "share": float(a.amount / total) if total else None,
        }
    exposure = s.totals.exposure
    for x in s.tiers:
        yield {
            "figure": f"{t('customers.tier')}: {t('tier.' + x.tier)}",
            "customers": x.customers,
            "amount": x.exposure,
            "share": float(x.exposure / exposure) if exposure else None,
        }
    yield {
        "figure": t("portfolio.held_orders"),
        "customers": s.held_orders.count,
        "amount": s.held_orders.amount,
    }
    yield {
        "figure": t("portfolio.limit_requests"),
        "customers": s.limit_requests.count,
        "amount": s.limit_requests.amount,
    }
    yield {"figure": t("pack.reviews_due"), "customers": s.reviews.due}
    yield {"figure": t("migration.upgraded"), "customers": m.upgraded, "share": m.upgraded_share}
    yield {"figure": t("migration.unchanged"), "customers": m.unchanged, "share": m.unchanged_share}
    yield {
        "figure": t("migration.downgraded"),
        "customers": m.downgraded,
        "share": m.downgraded_share,
    }
    yield {"figure": t("portfolio.alerts.raised"), "customers": w.raised}
    yield {
        "figure": t("portfolio.alerts.confirmed"),
        "customers": w.confirmed,
        "share": w.precision,
    }
    yield {"figure": t("portfolio.alerts.false_alarm"), "customers": w.false_alarm}
    yield {"figure": t("portfolio.alerts.sla_breached"), "customers": w.sla_breached}
    if p.ecl is not None:
        yield {"figure": t("ecl.ecl"), "amount": p.ecl.total_ecl, "share": p.ecl.coverage}


def _migration(p: CommitteePack) -> Sheet:
    m = p.migration
    keys = [f"r{i}" for i in range(len(m.ratings))]
    columns = (
        Column("rating", "migration.from_to", width=14),
        *[
            Column(k, "migration.not_rated" if r == "not_rated" else r, "integer")
            for k, r in zip(keys, m.ratings, strict=True)
        ],
        Column("total", "migration.total", "integer"),
    )
    rows = [
        {"rating": row.rating, "total": row.total} | dict(zip(keys, row.counts, strict=True))
        for row in m.rows
    ]
    return Sheet("migration.title", columns, rows)


def _unrated(tier: str | None) -> str:
    return tier or "unrated"


def _warning_row(e: WarningEffect, locale: str) -> dict[str, Any]:
    # The rule by its name in the workbook's language (the code beside it, for machines).
    name = e.rule_name_zh if locale == "zh-CN" else e.rule_name_en
    return e.model_dump() | {"rule": name or e.rule_code}


def sheets(p: CommitteePack, t: Translate, locale: str) -> list[Sheet]:
    """The pack's sections as sheets; titles are translation keys, turned into words by
    ``titled``."""
    s = p.summary
    found = [
        Sheet("pack.section.summary", FIGURES, _summary(p, t)),
        Sheet(
            "portfolio.concentration",
            (
                Column("dimension", "pack.dimension", "enum", enum="portfolio.by."),
                Column("key", "pack.largest", width=24),
                Column("exposure", "portfolio.exposure", "money"),
                Column("share", "report.share", "percent"),
                Column("hhi", "HHI", "decimal"),
            ),
            [
                {
                    "dimension": c.dimension,
                    "key": concentration_name(t, c.dimension, i.key, i.name, i.customer_id),
                    "exposure": i.exposure,
                    "share": i.share,
                    "hhi": c.hhi,
                }
                for c in s.concentration
                for i in c.items
            ],
        ),
        _migration(p),
        Sheet(
            "pack.sheet.top",
            (
                Column("rank", "pack.rank", "integer", width=6),
                Column("code", "customers.code", width=12),
                Column("name", "customers.name", width=30),
                Column("tier", "customers.tier", "enum", enum="tier."),
                Column("exposure", "portfolio.exposure", "money"),
                Column("limit", "customers.limit", "money"),
                Column("utilisation", "portfolio.utilisation", "percent"),
            ),
            [
                {
                    "rank": i,
                    "code": x.code,
                    "name": x.name or t("portfolio.individual"),
                    "tier": _unrated(x.tier),
                    "exposure": x.exposure,
                    "limit": x.credit_limit,
                    "utilisation": x.utilisation,
                }
                for i, x in enumerate(s.top_exposures, 1)
            ],
        ),
        Sheet(
            "pack.sheet.worst",
            (
                Column("code", "customers.code", width=12),
                Column("name", "customers.name", width=30),
                Column("tier", "customers.tier", "enum", enum="tier."),
                Column("overdue", "portfolio.overdue", "money"),
                Column("days", "pack.days_past_due", "integer"),
            ),
            [
                {
                    "code": x.code,
                    "name": x.name or t("portfolio.individual"),
                    "tier": _unrated(x.tier),
                    "overdue": x.overdue,
                    "days": x.days_past_due,
                }
                for x in p.worst
            ],
        ),
        Sheet(
            "pack.section.warnings",
            (
                Column("warning_type", "pack.warning_type", "enum", enum="warning_type."),
                Column("rule_code", "pack.rule_code", width=22),
                Column("rule", "pack.rule", width=30),
                Column("raised", "portfolio.alerts.raised", "integer"),
                Column("worked", "portfolio.alerts.worked", "integer"),
                Column("confirmed", "portfolio.alerts.confirmed", "integer"),
                Column("false_alarm", "portfolio.alerts.false_alarm", "integer"),
                Column("precision", "pack.precision", "percent"),
                Column("sla_breached", "portfolio.alerts.sla_breached", "integer"),
            ),
            [_warning_row(e, locale) for e in p.warnings],
        ),
    ]
    if p.ecl is not None:
        movement = {m.bucket: m for m in p.ecl.movement}
        found.append(
            Sheet(
                "pack.section.ecl",
                (
                    Column("bucket", "ecl.bucket", "enum", enum="ecl.bucket."),
                    Column("balance", "ecl.balance", "money"),
                    Column("rate", "ecl.adjusted_rate", "percent"),
                    Column("ecl", "ecl.ecl", "money"),
                    Column("balance_change", "pack.balance_change", "money"),
                    Column("ecl_change", "pack.ecl_change", "money"),
                ),
                [
                    {
                        "bucket": b.bucket,
                        "balance": b.balance,
                        "rate": b.adjusted_rate,
                        "ecl": b.ecl,
                        "balance_change": movement[b.bucket].balance_change
                        if b.bucket in movement
                        else None,
                        "ecl_change": movement[b.bucket].ecl_change
                        if b.bucket in movement
                        else None,
                    }
                    for b in p.ecl.buckets
                ]
                + [
                    {
                        "bucket": "total",
                        "balance": p.ecl.total_balance,
                        "rate": p.ecl.coverage,
                        "ecl": p.ecl.total_ecl,
                        "ecl_change": (p.ecl.total_ecl - p.ecl.previous_total_ecl)
                        if p.ecl.previous_total_ecl is not None
                        else None,
                    }
                ],
            )
        )
    return found


def write(target: Any, pack: CommitteePack, locale: str) -> int:
    """Write the pack as a workbook into ``target`` (a binary file), in ``locale``; the rows
    written."""
    t = translator(locale)
    return write_workbook(
        target, [Sheet(t(s.title), s.columns, s.rows) for s in sheets(pack, t, locale)], t
    )

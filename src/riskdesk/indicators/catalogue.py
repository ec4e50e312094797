"""The indicator catalogue: name, description in both languages, unit and window.

The formulas live in ``compute.py``; this file is what the UI, the API and rule authors read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import get_args

from riskdesk.events.schemas import ReturnReason

WINDOWS = (7, 30, 90, 365)
# The reason codes a return may carry, as intake validates them (one list, not two).
RETURN_REASONS: tuple[str, ...] = get_args(ReturnReason)
# Reasons that claim a refund without goods coming back.
UNRECEIVED_CLAIM_REASONS = ("item_not_received", "empty_package")
# Return reasons the seller cannot check: the customer's word is all there is. (Defects, transit
# damage, wrong items and late deliveries are the seller's side and can be verified.)
SOFT_RETURN_REASONS = ("changed_mind", "no_reason", "item_not_received", "empty_package", "other")
RETURN_REASON_LABELS: dict[str, tuple[str, str]] = {
    "defective": ("defective", "质量问题"),
    "not_as_described": ("not as described", "与描述不符"),
    "changed_mind": ("changed mind", "不想要了"),
    "damaged_in_transit": ("damaged in transit", "运输损坏"),
    "wrong_item": ("wrong item", "发错货"),
    "late_delivery": ("late delivery", "延迟送达"),
    "item_not_received": ("item not received", "未收到货"),
    "empty_package": ("empty package", "空包裹"),
    "no_reason": ("no reason given", "无理由"),
    "other": ("other", "其他"),
}
AGEING_BUCKETS = ("current", "1_30", "31_60", "61_90", "91_120", "over_120")


@dataclass(frozen=True)
class Indicator:
    """One behaviour measure."""

    name: str
    group: str
    unit: str
    window_days: int | None
    en: str
    zh: str
    population: bool = False  # needs the other customers (peer percentile, RFM scores)


def _catalogue() -> tuple[Indicator, ...]:
    items: list[Indicator] = []

    def add(
        name: str,
        group: str,
        unit: str,
        window: int | None,
        en: str,
        zh: str,
        population: bool = False,
    ) -> None:
        items.append(Indicator(name, group, unit, window, en, zh, population))

    for w in WINDOWS:
        add(
            f"orders_count_{w}d",
            "purchases",
            "count",
            w,
            f"Orders in the last {w} days",
            f"近{w}天订单数",
        )
        add(
            f"orders_amount_{w}d",
            "purchases",
            "CNY",
            w,
            f"Order amount in the last {w} days",
            f"近{w}天订单金额",
        )
    add(
        "avg_order_value_365d",
        "purchases",
        "CNY",
        365,
        "Average order value over a year",
        "近一年平均订单金额",
    )
    add(
        "purchase_activity_ratio_30d",
        "purchases",
        "ratio",
        30,
        "Last 30 days' order amount against the median of the 12 30-day periods before",
        "近30天订单金额 / 此前12个30天周期的中位数",
    )
    add(
        "orders_amount_peer_percentile_90d",
        "purchases",
        "percent",
        90,
        "Percentile of the 90-day order amount within the customer's segment",
        "近90天订单金额在同分群客户中的百分位",
        population=True,
    )
    add(
        "category_shift_90d",
        "purchases",
        "share",
        90,
        "Change of the product-category mix: last 90 days against the year before (0 = same, "
        "1 = entirely different)",
        "近90天品类结构相对此前一年的变化（0 相同，1 完全不同）",
    )
    add(
        "last_order_size_ratio",
        "purchases",
        "ratio",
        365,
        "The last order's amount against the median order of the year before it",
        "最近一笔订单金额 / 此前一年订单金额中位数",
    )
    add(
        "dpd_max",
        "payments",
        "days",
        None,
        "Days past due: the most overdue open invoice",
        "当前最大逾期天数",
    )
    add(
        "dpd_weighted",
        "payments",
        "days",
        None,
        "Days past due, weighted by open amount over all open invoices",
        "按未结金额加权的逾期天数",
    )
    for w in (90, 365):
        add(
            f"dbt_weighted_{w}d",
            "payments",
            "days",
            w,
            f"Days beyond terms of invoices paid in the last {w} days, weighted by amount",
            f"近{w}天结清发票的金额加权超期天数",
        )
    add(
        "late_invoice_share_365d",
        "payments",
        "share",
        365,
        "Share of invoices due in the last year that were paid late or are overdue",
        "近一年到期发票中逾期支付或仍逾期的比例",
    )
    add(
        "dso_90d",
        "payments",
        "days",
        90,
        "Days sales outstanding (open receivables / 90-day invoicing × 90)",
        "应收账款周转天数（DSO）",
    )
    add(
        "best_possible_dso_90d",
        "payments",
        "days",
        90,
        "Best possible DSO: only receivables not yet due",
        "最佳可能DSO（仅未到期应收）",
    )
    add(
        "avg_days_delinquent",
        "payments",
        "days",
        90,
        "Average days delinquent (DSO − best possible DSO)",
        "平均拖欠天数（DSO − 最佳DSO）",
    )
    add(
        "paydex",
        "payments",
        "score",
        365,
        "Payment index 0-100 (80 = pays on time, 100 = 30 days early, 20 = 120+ days late), "
        "weighted by amount",
        "付款指数 0-100（80=按时，100=提前30天，20=逾期120天以上）",
    )
    add(
        "cod_share_90d",
        "payments",
        "share",
        90,
        "Share of orders paid cash on delivery",
        "近90天货到付款订单占比",
    )
    add(
        "avg_days_order_to_payment_365d",
        "payments",
        "days",
        365,
        "Average days from order to full payment, for invoices settled in the last year",
        "近一年结清发票从下单到付清的平均天数",
    )
    for bucket in AGEING_BUCKETS:
        label = {"current": "not yet due", "over_120": "over 120 days past due"}.get(
            bucket, f"{bucket.replace('_', '-')} days past due"
        )
        zh = {"current": "未到期", "over_120": "逾期120天以上"}.get(
            bucket, f"逾期{bucket.replace('_', '-')}天"
        )
        add(
            f"ar_{bucket}",
            "receivables",
            "CNY",
            None,
            f"Open receivables {label}",
            f"应收账款：{zh}",
        )
    add("ar_open_total", "receivables", "CNY", None, "Open receivables in all", "应收账款合计")
    add(
        "oldest_overdue_age_days",
        "receivables",
        "days",
        None,
        "Age (since invoice date) of the oldest overdue invoice",
        "最早逾期发票的账龄（自开票日）",
    )
    add(
        "overdue_ratio",
        "receivables",
        "share",
        None,
        "Overdue share of open receivables",
        "逾期应收占比",
    )
    for w in WINDOWS:
        add(
            f"returns_count_{w}d",
            "returns",
            "count",
            w,
            f"Returns in the last {w} days",
            f"近{w}天退货次数",
        )
        add(
            f"returns_amount_{w}d",
            "returns",
            "CNY",
            w,
            f"Returned amount in the last {w} days",
            f"近{w}天退货金额",
        )
        add(
            f"return_rate_{w}d",
            "returns",
            "share",
            w,
            f"Returned amount over ordered amount in the last {w} days",
            f"近{w}天退货率（金额）",
        )
    for reason in RETURN_REASONS:
        en, zh = RETURN_REASON_LABELS[reason]
        add(
            f"return_reason_share_{reason}_365d",
            "returns",
            "share",
            365,
            f"Share of the year's returns with reason '{en}'",
            f"近一年退货原因“{zh}”占比",
        )
    add(
        "returns_unreceived_claims_count_90d",
        "returns",
        "count",
        90,
        "Returns in the last 90 days claiming the goods never arrived or the parcel was empty "
        "(reasons 'item not received', 'empty package')",
        "近90天以“未收到货”或“空包裹”为由的退货次数",
    )
    add(
        "returns_unreceived_claims_amount_90d",
        "returns",
        "CNY",
        90,
        "Amount of the returns in the last 90 days claiming the goods never arrived or the "
        "parcel was empty",
        "近90天以“未收到货”或“空包裹”为由的退货金额",
    )
    for w in (90, 365):
        add(
            f"complaints_count_{w}d",
            "complaints",
            "count",
            w,
            f"Complaints in the last {w} days",
            f"近{w}天投诉数",
        )
    add(
        "complaints_weighted_90d",
        "complaints",
        "points",
        90,
        "Complaints in 90 days weighted by severity (low 1, medium 2, high 3, critical 5)",
        "近90天按严重程度加权的投诉数",
    )
    add(
        "complaints_open",
        "complaints",
        "count",
        None,
        "Complaints not yet resolved",
        "未解决投诉数",
    )
    add(
        "complaint_resolution_days_365d",
        "complaints",
        "days",
        365,
        "Average days to resolve complaints resolved in the last year",
        "近一年投诉平均解决天数",
    )
    add("csat_latest", "satisfaction", "score 1-5", None, "Latest CSAT score", "最近一次CSAT评分")
    add("nps_latest", "satisfaction", "score 0-10", None, "Latest NPS score", "最近一次NPS评分")
    add(
        "satisfaction_trend",
        "satisfaction",
        "points/30d",
        None,
        "Slope of the last 5 satisfaction answers (0-100 scale) per 30 days",
        "最近5次满意度（0-100）的趋势斜率（每30天）",
    )
    add(
        "days_since_last_order",
        "lifecycle",
        "days",
        None,
        "Days since the last order",
        "距最近一次下单天数",
    )
    add(
        "days_since_last_interaction",
        "lifecycle",
        "days",
        None,
        "Days since the last interaction",
        "距最近一次互动天数",
    )
    add(
        "interactions_count_90d",
        "lifecycle",
        "count",
        90,
        "Interactions in the last 90 days",
        "近90天互动次数",
    )
    add(
        "order_frequency_trend",
        "lifecycle",
        "ratio",
        90,
        "Order rate of the last 90 days against the customer's own rate in the year before "
        "(1 = steady, below 1 = slowing); needs 180 days since the first order",
        "近90天下单频率 / 此前一年自身频率（首单满180天后才计算）",
    )
    add(
        "interaction_trend",
        "lifecycle",
        "ratio",
        90,
        "Interaction rate of the last 90 days against the customer's own rate in the year "
        "before; needs 180 days since the first interaction",
        "近90天互动频率 / 此前一年自身频率（首次互动满180天后才计算）",
    )
    add(
        "tenure_days", "lifecycle", "days", None, "Days since the first order", "自首笔订单起的天数"
    )
    add(
        "expected_purchase_interval_days",
        "lifecycle",
        "days",
        365,
        "Average days between orders over the year",
        "近一年平均下单间隔天数",
    )
    add(
        "rfm_recency_score",
        "lifecycle",
        "score 1-5",
        None,
        "Recency quintile among all customers (5 = most recent)",
        "最近购买时间五分位（5=最近）",
        population=True,
    )
    add(
        "rfm_frequency_score",
        "lifecycle",
        "score 1-5",
        365,
        "Order-count quintile among all customers (5 = most frequent)",
        "购买频次五分位",
        population=True,
    )
    add(
        "rfm_monetary_score",
        "lifecycle",
        "score 1-5",
        365,
        "Order-amount quintile among all customers (5 = largest)",
        "购买金额五分位",
        population=True,
    )
    # Signals judged against what is normal for the customer and their peers. A "surprise" is
    # -log10 of the chance of seeing at least this much at the usual rate: 3 is one in a
    # thousand. Each needs the history named, and is missing without it.
    add(
        "order_rate_surprise_90d",
        "signals",
        "-log10 p",
        90,
        "How unlikely the last 90 days' order count is at the customer's own earlier rate "
        "(Poisson tail); needs 180 days since the first order",
        "按自身此前频率，近90天订单数出现的意外程度（泊松尾概率的负对数；首单满180天后计算）",
    )
    add(
        "order_rate_drop_surprise_90d",
        "signals",
        "-log10 p",
        90,
        "How unlikely so few orders in the last 90 days are at the customer's own earlier rate, "
        "or at last year's same 90 days where those were quieter (Poisson tail); needs 455 days "
        "since the first order (a year before the 90 days)",
        "按自身此前频率（或去年同期，如更低），近90天订单如此之少的意外程度（首单满455天后计算）",
    )
    add(
        "line_units_90d",
        "signals",
        "units",
        90,
        "Median quantity per order line over the last 90 days",
        "近90天订单行数量中位数",
    )
    add(
        "line_units_ratio_90d",
        "signals",
        "ratio",
        90,
        "Median quantity per order line of the last 90 days against the year before (3+ lines "
        "in each)",
        "近90天订单行数量中位数 / 此前一年（各至少3行）",
    )
    add(
        "line_units_peer_ratio_90d",
        "signals",
        "ratio",
        90,
        "Median quantity per order line of the last 90 days against the median of the "
        "customer's segment",
        "近90天订单行数量中位数 / 同分群客户的中位数",
        population=True,
    )
    add(
        "late_days_90d",
        "signals",
        "days",
        90,
        "Average days beyond terms of invoices due in the last 90 days (open ones: so far)",
        "近90天到期发票的平均超期天数（未结清的按至今计）",
    )
    add(
        "late_days_usual",
        "signals",
        "days",
        365,
        "Average days beyond terms of invoices due in the year before the last 90 days",
        "此前一年（近90天之前）到期发票的平均超期天数",
    )
    add(
        "late_days_usual_p90",
        "signals",
        "days",
        365,
        "90th percentile of days beyond terms in the year before the last 90 days",
        "此前一年超期天数的第90百分位",
    )
    add(
        "late_days_z_90d",
        "signals",
        "z",
        90,
        "How far the last 90 days' lateness is above the customer's usual, in standard errors "
        "(2+ invoices due recently, 4+ before)",
        "近90天超期天数高于自身常态的程度（标准误数；近期至少2张、此前至少4张发票）",
    )
    add(
        "cod_share_usual",
        "signals",
        "share",
        365,
        "Share of orders on cash on delivery in the year before the last 90 days",
        "此前一年货到付款订单占比",
    )
    add(
        "cod_shift_surprise_90d",
        "signals",
        "-log10 p",
        90,
        "How unlikely the last 90 days' cash-on-delivery orders are at the customer's usual "
        "share (binomial tail; 3+ orders now, 5+ before)",
        "按自身以往占比，近90天货到付款订单数的意外程度（二项尾概率的负对数）",
    )
    add(
        "last_order_size_z",
        "signals",
        "z",
        365,
        "The last order's log amount against the customer's orders in the year before it, in "
        "standard deviations (6+ orders before)",
        "最近一笔订单金额（对数）偏离此前一年自身订单的标准差倍数（此前至少6笔）",
    )
    add(
        "longest_order_gap_730d",
        "signals",
        "days",
        730,
        "The longest gap between two orders in the last two years (3+ order days)",
        "近两年内两次下单之间的最长间隔（至少3个下单日）",
    )
    add(
        "silence_surprise",
        "signals",
        "-log10 p",
        730,
        "How unlikely the silence since the last order is at the customer's own buying rate "
        "over the last two years (3+ order days)",
        "按自身近两年的下单频率，自最近一单以来无订单的意外程度",
    )
    add(
        "silence_last_year_orders",
        "signals",
        "count",
        730,
        "Orders a year before the current silence, over as long a span (0: quiet then too, as a "
        "seasonal buyer is); needs the record to reach back that far",
        "一年前同一时段（与当前无订单时长相同）的订单数（0 表示去年同期也无订单，如季节性客户）",
    )
    add(
        "returns_soft_count_90d",
        "signals",
        "count",
        90,
        "Returns in the last 90 days for reasons the seller cannot check: changed mind, no "
        "reason, item not received, empty package, other",
        "近90天无法核实原因的退货数（不想要、无理由、未收到货、空包裹、其他）",
    )
    add(
        "returns_soft_count_365d",
        "signals",
        "count",
        365,
        "Returns in the last 365 days for reasons the seller cannot check",
        "近365天无法核实原因的退货数",
    )
    add(
        "returns_soft_amount_share_365d",
        "signals",
        "share",
        365,
        "Amount returned for reasons the seller cannot check, against the amount ordered, over "
        "the last 365 days",
        "近365天无法核实原因的退货金额 / 订单金额",
    )
    add(
        "return_abuse_surprise_90d",
        "signals",
        "-log10 p",
        90,
        "How unlikely the last 90 days' unverifiable returns are at the segment's rate per "
        "order (binomial tail)",
        "按同分群客户每单退货率，近90天无法核实原因退货数的意外程度",
        population=True,
    )
    add(
        "return_abuse_surprise_365d",
        "signals",
        "-log10 p",
        365,
        "How unlikely the last 365 days' unverifiable returns are at the segment's rate per "
        "order (binomial tail)",
        "按同分群客户每单退货率，近365天无法核实原因退货数的意外程度",
        population=True,
    )
    add(
        "complaint_rate_surprise_90d",
        "signals",
        "-log10 p",
        90,
        "How unlikely the last 90 days' complaints are at the customer's own earlier rate "
        "(Poisson tail); needs 180 days since the first order",
        "按自身此前频率，近90天投诉数的意外程度（泊松尾概率的负对数）",
    )
    add(
        "satisfaction_drop",
        "signals",
        "points",
        730,
        "Average satisfaction (0-100) of answers 180-730 days old minus that of the last 180 "
        "days (2+ answers recently, 3+ before)",
        "此前（180-730天前）满意度均值减近180天均值（0-100分；近期至少2次、此前至少3次）",
    )
    add(
        "satisfaction_drop_z",
        "signals",
        "z",
        730,
        "How significant the satisfaction drop is, in standard errors",
        "满意度下降的显著程度（标准误数）",
    )
    return tuple(items)


CATALOGUE: tuple[Indicator, ...] = _catalogue()
BY_NAME: dict[str, Indicator] = {i.name: i for i in CATALOGUE}
NAMES: tuple[str, ...] = tuple(i.name for i in CATALOGUE)

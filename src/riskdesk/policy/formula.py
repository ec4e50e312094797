"""The recommended-limit formula, vectorised over any number of customers.

Recommended limit = expected monthly purchases x (the tier's terms in days / 30) x the tier's
multiplier. Expected monthly purchases are the last 365 days' orders divided by 12. For
companies the result is capped by a share of equity, a share of annual revenue and the bureau's
recommended limit, each where known. It is then kept between the tier's minimum and maximum and
rounded down to the tier's step. A customer without a risk tier gets no recommendation.
"""

from __future__ import annotations

import polars as pl

POLICY_COLUMNS = {
    "tier": pl.String,
    "limit_multiplier": pl.Float64,
    "payment_terms_days": pl.Int64,
    "prepayment_required": pl.Boolean,
    "review_months": pl.Int64,
    "equity_share": pl.Float64,
    "revenue_share": pl.Float64,
    "use_bureau_limit": pl.Boolean,
    "min_limit": pl.Float64,
    "max_limit": pl.Float64,
    "round_to": pl.Float64,
}
INPUT_COLUMNS = {
    "customer_id": pl.Int64,
    "kind": pl.String,
    "risk_tier": pl.String,
    "orders_amount_365d": pl.Float64,
    "equity": pl.Float64,
    "revenue": pl.Float64,
    "bureau_recommended_limit": pl.Float64,
}


def recommend(customers: pl.DataFrame, policies: pl.DataFrame) -> pl.DataFrame:
    """customer_id, the formula's parts, and recommended limit, terms, prepayment, review."""
    c = pl.col
    joined = customers.join(policies, left_on="risk_tier", right_on="tier", how="left")
    company = c("kind") == "company"
    monthly = c("orders_amount_365d").fill_null(0.0) / 12
    formula = monthly * c("payment_terms_days") / 30 * c("limit_multiplier")
    equity_cap = pl.when(company & (c("equity") > 0) & c("equity_share").is_not_null()).then(
        c("equity") * c("equity_share")
    )
    revenue_cap = pl.when(company & (c("revenue") > 0) & c("revenue_share").is_not_null()).then(
        c("revenue") * c("revenue_share")
    )
    bureau_cap = pl.when(c("use_bureau_limit") & (c("bureau_recommended_limit") >= 0)).then(
        c("bureau_recommended_limit")
    )
    capped = pl.min_horizontal(formula, equity_cap, revenue_cap, bureau_cap)
    bounded = pl.max_horizontal(c("min_limit"), pl.min_horizontal(capped, c("max_limit")))
    step = pl.when(c("round_to") > 0).then(c("round_to")).otherwise(0.01)
    return joined.select(
        "customer_id",
        "risk_tier",
        expected_monthly_purchases=monthly,
        formula_limit=formula,
        equity_cap=equity_cap,
        revenue_cap=revenue_cap,
        bureau_cap=bureau_cap,
        recommended_limit=pl.when(c("limit_multiplier").is_not_null()).then(
            (bounded / step).floor() * step
        ),
        payment_terms_days=c("payment_terms_days"),
        prepayment_required=c("prepayment_required"),
        review_months=c("review_months"),
        # The tier's own terms, so a reader can follow the result (a 0 is a small formula
        # rounded down to the step, or a minimum of 0).
        limit_multiplier=c("limit_multiplier"),
        min_limit=c("min_limit"),
        max_limit=c("max_limit"),
        round_to=c("round_to"),
    )

"""Company ratios from financial statements: Altman Z-scores, liquidity, leverage, profitability.

``company_ratios`` computes every ratio for any number of statements in one Polars frame;
``altman`` computes the Altman part for one statement in plain Python, to explain a score on
screen and to let the tests prove the vectorised formulas right. ``RATIO_FACTORS`` is what a
scorecard may offer as factors.

Altman models and where each set of numbers comes from
------------------------------------------------------
X1 = working capital / total assets, X2 = retained earnings / total assets,
X3 = EBIT / total assets, X5 = sales / total assets; X4 depends on the model.

``z`` — listed manufacturers. Altman, E. I. (1968), "Financial Ratios, Discriminant Analysis and
the Prediction of Corporate Bankruptcy", Journal of Finance 23(4), 589-609,
doi:10.1111/j.1540-6261.1968.tb00843.x. X4 = market value of equity / book value of total
debt (total liabilities). The paper prints Z = .012 X1 + .014 X2 + .033 X3 + .006 X4 + .999 X5
with X1-X4 in percent (10 for 10 %) and X5 in times. Altman (2000, below) restates the same
model with all five as plain ratios: Z = 1.2 X1 + 1.4 X2 + 3.3 X3 + 0.6 X4 + 1.0 X5 — the
first four weights times 100, and .999 rounded to 1.0, which moves a score by 0.001 × X5.
Zones: > 2.99 safe, 1.81-2.99 grey ("zone of ignorance"), < 1.81 distress.

``z_prime`` — private manufacturers. Altman, E. I. (2000), "Predicting Financial Distress of
Companies: Revisiting the Z-Score and ZETA® Models", NYU Stern working paper, July 2000
(the re-estimation first published in Altman, "Corporate Financial Distress", Wiley 1983).
X4 = book value of equity / total liabilities; all five weights re-estimated:
Z′ = 0.717 X1 + 0.847 X2 + 3.107 X3 + 0.420 X4 + 0.998 X5.
Zones: > 2.90 safe, 1.23-2.90 grey, < 1.23 distress.

``z_double_prime`` — non-manufacturers, listed or not, and emerging-market firms. Same paper
(2000): X5 dropped because asset turnover varies most by industry, X4 on book equity:
Z″ = 6.56 X1 + 3.26 X2 + 6.72 X3 + 1.05 X4. Zones: > 2.60 safe, 1.10-2.60 grey, < 1.10 distress.

Emerging-market score (``emerging_market_constant=True``): Altman, Hartzell & Peck (1995),
"Emerging Markets Corporate Bonds: A Scoring System", Salomon Brothers; reprinted in Levich
(ed.), "Emerging Market Capital Flows", Kluwer 1998, doi:10.1007/978-1-4615-6197-2_25; and
Altman (2005), "An emerging market credit scoring system for corporate bonds", Emerging
Markets Review 6(4), 311-323. EM score = Z″ + 3.25; the constant puts a D-rated (defaulted)
bond at 0 so scores read against US bond-rating equivalents (BBB ≈ 5.85, B ≈ 4.15). The zones
used here, > 5.85 safe, 4.35-5.85 grey, < 4.35 distress, are the Z″ cut-offs plus 3.25: they
are derived, not cut-offs Altman published for the EM score (4.35 is not in the rating table).

The primary texts were not at hand to check directly; every number above agrees across several
independent restatements that quote these publications.

Zones: a score exactly at a cut-off is grey. Ratios: a zero or missing denominator, or a result
that is not finite, gives null. Inputs are money (Decimal) and are read as floats.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import polars as pl

AltmanModel = Literal["z", "z_prime", "z_double_prime"]
Zone = Literal["safe", "grey", "distress"]

REQUIRED_COLUMNS = (
    "customer_id",
    "period_end",
    "revenue",
    "total_assets",
    "total_liabilities",
    "current_assets",
    "current_liabilities",
    "retained_earnings",
    "ebit",
    "equity",
    "net_income",
    "cash",
)
OPTIONAL_AMOUNTS = ("market_value_equity", "inventory", "interest_expense")
FLAGS = ("listed", "manufacturer")
PASSED_THROUGH = ("customer_id", "period_end", "period_type", "currency")


@dataclass(frozen=True)
class AltmanSpec:
    """One Altman model: weights of X1..X5 (None: not used), constant and zone cut-offs."""

    model: AltmanModel
    weights: tuple[float, float, float, float, float | None]
    constant: float
    safe_above: float
    distress_below: float


Z = AltmanSpec("z", (1.2, 1.4, 3.3, 0.6, 1.0), 0.0, 2.99, 1.81)
Z_PRIME = AltmanSpec("z_prime", (0.717, 0.847, 3.107, 0.420, 0.998), 0.0, 2.90, 1.23)
Z_DOUBLE_PRIME = AltmanSpec("z_double_prime", (6.56, 3.26, 6.72, 1.05, None), 0.0, 2.60, 1.10)
EMERGING_MARKET_CONSTANT = 3.25
EM_SCORE = AltmanSpec(
    "z_double_prime",
    Z_DOUBLE_PRIME.weights,
    EMERGING_MARKET_CONSTANT,
    Z_DOUBLE_PRIME.safe_above + EMERGING_MARKET_CONSTANT,
    Z_DOUBLE_PRIME.distress_below + EMERGING_MARKET_CONSTANT,
)
MODELS: dict[AltmanModel, AltmanSpec] = {s.model: s for s in (Z, Z_PRIME, Z_DOUBLE_PRIME)}


def altman_spec(model: AltmanModel, *, emerging_market_constant: bool = False) -> AltmanSpec:
    """The weights and cut-offs that apply to a model."""
    if model == "z_double_prime" and emerging_market_constant:
        return EM_SCORE
    return MODELS[model]


def choose_model(
    *, listed: bool, manufacturer: bool, has_market_value: bool
) -> tuple[AltmanModel, bool]:
    """The model for a company, and whether Z′ stands in for a listed one without market value."""
    if manufacturer and listed and has_market_value:
        return "z", False
    if manufacturer:
        return "z_prime", listed
    return "z_double_prime", False


def altman_zone(score: float | None, spec: AltmanSpec) -> Zone | None:
    """The zone of a score under a model's cut-offs; a score at a cut-off is grey."""
    if score is None:
        return None
    if score > spec.safe_above:
        return "safe"
    if score < spec.distress_below:
        return "distress"
    return "grey"


@dataclass(frozen=True)
class AltmanInputs:
    """One statement's figures for the Altman models, as floats (None when missing)."""

    total_assets: float | None = None
    total_liabilities: float | None = None
    current_assets: float | None = None
    current_liabilities: float | None = None
    retained_earnings: float | None = None
    ebit: float | None = None
    equity: float | None = None
    revenue: float | None = None
    market_value_equity: float | None = None
    listed: bool = False
    manufacturer: bool = False


@dataclass(frozen=True)
class AltmanResult:
    """The model used, its inputs X1..X5, the score and the zone of one statement."""

    model: AltmanModel
    fallback: bool  # listed manufacturer without market value of equity: Z′ used instead of Z
    x1: float | None
    x2: float | None
    x3: float | None
    x4: float | None
    x5: float | None
    score: float | None
    zone: Zone | None


def _clean(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else float(value)


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator is None or denominator == 0:
        return None
    quotient = numerator / denominator
    return quotient if math.isfinite(quotient) else None


def _difference(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def _score(xs: tuple[float | None, ...], spec: AltmanSpec) -> float | None:
    # Same operations in the same order as _score_expr, so both paths agree to the last bit.
    total: float | None = None
    for weight, x in zip(spec.weights, xs, strict=True):
        if weight is None:
            continue
        if x is None:
            return None
        total = weight * x if total is None else total + weight * x
    assert total is not None
    total = total + spec.constant
    return total if math.isfinite(total) else None


def altman(inputs: AltmanInputs, *, emerging_market_constant: bool = False) -> AltmanResult:
    """The Altman model, X1..X5, score and zone of one statement."""
    total_assets = _clean(inputs.total_assets)
    total_liabilities = _clean(inputs.total_liabilities)
    market_value = _clean(inputs.market_value_equity)
    model, fallback = choose_model(
        listed=inputs.listed,
        manufacturer=inputs.manufacturer,
        has_market_value=market_value is not None,
    )
    spec = altman_spec(model, emerging_market_constant=emerging_market_constant)
    working_capital = _difference(_clean(inputs.current_assets), _clean(inputs.current_liabilities))
    x1 = _ratio(working_capital, total_assets)
    x2 = _ratio(_clean(inputs.retained_earnings), total_assets)
    x3 = _ratio(_clean(inputs.ebit), total_assets)
    equity_value = market_value if model == "z" else _clean(inputs.equity)
    x4 = _ratio(equity_value, total_liabilities)
    x5 = _ratio(_clean(inputs.revenue), total_assets) if spec.weights[4] is not None else None
    score = _score((x1, x2, x3, x4, x5), spec)
    return AltmanResult(model, fallback, x1, x2, x3, x4, x5, score, altman_zone(score, spec))


def _ratio_expr(numerator: pl.Expr, denominator: pl.Expr) -> pl.Expr:
    quotient = pl.when(denominator != 0).then(numerator / denominator)
    return pl.when(quotient.is_finite()).then(quotient)


def _score_expr(xs: tuple[pl.Expr, ...], spec: AltmanSpec) -> pl.Expr:
    total: pl.Expr | None = None
    for weight, x in zip(spec.weights, xs, strict=True):
        if weight is None:
            continue
        term = pl.lit(weight, dtype=pl.Float64) * x
        total = term if total is None else total + term
    assert total is not None
    total = total + pl.lit(spec.constant, dtype=pl.Float64)
    return pl.when(total.is_finite()).then(total)


def _zone_expr(score: pl.Expr, spec: AltmanSpec) -> pl.Expr:
    return (
        pl.when(score > spec.safe_above)
        .then(pl.lit("safe"))
        .when(score < spec.distress_below)
        .then(pl.lit("distress"))
        .when(score.is_not_null())
        .then(pl.lit("grey"))
    )


def _prepared(statements: pl.DataFrame) -> pl.DataFrame:
    missing = [c for c in REQUIRED_COLUMNS if c not in statements.columns]
    if missing:
        raise ValueError(f"statements lack the columns {', '.join(missing)}")
    amounts = REQUIRED_COLUMNS[2:] + OPTIONAL_AMOUNTS
    return statements.with_columns(
        [
            pl.col(c).cast(pl.Float64).fill_nan(None)
            if c in statements.columns
            else pl.lit(None, dtype=pl.Float64).alias(c)
            for c in amounts
        ]
        + [
            pl.col(f).cast(pl.Boolean).fill_null(False)
            if f in statements.columns
            else pl.lit(False).alias(f)
            for f in FLAGS
        ]
    )


def company_ratios(
    statements: pl.DataFrame, *, emerging_market_constant: bool = False
) -> pl.DataFrame:
    """Altman model, inputs, score and zone, and the balance-sheet ratios of each statement.

    One row per statement in, one row out in the same order. ``market_value_equity``,
    ``inventory``, ``interest_expense``, ``listed`` and ``manufacturer`` are optional; a
    missing flag is False. With ``emerging_market_constant`` the Z″ rows carry the EM score
    and its zones.
    """
    frame = _prepared(statements)
    c = pl.col
    manufacturer, listed = c("manufacturer"), c("listed")
    has_market_value = c("market_value_equity").is_not_null()
    model = (
        pl.when(manufacturer & listed & has_market_value)
        .then(pl.lit("z"))
        .when(manufacturer)
        .then(pl.lit("z_prime"))
        .otherwise(pl.lit("z_double_prime"))
    )
    total_assets = c("total_assets")
    x1 = _ratio_expr(c("current_assets") - c("current_liabilities"), total_assets)
    x2 = _ratio_expr(c("retained_earnings"), total_assets)
    x3 = _ratio_expr(c("ebit"), total_assets)
    x4_market = _ratio_expr(c("market_value_equity"), c("total_liabilities"))
    x4_book = _ratio_expr(c("equity"), c("total_liabilities"))
    x5 = _ratio_expr(c("revenue"), total_assets)
    specs = {m: altman_spec(m, emerging_market_constant=emerging_market_constant) for m in MODELS}
    scores = {
        m: _score_expr((x1, x2, x3, x4_market if m == "z" else x4_book, x5), spec)
        for m, spec in specs.items()
    }

    def by_model(per_model: dict[AltmanModel, pl.Expr]) -> pl.Expr:
        m = c("altman_model")
        return (
            pl.when(m == "z")
            .then(per_model["z"])
            .when(m == "z_prime")
            .then(per_model["z_prime"])
            .otherwise(per_model["z_double_prime"])
        )

    keys = [k for k in PASSED_THROUGH if k in frame.columns]
    current_liabilities = c("current_liabilities")
    return (
        frame.with_columns(
            altman_model=model,
            altman_fallback=manufacturer & listed & ~has_market_value,
        )
        .with_columns(
            altman_x1=x1,
            altman_x2=x2,
            altman_x3=x3,
            altman_x4=pl.when(c("altman_model") == "z").then(x4_market).otherwise(x4_book),
            altman_x5=pl.when(c("altman_model") != "z_double_prime").then(x5),
            altman_score=by_model(scores),
        )
        .with_columns(
            altman_zone=by_model({m: _zone_expr(c("altman_score"), s) for m, s in specs.items()}),
            current_ratio=_ratio_expr(c("current_assets"), current_liabilities),
            quick_ratio=_ratio_expr(c("current_assets") - c("inventory"), current_liabilities),
            cash_ratio=_ratio_expr(c("cash"), current_liabilities),
            # Negative equity would give a negative ratio that reads as low leverage.
            debt_to_equity=pl.when(c("equity") > 0).then(
                _ratio_expr(c("total_liabilities"), c("equity"))
            ),
            debt_to_assets=_ratio_expr(c("total_liabilities"), total_assets),
            equity_ratio=_ratio_expr(c("equity"), total_assets),
            # Ledgers book interest with either sign; coverage is against the cost.
            interest_coverage=_ratio_expr(c("ebit"), c("interest_expense").abs()),
            return_on_assets=_ratio_expr(c("net_income"), total_assets),
            net_margin=_ratio_expr(c("net_income"), c("revenue")),
            asset_turnover=_ratio_expr(c("revenue"), total_assets),
        )
        .select(*keys, *OUTPUT_COLUMNS)
    )


@dataclass(frozen=True)
class RatioFactor:
    """One numeric output of ``company_ratios`` that a scorecard may use as a factor."""

    name: str
    group: str
    unit: str
    en: str
    zh: str
    direction: int  # +1 higher is safer, -1 higher is riskier, 0 unknown


def _catalogue() -> tuple[RatioFactor, ...]:
    items: list[RatioFactor] = []

    def add(name: str, group: str, unit: str, en: str, zh: str, direction: int) -> None:
        items.append(RatioFactor(name, group, unit, en, zh, direction))

    add(
        "altman_x1",
        "altman",
        "ratio",
        "Altman X1: working capital / total assets",
        "Altman X1：营运资本 / 总资产",
        1,
    )
    add(
        "altman_x2",
        "altman",
        "ratio",
        "Altman X2: retained earnings / total assets",
        "Altman X2：留存收益 / 总资产",
        1,
    )
    add(
        "altman_x3",
        "altman",
        "ratio",
        "Altman X3: EBIT / total assets",
        "Altman X3：息税前利润 / 总资产",
        1,
    )
    add(
        "altman_x4",
        "altman",
        "ratio",
        "Altman X4: equity / total liabilities (market value for Z, book value for Z′ and Z″)",
        "Altman X4：权益 / 总负债（Z 用股权市值，Z′、Z″ 用账面净资产）",
        1,
    )
    add(
        "altman_x5",
        "altman",
        "ratio",
        "Altman X5: sales / total assets (not part of Z″)",
        "Altman X5：销售收入 / 总资产（Z″ 不含此项）",
        1,
    )
    add(
        "altman_score",
        "altman",
        "score",
        "Altman score of the model used; compare scores only within one model",
        "Altman 分值（按所用的 Altman 模型计算，不同模型的分值不可直接比较）",
        1,
    )
    add(
        "current_ratio",
        "liquidity",
        "ratio",
        "Current ratio: current assets / current liabilities",
        "流动比率：流动资产 / 流动负债",
        1,
    )
    add(
        "quick_ratio",
        "liquidity",
        "ratio",
        "Quick ratio: (current assets − inventory) / current liabilities; needs inventory",
        "速动比率：（流动资产 − 存货）/ 流动负债（需存货数据）",
        1,
    )
    add(
        "cash_ratio",
        "liquidity",
        "ratio",
        "Cash ratio: cash / current liabilities",
        "现金比率：现金 / 流动负债",
        1,
    )
    add(
        "debt_to_equity",
        "leverage",
        "ratio",
        "Debt to equity: total liabilities / book equity (empty when equity is not positive)",
        "产权比率：总负债 / 所有者权益（权益非正时为空）",
        -1,
    )
    add(
        "debt_to_assets",
        "leverage",
        "share",
        "Debt to assets: total liabilities / total assets",
        "资产负债率：总负债 / 总资产",
        -1,
    )
    add(
        "equity_ratio",
        "leverage",
        "share",
        "Equity ratio: book equity / total assets",
        "股东权益比率：所有者权益 / 总资产",
        1,
    )
    add(
        "interest_coverage",
        "leverage",
        "times",
        "Interest coverage: EBIT / interest expense; needs interest expense",
        "利息保障倍数：息税前利润 / 利息费用（需利息费用数据）",
        1,
    )
    add(
        "return_on_assets",
        "profitability",
        "ratio",
        "Return on assets: net income / total assets",
        "总资产收益率：净利润 / 总资产",
        1,
    )
    add(
        "net_margin",
        "profitability",
        "ratio",
        "Net margin: net income / revenue",
        "销售净利率：净利润 / 营业收入",
        1,
    )
    add(
        "asset_turnover",
        "efficiency",
        "times",
        "Asset turnover: revenue / total assets",
        "总资产周转率：营业收入 / 总资产",
        1,
    )
    return tuple(items)


RATIO_FACTORS: tuple[RatioFactor, ...] = _catalogue()
BY_NAME: dict[str, RatioFactor] = {f.name: f for f in RATIO_FACTORS}
# Model, fallback flag and zone describe the score; they are labels, not numeric factors.
LABEL_COLUMNS = ("altman_model", "altman_fallback", "altman_zone")
OUTPUT_COLUMNS = (
    "altman_model",
    "altman_fallback",
    "altman_x1",
    "altman_x2",
    "altman_x3",
    "altman_x4",
    "altman_x5",
    "altman_score",
    "altman_zone",
    "current_ratio",
    "quick_ratio",
    "cash_ratio",
    "debt_to_equity",
    "debt_to_assets",
    "equity_ratio",
    "interest_coverage",
    "return_on_assets",
    "net_margin",
    "asset_turnover",
)

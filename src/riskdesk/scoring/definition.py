"""What a scorecard is made of, and the checks it must pass before it is saved.

A scorecard adds points per factor to base points. A factor reads one value per customer: an
indicator, a company ratio from the statements, a bureau figure or a customer attribute. It gives
points either by bins (numeric intervals covering every value, or lists of category values) or by
a weight over the value normalised between two bounds. A missing value gets the factor's
``missing_points``.

The composite score runs from 0 to 1000. Rather than clipping, a definition is refused when its
factors could give a score outside that range, so the points a customer sees always add up. Score
bands give the rating and the risk tier; the bands of each scale must cover 0 to 1000 without gap
or overlap.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import Literal

from pydantic import ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from riskdesk.indicators.catalogue import CATALOGUE as INDICATORS
from riskdesk.kit.validation import InputModel

SCORE_MIN = 0
SCORE_MAX = 1000
TIERS = ("low", "medium", "high", "critical")  # safest first

Source = Literal["indicator", "ratio", "bureau", "attribute", "model"]
MODEL_NAME = r"^[a-z][a-z0-9_\-]{0,63}$"


@dataclass(frozen=True)
class FactorInput:
    """A value a factor may read."""

    source: str
    name: str
    numeric: bool
    en: str
    zh: str
    direction: int = 0  # +1 higher is safer, -1 higher is riskier, 0 unknown
    share: bool = False  # a share of a whole (0.25), said as a percentage (25%)


def _inputs() -> dict[tuple[str, str], FactorInput]:
    from riskdesk.scoring.ratios import RATIO_FACTORS

    items = [
        FactorInput("indicator", i.name, True, i.en, i.zh, share=i.unit == "share")
        for i in INDICATORS
    ]
    items += [
        FactorInput("ratio", r.name, True, r.en, r.zh, r.direction, share=r.unit == "share")
        for r in RATIO_FACTORS
    ]
    items += [
        FactorInput("bureau", "bureau_score", True, "Bureau score", "征信机构评分", 1),
        FactorInput(
            "bureau",
            "bureau_recommended_limit",
            True,
            "Bureau recommended limit",
            "征信机构建议额度",
            1,
        ),
        FactorInput(
            "bureau",
            "bureau_report_age_days",
            True,
            "Age of the bureau report (days)",
            "征信报告距今天数",
            -1,
        ),
        FactorInput("attribute", "kind", False, "Customer kind", "客户类型"),
        FactorInput("attribute", "segment", False, "Segment", "客户分群"),
        FactorInput("attribute", "region", False, "Region", "区域"),
        FactorInput("attribute", "industry", False, "Industry", "行业"),
        FactorInput(
            "attribute", "payment_terms_days", True, "Payment terms (days)", "账期（天）", -1
        ),
        FactorInput(
            "attribute",
            "customer_age_days",
            True,
            "Days since the credit file was opened",
            "建档天数",
            1,
        ),
    ]
    return {(i.source, i.name): i for i in items}


_INPUTS: dict[tuple[str, str], FactorInput] | None = None


def factor_inputs() -> dict[tuple[str, str], FactorInput]:
    """Every value a factor may read, by (source, name)."""
    global _INPUTS
    if _INPUTS is None:
        _INPUTS = _inputs()
    return _INPUTS


def _input(source: str, name: str) -> FactorInput | None:
    # A model factor reads the champion's score (0-1000, higher is safer) of a model name.
    if source == "model":
        if not re.match(MODEL_NAME, name):
            return None
        return FactorInput(
            "model",
            name,
            True,
            f"Model {name} (champion's score)",
            f"模型 {name}（冠军模型评分）",
            1,
        )
    return factor_inputs().get((source, name))


class _Strict(InputModel):
    model_config = ConfigDict(frozen=True)


def refused(code: str, message: str, **where: str | int | float | None) -> PydanticCustomError:
    """A refusal with a stable code (the error's type) and where it is (its context: which bin,
    which band), so that a form can point at the field and say it in the reader's language; the
    message stays the English sentence the API has always given."""
    return PydanticCustomError(code, "{message}", {"message": message, **where})


class Bin(_Strict):
    """Points for values in [lower, upper) (None: unbounded), or for some category values."""

    lower: float | None = None
    upper: float | None = None
    values: list[str] | None = Field(default=None, min_length=1, max_length=200)
    points: int = Field(ge=-SCORE_MAX, le=SCORE_MAX)


class Weight(_Strict):
    """Up to ``points`` for a value normalised between ``lower`` and ``upper``."""

    points: float = Field(gt=0, le=SCORE_MAX)
    lower: float
    upper: float
    higher_is_better: bool = True

    @model_validator(mode="after")
    def _ordered(self) -> Weight:
        if not self.upper > self.lower:
            raise refused("weight_order", "upper must be greater than lower")
        return self


class Factor(_Strict):
    """One input of the score and the points it gives."""

    code: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    source: Source
    name: str = Field(min_length=1, max_length=64)
    label_en: str | None = Field(default=None, max_length=200)
    label_zh: str | None = Field(default=None, max_length=200)
    bins: list[Bin] | None = Field(default=None, min_length=1, max_length=50)
    weight: Weight | None = None
    missing_points: int = Field(default=0, ge=-SCORE_MAX, le=SCORE_MAX)

    @model_validator(mode="after")
    def _consistent(self) -> Factor:
        spec = _input(self.source, self.name)
        if spec is None:
            raise refused("unknown_input", f"unknown {self.source} {self.name!r}")
        if (self.bins is None) == (self.weight is None):
            raise refused("bins_or_weight", "give either bins or weight")
        if self.weight is not None and not spec.numeric:
            raise refused("not_numeric", f"{self.name} is not a number: use bins with values")
        if self.bins is not None:
            _check_bins(self.bins, numeric=spec.numeric)
        return self

    @property
    def input(self) -> FactorInput:
        """What the factor reads."""
        spec = _input(self.source, self.name)
        assert spec is not None  # checked when the factor was made
        return spec

    @property
    def en(self) -> str:
        """English label."""
        return self.label_en or self.input.en

    @property
    def zh(self) -> str:
        """Chinese label."""
        return self.label_zh or self.input.zh

    def point_range(self) -> tuple[float, float]:
        """The fewest and the most points this factor can give."""
        if self.weight is not None:
            options = [0.0, self.weight.points, float(self.missing_points)]
        else:
            assert self.bins is not None
            options = [float(b.points) for b in self.bins] + [float(self.missing_points)]
        return min(options), max(options)


def _check_bins(bins: list[Bin], *, numeric: bool) -> None:
    if not numeric:
        seen: dict[str, int] = {}
        for i, b in enumerate(bins):
            if b.values is None or b.lower is not None or b.upper is not None:
                raise refused(
                    "category_bin", f"bins[{i}]: a category factor's bins list values", index=i
                )
            for v in b.values:
                if v in seen:
                    raise refused(
                        "value_twice",
                        f"bins[{i}]: {v!r} is already in bins[{seen[v]}]",
                        index=i,
                        value=v,
                        other=seen[v],
                    )
                seen[v] = i
        return
    for i, b in enumerate(bins):
        if b.values is not None:
            raise refused(
                "numeric_bin",
                f"bins[{i}]: a numeric factor's bins have lower and upper, not values",
                index=i,
            )
        if b.lower is not None and b.upper is not None and not b.upper > b.lower:
            raise refused("bin_order", f"bins[{i}]: upper must be greater than lower", index=i)
    if bins[0].lower is not None:
        raise refused(
            "first_bin",
            "bins[0]: the first bin must have no lower bound (values below it)",
            index=0,
        )
    if bins[-1].upper is not None:
        last = len(bins) - 1
        raise refused(
            "last_bin", f"bins[{last}]: the last bin must have no upper bound", index=last
        )
    for i in range(1, len(bins)):
        prev, cur = bins[i - 1].upper, bins[i].lower
        if prev is None or cur is None or prev != cur:
            raise refused(
                "bin_gap",
                f"bins[{i}]: must start where bins[{i - 1}] ends ({prev}), not at {cur}",
                index=i,
                previous=prev,
            )


class Band(_Strict):
    """Scores from ``min`` to ``max`` (both included) get this code."""

    code: str = Field(min_length=1, max_length=8, pattern=r"^[A-Za-z0-9+\-_]+$")
    min: int = Field(ge=SCORE_MIN, le=SCORE_MAX)
    max: int = Field(ge=SCORE_MIN, le=SCORE_MAX)


def check_bands(bands: list[Band]) -> list[Band]:
    """Bands sorted by score; refused unless they cover 0-1000 with no gap and no overlap."""
    ordered = sorted(bands, key=lambda b: (b.min, b.max))
    codes = [b.code for b in ordered]
    for code in codes:
        if codes.count(code) > 1:
            raise refused("band_twice", f"band {code!r} appears twice", band=code)
    for b in ordered:
        if b.max < b.min:
            raise refused(
                "band_order", f"band {b.code}: max {b.max} is below min {b.min}", band=b.code
            )
    if ordered[0].min != SCORE_MIN:
        raise refused(
            "band_gap",
            f"scores {SCORE_MIN} to {ordered[0].min - 1} are in no band",
            band=ordered[0].code,
            low=SCORE_MIN,
            high=ordered[0].min - 1,
        )
    if ordered[-1].max != SCORE_MAX:
        raise refused(
            "band_gap",
            f"scores {ordered[-1].max + 1} to {SCORE_MAX} are in no band",
            band=ordered[-1].code,
            low=ordered[-1].max + 1,
            high=SCORE_MAX,
        )
    for prev, cur in itertools.pairwise(ordered):
        if cur.min <= prev.max:
            raise refused(
                "band_overlap",
                f"bands {prev.code} and {cur.code} overlap ({cur.min} to {min(prev.max, cur.max)})",
                band=cur.code,
                other=prev.code,
                low=cur.min,
                high=min(prev.max, cur.max),
            )
        if cur.min > prev.max + 1:
            raise refused(
                "band_gap",
                f"scores {prev.max + 1} to {cur.min - 1} are in no band",
                band=cur.code,
                low=prev.max + 1,
                high=cur.min - 1,
            )
    return ordered


class Definition(_Strict):
    """A whole scorecard: factors, base points, rating bands and tier bands."""

    base_points: int = Field(default=0, ge=-SCORE_MAX, le=SCORE_MAX)
    factors: list[Factor] = Field(min_length=1, max_length=60)
    ratings: list[Band] = Field(min_length=1, max_length=30)
    tiers: list[Band] = Field(min_length=1, max_length=4)
    reason_count: int = Field(default=3, ge=1, le=10)

    @field_validator("factors")
    @classmethod
    def _unique_codes(cls, factors: list[Factor]) -> list[Factor]:
        codes = [f.code for f in factors]
        for i, code in enumerate(codes):
            if codes.index(code) != i:
                raise refused("code_twice", f"factors[{i}]: code {code!r} is used twice", index=i)
        return factors

    @field_validator("ratings")
    @classmethod
    def _ratings(cls, bands: list[Band]) -> list[Band]:
        return check_bands(bands)

    @field_validator("tiers")
    @classmethod
    def _tiers(cls, bands: list[Band]) -> list[Band]:
        for b in bands:
            if b.code not in TIERS:
                raise refused(
                    "unknown_tier", f"tier {b.code!r} is not one of {', '.join(TIERS)}", band=b.code
                )
        ordered = check_bands(bands)
        # A higher score may never mean a riskier tier.
        ranks = [TIERS.index(b.code) for b in ordered]
        if ranks != sorted(ranks, reverse=True):
            raise refused(
                "tier_order", "tiers must go from the riskiest (lowest scores) to the safest"
            )
        return ordered

    @model_validator(mode="after")
    def _in_range(self) -> Definition:
        low, high = self.score_range()
        if low < SCORE_MIN or high > SCORE_MAX:
            raise refused(
                "score_range",
                f"base points and factors can give scores from {low:g} to {high:g}; "
                f"change the points so that every score lies within {SCORE_MIN}-{SCORE_MAX}",
                low=low,
                high=high,
            )
        return self

    def score_range(self) -> tuple[float, float]:
        """The lowest and the highest score the definition can give."""
        ranges = [f.point_range() for f in self.factors]
        return (
            self.base_points + sum(r[0] for r in ranges),
            self.base_points + sum(r[1] for r in ranges),
        )

    def band(self, bands: list[Band], score: int) -> str:
        """The code of the band a score falls in."""
        for b in bands:
            if b.min <= score <= b.max:
                return b.code
        raise ValueError(f"score {score} is in no band")

"""Statistical credit models trained on a company's own labelled history.

Two families behind one interface, each storable as plain JSON for a model registry:

FittedModel
 ├── ScorecardModel      WoE binning (optbinning) + logistic regression, with a points table
 └── BoostedTreesModel   LightGBM gradient-boosted trees, monotone where a direction is known

ModellingError (ValidationFailed, ValueError) names the input at fault: data, target, bad,
folds, family, features or monotone.

Pure computation: no database. Prediction needs neither optbinning nor the training data: a
scorecard predicts from its own bin table, boosted trees from the booster text.
"""

from __future__ import annotations

import math
import time
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import lightgbm as lgb
import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, roc_auc_score, roc_curve
from sklearn.model_selection import StratifiedKFold, train_test_split

from riskdesk.kit.errors import ValidationFailed

FAMILIES: tuple[str, ...] = ("scorecard", "lightgbm")
NUMERIC = "numeric"
CATEGORICAL = "categorical"
FORMAT_VERSION = 1
SCORE_MAX = 1000.0

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int_]


class ModellingError(ValidationFailed, ValueError):
    """Input a model cannot be trained or evaluated on; `field` names the input at fault."""

    code = "modelling_input"

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason, field=field)
        self.reason = reason


# --- reading labelled data -------------------------------------------------------------------


def read_labelled_csv(path: str | Path, target: str, bad: str) -> tuple[pd.DataFrame, IntArray]:
    """Features (text columns as categoricals) and y (1 = bad) from a labelled CSV."""
    path = Path(path)
    if not path.exists():
        raise ModellingError("data", f"no such file: {path}")
    if not path.is_file():
        raise ModellingError("data", f"not a file: {path}")
    try:
        header = pd.read_csv(path, nrows=0)
        if target not in header.columns:
            shown = ", ".join(repr(str(c)) for c in list(header.columns)[:20])
            raise ModellingError("target", f"no column {target!r} in {path.name}; it has {shown}")
        # The label is read as text so that --bad 1 matches 1, "1" and " 1 " alike.
        frame = pd.read_csv(path, dtype={target: str}, low_memory=False)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ModellingError("data", f"cannot read {path.name} as CSV: {exc}") from exc
    labels = frame.pop(target).str.strip()
    # Rows without a label say nothing about the outcome; they are neither good nor bad.
    known = labels.notna() & (labels != "")
    frame, labels = frame.loc[known].reset_index(drop=True), labels[known].reset_index(drop=True)
    wanted = bad.strip()
    values = labels.unique().tolist()
    if wanted not in values:
        shown = ", ".join(repr(v) for v in sorted(values)[:10]) or "no values"
        raise ModellingError("bad", f"{bad!r} does not occur in column {target!r}; it has {shown}")
    if len(values) == 1:
        raise ModellingError("target", f"column {target!r} has only one class ({wanted!r})")
    if frame.shape[1] == 0:
        raise ModellingError("data", f"{path.name} has no columns besides {target!r}")
    for name in frame.columns:
        if column_kind(frame[name]) == CATEGORICAL:
            frame[name] = frame[name].astype("category")
    return frame, (labels == wanted).to_numpy(dtype=np.int_)


def column_kind(series: pd.Series) -> str:
    """NUMERIC for numbers and booleans, CATEGORICAL for everything else (text, categories)."""
    if pd.api.types.is_bool_dtype(series) or pd.api.types.is_numeric_dtype(series):
        return NUMERIC
    return CATEGORICAL


def _numeric_values(series: pd.Series) -> FloatArray:
    numbers = pd.to_numeric(series, errors="coerce").astype("float64")
    return np.asarray(numbers.to_numpy(na_value=np.nan), dtype=np.float64)


def _text_values(series: pd.Series) -> npt.NDArray[np.object_]:
    """Values as str, missing as NaN: the same text in training and prediction, whatever dtype."""
    missing = series.isna().to_numpy()
    text = np.asarray(series.astype(object).map(str).to_numpy(dtype=object), dtype=object)
    text[missing] = np.nan
    return text


def _check_labels(y: npt.ArrayLike, rows: int) -> IntArray:
    labels = np.asarray(y)
    if labels.ndim != 1 or len(labels) != rows:
        raise ModellingError("target", f"expected {rows} labels, got shape {labels.shape}")
    if not np.isin(labels, (0, 1)).all():
        raise ModellingError("target", "labels must be 0 (good) or 1 (bad)")
    if len(np.unique(labels)) < 2:
        raise ModellingError("target", "the labels hold only one class; need goods and bads")
    return labels.astype(np.int_)


def _check_features(X: pd.DataFrame, features: Sequence[str]) -> None:
    missing = [name for name in features if name not in X.columns]
    if missing:
        raise ModellingError("features", f"missing columns: {', '.join(missing[:20])}")


def _check_monotone(monotone: Mapping[str, int] | None, kinds: Mapping[str, str]) -> dict[str, int]:
    constraints: dict[str, int] = {}
    for name, direction in (monotone or {}).items():
        if name not in kinds:
            raise ModellingError("monotone", f"no feature {name!r}")
        if direction not in (-1, 0, 1):
            raise ModellingError("monotone", f"{name}: direction must be -1, 0 or 1")
        if kinds[name] != NUMERIC and direction != 0:
            raise ModellingError("monotone", f"{name} is a text column; only numbers have a trend")
        if direction:
            constraints[name] = int(direction)
    return constraints


# --- the models ------------------------------------------------------------------------------


class FittedModel(ABC):
    """A trained model of one family: predicts the probability of bad, round-trips via dicts."""

    family: ClassVar[str]

    def __init__(self, features: Sequence[str], kinds: Mapping[str, str]) -> None:
        self.features = list(features)
        self.kinds = dict(kinds)

    @abstractmethod
    def predict_bad_probability(self, X: pd.DataFrame) -> FloatArray:
        """Probability that each row turns bad."""

    @abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form that from_dict restores exactly."""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FittedModel:
        """Restore a model saved by to_dict (of either family)."""
        family = data.get("family")
        for subclass in (ScorecardModel, BoostedTreesModel):
            if subclass.family == family:
                return subclass._from_dict(data)
        raise ModellingError("family", f"unknown model family {family!r}")

    @classmethod
    @abstractmethod
    def _from_dict(cls, data: Mapping[str, Any]) -> FittedModel: ...

    def _header(self) -> dict[str, Any]:
        return {
            "family": self.family,
            "format": FORMAT_VERSION,
            "features": self.features,
            "kinds": self.kinds,
        }


@dataclass(frozen=True)
class FeatureBins:
    """One scorecard feature: its bins, the WoE of each, and its coefficient.

    Numeric bins are [splits[i-1], splits[i]) with open ends, as optbinning cuts them;
    categorical bins are groups of categories. Missing values have their own WoE; a category
    never seen in training gets WoE 0, the population average.
    """

    name: str
    kind: str
    woe: list[float]
    woe_missing: float
    coefficient: float
    splits: list[float] = field(default_factory=list)
    categories: list[list[str]] = field(default_factory=list)

    def transform(self, series: pd.Series) -> FloatArray:
        """WoE of each value."""
        woe = np.asarray(self.woe, dtype=np.float64)
        if self.kind == NUMERIC:
            values = _numeric_values(series)
            missing = np.isnan(values)
            out = woe[np.digitize(np.where(missing, 0.0, values), self.splits, right=False)]
        else:
            text = _text_values(series)
            missing = pd.isna(text)
            lookup = {c: woe[i] for i, group in enumerate(self.categories) for c in group}
            out = np.array([lookup.get(v, 0.0) for v in text], dtype=np.float64)
        out[missing] = self.woe_missing
        return out

    def labels(self) -> list[str]:
        """Human-readable bins, in the order of woe, then missing (and unseen for text)."""
        if self.kind == NUMERIC:
            edges = [-math.inf, *self.splits, math.inf]
            return [f"[{edges[i]:g}, {edges[i + 1]:g})" for i in range(len(self.woe))]
        return [", ".join(group) for group in self.categories]

    def _every_woe(self) -> list[float]:
        # Bins, then missing, then (text only) a category never seen in training.
        return [*self.woe, self.woe_missing] + ([0.0] if self.kind == CATEGORICAL else [])

    def _floor(self) -> float:
        # Points grow as the bad log-odds fall: -coefficient * WoE is a bin's pull to safety,
        # and the feature's worst bin scores 0.
        return min(-self.coefficient * w for w in self._every_woe())

    def spread(self) -> float:
        """Largest minus smallest pull to safety over every bin."""
        pulls = [-self.coefficient * w for w in self._every_woe()]
        return max(pulls) - min(pulls)

    def points(self, series: pd.Series, scale: float) -> FloatArray:
        """Points of each value."""
        return (-self.coefficient * self.transform(series) - self._floor()) * scale

    def points_rows(self, scale: float) -> list[dict[str, Any]]:
        """Points per bin."""
        labels = [*self.labels(), "missing"] + (["unseen"] if self.kind == CATEGORICAL else [])
        floor = self._floor()
        return [
            {"feature": self.name, "bin": label, "points": (-self.coefficient * w - floor) * scale}
            for label, w in zip(labels, self._every_woe(), strict=True)
        ]

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        data: dict[str, Any] = {
            "feature": self.name,
            "kind": self.kind,
            "woe": self.woe,
            "woe_missing": self.woe_missing,
            "coefficient": self.coefficient,
        }
        if self.kind == NUMERIC:
            data["splits"] = self.splits
        else:
            data["categories"] = self.categories
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureBins:
        """Inverse of to_dict."""
        return cls(
            name=data["feature"],
            kind=data["kind"],
            woe=[float(w) for w in data["woe"]],
            woe_missing=float(data["woe_missing"]),
            coefficient=float(data["coefficient"]),
            splits=[float(s) for s in data.get("splits", [])],
            categories=[[str(c) for c in group] for group in data.get("categories", [])],
        )


class ScorecardModel(FittedModel):
    """WoE-binned logistic scorecard; its points run 0..1000, higher = safer."""

    family = "scorecard"

    def __init__(
        self,
        features: Sequence[str],
        kinds: Mapping[str, str],
        bins: Sequence[FeatureBins],
        intercept: float,
    ) -> None:
        super().__init__(features, kinds)
        self.bins = list(bins)
        self.intercept = intercept

    def log_odds(self, X: pd.DataFrame) -> FloatArray:
        """Log-odds of bad for each row."""
        _check_features(X, self.features)
        total = np.full(len(X), self.intercept, dtype=np.float64)
        for feature in self.bins:
            total += feature.coefficient * feature.transform(X[feature.name])
        return total

    def predict_bad_probability(self, X: pd.DataFrame) -> FloatArray:
        """Probability that each row turns bad."""
        return np.asarray(1.0 / (1.0 + np.exp(-self.log_odds(X))), dtype=np.float64)

    def _scale(self) -> float:
        spread = sum(feature.spread() for feature in self.bins)
        return SCORE_MAX / spread if spread > 0 else 0.0

    def points_table(self) -> list[dict[str, Any]]:
        """Points per feature and bin; a customer's score is the sum over features, 0..1000."""
        scale = self._scale()
        return [row for feature in self.bins for row in feature.points_rows(scale)]

    def score(self, X: pd.DataFrame) -> FloatArray:
        """Score 0..1000 (higher = safer), the sum of the points table over each row's bins."""
        _check_features(X, self.features)
        scale = self._scale()
        total = np.zeros(len(X), dtype=np.float64)
        for feature in self.bins:
            total += feature.points(X[feature.name], scale)
        return total

    def to_dict(self) -> dict[str, Any]:
        """Bins, WoE and coefficients per feature, the intercept, and the points table."""
        return {
            **self._header(),
            "intercept": self.intercept,
            "bins": [feature.to_dict() for feature in self.bins],
            "points": self.points_table(),
        }

    @classmethod
    def _from_dict(cls, data: Mapping[str, Any]) -> ScorecardModel:
        return cls(
            features=data["features"],
            kinds=data["kinds"],
            bins=[FeatureBins.from_dict(b) for b in data["bins"]],
            intercept=float(data["intercept"]),
        )


class BoostedTreesModel(FittedModel):
    """LightGBM booster; text columns enter as category codes fixed at training."""

    family = "lightgbm"

    def __init__(
        self,
        features: Sequence[str],
        kinds: Mapping[str, str],
        levels: Mapping[str, list[str]],
        booster: lgb.Booster,
        monotone: Mapping[str, int] | None = None,
    ) -> None:
        super().__init__(features, kinds)
        self.levels = {name: list(values) for name, values in levels.items()}
        self.booster = booster
        self.monotone = dict(monotone or {})

    def matrix(self, X: pd.DataFrame) -> FloatArray:
        """The float matrix the booster sees."""
        _check_features(X, self.features)
        return _tree_matrix(X, self.features, self.kinds, self.levels)

    def predict_bad_probability(self, X: pd.DataFrame) -> FloatArray:
        """Probability that each row turns bad."""
        return np.asarray(self.booster.predict(self.matrix(X)), dtype=np.float64)

    def to_dict(self) -> dict[str, Any]:
        """The booster as LightGBM's text model, plus the category levels behind its codes."""
        return {
            **self._header(),
            "categories": self.levels,
            "monotone": self.monotone,
            "booster": self.booster.model_to_string(),
        }

    @classmethod
    def _from_dict(cls, data: Mapping[str, Any]) -> BoostedTreesModel:
        return cls(
            features=data["features"],
            kinds=data["kinds"],
            levels=data["categories"],
            booster=lgb.Booster(model_str=data["booster"]),
            monotone=data.get("monotone"),
        )


# --- training --------------------------------------------------------------------------------

# Scorecard binning. Numeric bins may peak or dip ("auto", optbinning's default) unless a
# direction is given: on German Credit, forcing every factor monotone cost 0.004-0.009 AUC
# (age and loan amount are U-shaped), on other data it gained about as much; see
# docs/benchmarks.md. A known direction is better stated than guessed.
SCORECARD_TREND = "auto"
SCORECARD_PREBINS = 20
SCORECARD_MIN_PREBIN = 0.05
SCORECARD_C = 1.0

# Regularised defaults for credit data of a few thousand rows; the rounds are chosen per
# training fold by early stopping.
LIGHTGBM_PARAMS: dict[str, Any] = {
    "objective": "binary",
    "learning_rate": 0.05,
    "num_leaves": 15,
    "min_data_in_leaf": 20,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "cat_smooth": 10.0,
    "cat_l2": 10.0,
    "min_data_per_group": 20,
    "monotone_constraints_method": "intermediate",
    "deterministic": True,
    "force_col_wise": True,
    "num_threads": 2,
    "verbose": -1,
}
LIGHTGBM_MAX_ROUNDS = 2000
LIGHTGBM_PATIENCE = 100
LIGHTGBM_VALIDATION = 0.2
LIGHTGBM_ROUNDS_WHEN_TINY = 100


def fit(
    family: str,
    X: pd.DataFrame,
    y: npt.ArrayLike,
    *,
    seed: int = 0,
    monotone: Mapping[str, int] | None = None,
) -> FittedModel:
    """Train one family on features X and labels y (1 = bad).

    monotone maps a numeric feature to +1 (more of it, more risk) or -1 (more of it, less risk).
    LightGBM holds it exactly; the scorecard bins follow it, and so does the score as long as
    the regression keeps the feature's coefficient on the usual side, as it does unless the
    feature is swamped by a correlated one.
    """
    labels = _check_labels(y, len(X))
    if X.shape[1] == 0:
        raise ModellingError("features", "no feature columns")
    X = X.rename(columns=str)  # names are stored as JSON keys
    kinds = {name: column_kind(X[name]) for name in X.columns}
    constraints = _check_monotone(monotone, kinds)
    if family == "scorecard":
        return _fit_scorecard(X, labels, kinds, constraints)
    if family == "lightgbm":
        return _fit_boosted_trees(X, labels, kinds, constraints, seed)
    raise ModellingError("family", f"unknown family {family!r}; choose from {', '.join(FAMILIES)}")


def _fit_scorecard(
    X: pd.DataFrame, y: IntArray, kinds: Mapping[str, str], monotone: Mapping[str, int]
) -> ScorecardModel:
    from optbinning import BinningProcess  # imported here: slow, and prediction does not need it

    features = list(kinds)
    frame = pd.DataFrame(
        {
            name: _numeric_values(X[name]) if kind == NUMERIC else _text_values(X[name])
            for name, kind in kinds.items()
        }
    )
    # optbinning cannot bin a column with no values; such a feature gets one neutral bin.
    binned = [name for name in features if frame[name].notna().any()]
    if not binned:
        raise ModellingError("features", "every feature column is empty")
    # optbinning's event is y = 1 (bad): +1 means the bad rate rises with the feature.
    trends = {
        name: {"monotonic_trend": "ascending" if direction > 0 else "descending"}
        for name, direction in monotone.items()
    }
    process = BinningProcess(
        variable_names=binned,
        categorical_variables=[n for n in binned if kinds[n] == CATEGORICAL] or None,
        max_n_prebins=SCORECARD_PREBINS,
        min_prebin_size=SCORECARD_MIN_PREBIN,
        binning_fit_params={
            name: trends.get(name, {"monotonic_trend": SCORECARD_TREND})
            for name in binned
            if kinds[name] == NUMERIC
        },
    )
    with warnings.catch_warnings():
        # optbinning's summary tables trip pandas deprecation warnings that are not ours.
        warnings.simplefilter("ignore", DeprecationWarning)
        process.fit(frame[binned], y)
        tables = [
            _feature_bins(name, kinds[name], process.get_binned_variable(name))
            if name in binned
            else FeatureBins(name, kinds[name], woe=[0.0], woe_missing=0.0, coefficient=0.0)
            for name in features
        ]
    woe = np.column_stack([t.transform(frame[t.name]) for t in tables])
    regression = LogisticRegression(C=SCORECARD_C, max_iter=1000).fit(woe, y)
    bins = [
        FeatureBins(
            name=t.name,
            kind=t.kind,
            woe=t.woe,
            woe_missing=t.woe_missing,
            coefficient=float(c),
            splits=t.splits,
            categories=t.categories,
        )
        for t, c in zip(tables, regression.coef_[0], strict=True)
    ]
    return ScorecardModel(features, kinds, bins, float(regression.intercept_[0]))


def _woe(n_nonevent: npt.ArrayLike, n_event: npt.ArrayLike) -> list[float]:
    """optbinning's WoE, ln(share of goods / share of bads); 0 where a bin lacks either."""
    good = np.asarray(n_nonevent, dtype=np.float64)
    bad = np.asarray(n_event, dtype=np.float64)
    both = (good > 0) & (bad > 0)
    woe = np.zeros(len(good))
    woe[both] = np.log((good[both] / good.sum()) / (bad[both] / bad.sum()))
    return [float(w) for w in woe]


def _feature_bins(name: str, kind: str, binning: Any) -> FeatureBins:
    table = binning.binning_table
    # The counts run: one entry per bin, then special values, then missing values.
    woe = _woe(table.n_nonevent, table.n_event)
    if kind == NUMERIC:
        splits = [float(s) for s in binning.splits]
        categories: list[list[str]] = []
    else:
        splits = []
        categories = [[str(c) for c in group] for group in binning.splits]
    regular = len(splits) + 1 if kind == NUMERIC else len(categories)
    return FeatureBins(
        name=name,
        kind=kind,
        woe=woe[:regular],
        woe_missing=woe[-1],
        coefficient=0.0,
        splits=splits,
        categories=categories,
    )


def _fit_boosted_trees(
    X: pd.DataFrame,
    y: IntArray,
    kinds: Mapping[str, str],
    monotone: Mapping[str, int],
    seed: int,
) -> BoostedTreesModel:
    features = list(kinds)
    levels = {
        name: sorted({str(v) for v in _text_values(X[name]) if not pd.isna(v)})
        for name, kind in kinds.items()
        if kind == CATEGORICAL
    }
    matrix = _tree_matrix(X, features, kinds, levels)
    # Positional names: LightGBM rejects some characters that CSV headers may hold.
    names = [f"f{i}" for i in range(len(features))]
    categorical = [i for i, name in enumerate(features) if kinds[name] == CATEGORICAL]
    params = {
        **LIGHTGBM_PARAMS,
        "seed": seed,
        "monotone_constraints": [monotone.get(name, 0) for name in features],
    }

    def dataset(rows: IntArray | slice) -> lgb.Dataset:
        return lgb.Dataset(
            matrix[rows],
            label=y[rows],
            feature_name=names,
            categorical_feature=categorical,
            params={"verbose": -1},
            free_raw_data=False,
        )

    rounds = _early_stopping_rounds(dataset, y, params, seed)
    booster = lgb.train(params, dataset(slice(None)), num_boost_round=rounds)
    return BoostedTreesModel(features, kinds, levels, booster, monotone)


def _early_stopping_rounds(
    dataset: Callable[[IntArray], lgb.Dataset],
    y: IntArray,
    params: Mapping[str, Any],
    seed: int,
) -> int:
    """Rounds chosen on a stratified slice of the training rows, never on the test fold."""
    rows = np.arange(len(y))
    if np.bincount(y).min() < 10:
        return LIGHTGBM_ROUNDS_WHEN_TINY  # too few of a class to hold any back
    fit_rows, check_rows = train_test_split(
        rows, test_size=LIGHTGBM_VALIDATION, stratify=y, random_state=seed
    )
    booster = lgb.train(
        {**params, "metric": "binary_logloss"},
        dataset(fit_rows),
        num_boost_round=LIGHTGBM_MAX_ROUNDS,
        valid_sets=[dataset(check_rows)],
        callbacks=[lgb.early_stopping(LIGHTGBM_PATIENCE, verbose=False)],
    )
    # The final model learns from all training rows, a quarter more than the search saw.
    return max(1, round(booster.best_iteration / (1 - LIGHTGBM_VALIDATION)))


def _tree_matrix(
    X: pd.DataFrame,
    features: Sequence[str],
    kinds: Mapping[str, str],
    levels: Mapping[str, list[str]],
) -> FloatArray:
    """Numbers as they are; text as codes of the training levels, unseen or missing as NaN.

    This is what LightGBM does itself with pandas categoricals, done here so that the codes
    depend only on the stored levels, not on a frame's dtype.
    """
    columns = []
    for name in features:
        if kinds[name] == NUMERIC:
            columns.append(_numeric_values(X[name]))
        else:
            codes = pd.Index(levels[name]).get_indexer(_text_values(X[name]))
            columns.append(np.where(codes < 0, np.nan, codes.astype(np.float64)))
    return np.column_stack(columns)


# --- evaluation ------------------------------------------------------------------------------


def auc(y: npt.ArrayLike, p: npt.ArrayLike) -> float:
    """Area under the ROC curve."""
    return float(roc_auc_score(y, p))


def ks(y: npt.ArrayLike, p: npt.ArrayLike) -> float:
    """Kolmogorov-Smirnov statistic: the largest gap between the bads' and goods' CDFs."""
    fpr, tpr, _ = roc_curve(y, p)
    return float(np.max(np.abs(tpr - fpr)))


def brier(y: npt.ArrayLike, p: npt.ArrayLike) -> float:
    """Mean squared error of the probability of bad."""
    return float(brier_score_loss(y, p))


@dataclass(frozen=True)
class FoldResult:
    """One family on one test fold."""

    auc: float
    ks: float
    gini: float
    brier: float
    fit_seconds: float

    def as_dict(self) -> dict[str, float]:
        """JSON form."""
        return {
            "auc": self.auc,
            "ks": self.ks,
            "gini": self.gini,
            "brier": self.brier,
            "fit_seconds": self.fit_seconds,
        }


@dataclass(frozen=True)
class FamilyResult:
    """One family over every fold: the means, and each fold."""

    family: str
    folds: list[FoldResult]

    def _mean(self, name: str) -> float:
        return float(np.mean([getattr(f, name) for f in self.folds]))

    @property
    def auc(self) -> float:
        """Mean AUC over folds."""
        return self._mean("auc")

    @property
    def ks(self) -> float:
        """Mean KS over folds."""
        return self._mean("ks")

    @property
    def gini(self) -> float:
        """Mean Gini over folds."""
        return self._mean("gini")

    @property
    def brier(self) -> float:
        """Mean Brier score over folds."""
        return self._mean("brier")

    @property
    def fit_seconds(self) -> float:
        """Mean time to fit on one training fold."""
        return self._mean("fit_seconds")

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "family": self.family,
            "auc": self.auc,
            "ks": self.ks,
            "gini": self.gini,
            "brier": self.brier,
            "fit_seconds": self.fit_seconds,
            "folds": [f.as_dict() for f in self.folds],
        }


def fold_result(y: npt.ArrayLike, p: npt.ArrayLike, fit_seconds: float) -> FoldResult:
    """Metrics of predictions p against labels y."""
    area = auc(y, p)
    return FoldResult(
        auc=area, ks=ks(y, p), gini=2 * area - 1, brier=brier(y, p), fit_seconds=fit_seconds
    )


def stratified_folds(
    y: npt.ArrayLike, *, folds: int = 5, seed: int = 0
) -> list[tuple[IntArray, IntArray]]:
    """(train rows, test rows) per fold, stratified on y; checks there are enough of each class."""
    labels = np.asarray(y)
    if folds < 2:
        raise ModellingError("folds", f"need at least 2 folds, got {folds}")
    counts = np.bincount(labels.astype(np.int_), minlength=2)
    if counts.min() < folds:
        which = "bad" if counts[1] < counts[0] else "good"
        raise ModellingError(
            "folds", f"{folds} folds need at least {folds} {which} rows; there are {counts.min()}"
        )
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return [(train, test) for train, test in splitter.split(np.zeros(len(labels)), labels)]


def evaluate(
    X: pd.DataFrame,
    y: npt.ArrayLike,
    *,
    folds: int = 5,
    seed: int = 0,
    families: Sequence[str] = FAMILIES,
    monotone: Mapping[str, int] | None = None,
    progress: Callable[[str, int], None] | None = None,
) -> list[FamilyResult]:
    """Stratified cross-validation of each family on the same folds."""
    labels = _check_labels(y, len(X))
    unknown = [f for f in families if f not in FAMILIES]
    if unknown:
        raise ModellingError("family", f"unknown family {unknown[0]!r}")
    splits = stratified_folds(labels, folds=folds, seed=seed)
    results: dict[str, list[FoldResult]] = {family: [] for family in families}
    for number, (train, test) in enumerate(splits, start=1):
        train_X = X.iloc[train].reset_index(drop=True)
        test_X = X.iloc[test].reset_index(drop=True)
        for family in families:
            started = time.perf_counter()
            model = fit(family, train_X, labels[train], seed=seed, monotone=monotone)
            seconds = time.perf_counter() - started
            p = model.predict_bad_probability(test_X)
            results[family].append(fold_result(labels[test], p, seconds))
            if progress is not None:
                progress(family, number)
    return [FamilyResult(family, fold_list) for family, fold_list in results.items()]


# ---------------------------------------------------------------- stability (PSI)

PSI_FLOOR = 1e-4  # an empty bin counts as this share, so the logarithm stays finite


def bin_shares(values: npt.ArrayLike, edges: Sequence[float]) -> list[float]:
    """Share of values in each bin between the edges (below the first ... above the last),
    then the share missing."""
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        return [0.0] * (len(edges) + 2)
    missing = np.isnan(x)
    index = np.searchsorted(np.asarray(edges, dtype=float), x[~missing], side="right")
    counts = np.bincount(index, minlength=len(edges) + 1).astype(float)
    return [float(c) / x.size for c in counts] + [float(missing.sum()) / x.size]


def reference_bins(values: npt.ArrayLike, bins: int = 10) -> dict[str, list[float]]:
    """Decile edges of the training values and the training shares in them (for PSI)."""
    x = np.asarray(values, dtype=float)
    present = x[~np.isnan(x)]
    quantiles = np.quantile(present, np.linspace(0, 1, bins + 1)[1:-1]) if present.size else []
    edges = sorted({float(q) for q in quantiles})
    return {"edges": edges, "shares": bin_shares(x, edges)}


def psi(expected: Sequence[float], actual: Sequence[float]) -> float:
    """Population stability index of two share vectors over the same bins."""
    e = np.maximum(np.asarray(expected, dtype=float), PSI_FLOOR)
    a = np.maximum(np.asarray(actual, dtype=float), PSI_FLOOR)
    return float(np.sum((a - e) * np.log(a / e)))

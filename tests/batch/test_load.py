"""`riskdesk batch load`: a result directory into a PostgreSQL staging table by COPY, replaced
whole; refused on SQLite."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from riskdesk.batch.frames import FramesError
from riskdesk.batch.repository import load_result, table_name

RESULT = pl.DataFrame(
    {
        "customer_id": [3, 1, 2, 4],
        "scorecard_version_id": [7, None, 7, 8],
        "scorecard__large-with-model__v1__score": [640, None, 712, None],
        "scorecard__large-with-model__v1__rating": ["BB", None, "A", None],
        "model__pd__v2__bad_probability": [0.125, None, 1e-12, 0.5],
        "assessed": [True, False, True, True],
        "as_of": [dt.date(2026, 6, 30)] * 4,
    },
    schema_overrides={
        "scorecard_version_id": pl.Int64,
        "scorecard__large-with-model__v1__score": pl.Int64,
    },
)


def _write(directory: Path, frame: pl.DataFrame, parts: int) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    size = -(-frame.height // parts)
    files = []
    for i in range(parts):
        path = directory / f"part-{i:05d}.parquet"
        frame.slice(i * size, size).write_parquet(path)
        files.append(path)
    return files


def _read(db: Session, table: str) -> pl.DataFrame:
    rows = db.execute(text(f'SELECT * FROM "{table}" ORDER BY customer_id'))
    return pl.DataFrame([tuple(r) for r in rows], schema=dict(RESULT.schema), orient="row")


def test_a_result_is_loaded_by_copy_and_replaced_whole(db: Session, tmp_path: Path) -> None:
    if db.connection().dialect.name != "postgresql":
        with pytest.raises(FramesError, match="PostgreSQL"):
            load_result(db, _write(tmp_path / "r", RESULT, 1), "scores_test")
        return
    assert load_result(db, _write(tmp_path / "r", RESULT, 3), "scores_test") == 4
    table = table_name("scores_test")
    assert _read(db, table).equals(RESULT.sort("customer_id"))
    # A later load of the same name replaces the table, columns and all.
    smaller = RESULT.head(2).drop("as_of")
    assert load_result(db, _write(tmp_path / "s", smaller, 1), "scores_test") == 2
    columns = list(db.execute(text(f'SELECT * FROM "{table}" LIMIT 0')).keys())
    assert "as_of" not in columns
    assert db.execute(text(f'SELECT count(*) FROM "{table}"')).scalar() == 2
    # One row per customer: the key.
    key = db.execute(
        text(
            "SELECT count(*) FROM information_schema.table_constraints "
            "WHERE table_name = :t AND constraint_type = 'PRIMARY KEY'"
        ),
        {"t": table},
    ).scalar()
    assert key == 1
    with pytest.raises(FramesError, match="--table"):
        table_name("Scores; DROP")


def test_a_replay_result_is_keyed_by_date_customer_and_rule(db: Session, tmp_path: Path) -> None:
    if db.connection().dialect.name != "postgresql":
        return  # refused on SQLite: the test above
    day = dt.date(2026, 6, 30)
    replayed = pl.DataFrame(
        {
            "as_of": [day, day, dt.date(2026, 5, 31)],
            "customer_id": [1, 1, 1],
            "rule_code": ["new_overdue", "paying_late", "new_overdue"],
            "severity": ["critical", "high", "critical"],
            "held": [False, False, True],
            "trigger_values": ['{"dpd_max":54.0}', '{"late_days_90d":40.0}', None],
        }
    )
    assert load_result(db, _write(tmp_path / "r", replayed, 2), "replay_test") == 3
    table = table_name("replay_test")
    key = db.execute(
        text(
            "SELECT string_agg(k.column_name, ',' ORDER BY k.ordinal_position) "
            "FROM information_schema.table_constraints c "
            "JOIN information_schema.key_column_usage k ON k.constraint_name = c.constraint_name "
            "WHERE c.table_name = :t AND c.constraint_type = 'PRIMARY KEY'"
        ),
        {"t": table},
    ).scalar()
    assert key == "as_of,customer_id,rule_code"

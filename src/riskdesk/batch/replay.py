"""A warning replay on a batch engine: what ``riskdesk warnings replay`` runs against the
database (``monitoring.replay``), run over a frames directory or a lake and a config directory.

For each replay date the indicators are computed as of that date and the active rules are
evaluated over them, by the product's own code: ``monitoring.replay.replay`` (values as of a
date, ``pack.rule_hits``, alerts held open by a clear expression), with ``pack.trigger_values``
for what set each hit off. The anomaly detector is left out: it is no rule of the pack, and it
reads six past month ends of everyone's indicators for each date.

The config directory (``riskdesk batch config``) holds what a replay reads from the database,
beside a scoring run's inputs::

    DIR/replay/pack.json               the as-of date (the replay's last date), the active
                                       rules (code, warning type, expression, clear
                                       expression, scope, version, severity) and the tables'
                                       columns
    DIR/replay/<table>/part-00000.parquet
                                       the histories as ``monitoring.replay.load_history``
                                       reads them up to that date: attributes, profiles,
                                       profile_changes, scores, bureau, purchase_days,
                                       unwatched (customers without consent to monitoring)

The polars engine replays everyone in one process. Spark runs ``replay_rows`` per bucket of
customers; the two population-wide steps run once per date on the driver and travel to the
buckets: the indicators' population summary (peer percentiles, RFM cut points: as ``batch
indicators``) and the churn model (BG/NBD fitted on everyone's purchases up to the quarter).

The result (RESULT): one row per (as_of, customer_id, rule_code) that fires, or whose alert a
clear expression holds open (``held``: its rule did not fire that day, ``trigger_values``
null), sorted by those three keys, with the rule's warning type and severity.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from riskdesk.batch.frames import RESULT_FILE, FramesError, prepare_out
from riskdesk.indicators.compute import EventFrames
from riskdesk.monitoring import churn, pack
from riskdesk.monitoring import replay as monitoring_replay
from riskdesk.monitoring.rules import RuleError, compile_rule

REPLAY = "replay"
PACK_FILE = "pack.json"
FORMAT = 1
# The histories of monitoring.replay.History, as the config directory's tables.
TABLES = (
    "attributes",
    "profiles",
    "profile_changes",
    "scores",
    "bureau",
    "purchase_days",
    "unwatched",
)
RESULT: dict[str, pl.DataType] = {
    "as_of": pl.Date(),
    "customer_id": pl.Int64(),
    "rule_code": pl.String(),
    "warning_type": pl.String(),
    "severity": pl.String(),
    "held": pl.Boolean(),
    "trigger_values": pl.String(),
}
KEYS = ("as_of", "customer_id", "rule_code")
# A table's column types, by name, in pack.json (and on Spark).
_KINDS: dict[str, pl.DataType] = {
    "bigint": pl.Int64(),
    "double": pl.Float64(),
    "date": pl.Date(),
    "string": pl.String(),
    "boolean": pl.Boolean(),
}


def _kind(dtype: pl.DataType) -> str:
    for kind, known in _KINDS.items():
        if dtype == known:
            return kind
    raise TypeError(f"no table column type for {dtype}")


def _normalised(frame: pl.DataFrame) -> pl.DataFrame:
    """Integers as Int64 and floats as Float64 (what Spark's bigint and double hold)."""
    return frame.with_columns(
        pl.col(name).cast(pl.Int64 if dtype.is_integer() else pl.Float64)
        for name, dtype in frame.schema.items()
        if dtype.is_integer() or dtype.is_float()
    )


@dataclass(frozen=True)
class ReplayInputs:
    """pack.json: the as-of date of the histories, the active rules and their severities."""

    as_of: dt.date
    specs: list[dict[str, Any]]  # code, warning_type, expression, clear_expression, ...
    tables: dict[str, dict[str, str]]

    @property
    def rules(self) -> list[pack.PackRule]:
        """The rules as a replay evaluates them."""
        out = []
        for spec in self.specs:
            try:
                out.append(
                    pack.PackRule(
                        spec["code"],
                        spec["warning_type"],
                        compile_rule(spec["expression"]),
                        spec["scope"] or {},
                        spec["version_id"],
                        compile_rule(spec["clear_expression"])
                        if spec["clear_expression"]
                        else None,
                    )
                )
            except RuleError as exc:
                raise FramesError("--config", f"rule {spec['code']!r}: {exc}") from exc
        return out

    @property
    def severities(self) -> dict[str, str]:
        return {s["code"]: s["severity"] for s in self.specs}

    def as_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "as_of": self.as_of.isoformat(),
            "rules": self.specs,
            "tables": self.tables,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ReplayInputs:
        if data.get("format") != FORMAT:
            raise FramesError("--config", f"replay inputs format {data.get('format')!r}, not 1")
        return cls(dt.date.fromisoformat(data["as_of"]), data["rules"], data["tables"])


def history_tables(history: monitoring_replay.History) -> dict[str, pl.DataFrame]:
    """A replay's histories (all but the event frames) as the config directory's tables."""
    return {
        "attributes": history.attributes,
        "profiles": history.profiles,
        "profile_changes": history.profile_changes,
        "scores": history.scores,
        "bureau": history.bureau,
        "purchase_days": history.purchase_days,
        "unwatched": pl.DataFrame(
            {"customer_id": sorted(history.unwatched)}, schema={"customer_id": pl.Int64}
        ),
    }


def write_inputs(
    directory: Path,
    as_of: dt.date,
    history: monitoring_replay.History,
    rules: Sequence[pack.PackRule],
    severities: dict[str, str],
) -> dict[str, int]:
    """Write a config directory's replay inputs (replacing earlier ones); rows per table."""
    folder = directory / REPLAY
    rows: dict[str, int] = {}
    columns: dict[str, dict[str, str]] = {}
    for name, table in history_tables(history).items():
        table = _normalised(table)
        columns[name] = {c: _kind(t) for c, t in table.schema.items()}
        place = folder / name
        place.mkdir(parents=True, exist_ok=True)
        for old in place.glob("*.parquet"):
            old.unlink()
        table.write_parquet(place / RESULT_FILE)
        rows[name] = table.height
    specs = [
        {
            "code": r.code,
            "warning_type": r.warning_type,
            "expression": r.rule.text,
            "clear_expression": r.clear.text if r.clear is not None else None,
            "scope": r.scope,
            "version_id": r.version_id,
            "severity": severities.get(r.code),
        }
        for r in sorted(rules, key=lambda r: r.code)
    ]
    inputs = ReplayInputs(as_of, specs, columns)
    (folder / PACK_FILE).write_text(json.dumps(inputs.as_json(), ensure_ascii=False), "utf-8")
    return rows


def read_inputs(directory: str | Path) -> ReplayInputs:
    """A config directory's pack.json: a local path, or a URI read through fsspec."""
    where = f"{str(directory).rstrip('/')}/{REPLAY}/{PACK_FILE}"
    try:
        if "://" in where:
            import fsspec

            with fsspec.open(where, "rt", encoding="utf-8") as file:
                text = file.read()
        else:
            text = Path(where).read_text(encoding="utf-8")
    except (OSError, ImportError, ValueError) as exc:
        raise FramesError(
            "--config",
            f"no replay inputs at {where}: write the config with riskdesk batch config ({exc})",
        ) from exc
    try:
        return ReplayInputs.from_json(json.loads(text))
    except (ValueError, KeyError) as exc:
        raise FramesError("--config", f"{where} cannot be read: {exc}") from exc


def checked(inputs: ReplayInputs, days: Sequence[dt.date]) -> ReplayInputs:
    """The inputs, when they hold the histories up to the replay's last date."""
    if inputs.as_of != days[-1]:
        raise FramesError(
            "--to",
            f"the config holds histories up to {inputs.as_of}; write one as of {days[-1]} "
            "(riskdesk batch config --as-of) or replay to its date",
        )
    return inputs


def table_path(directory: str | Path, name: str) -> str:
    """Where a config directory's table is (a path or URI Spark reads)."""
    return f"{str(directory).rstrip('/')}/{REPLAY}/{name}"


def history_of(frames: EventFrames, tables: dict[str, pl.DataFrame]) -> monitoring_replay.History:
    """A replay's History from the event frames and the config directory's tables."""
    return monitoring_replay.History(
        frames=frames,
        attributes=tables["attributes"],
        profiles=tables["profiles"],
        profile_changes=tables["profile_changes"],
        scores=tables["scores"],
        bureau=tables["bureau"],
        purchase_days=tables["purchase_days"],
        unwatched=frozenset(tables["unwatched"]["customer_id"].to_list()),
    )


def read_tables(directory: Path, inputs: ReplayInputs) -> dict[str, pl.DataFrame]:
    """The config directory's tables (the polars engine), columns as pack.json names them."""
    out = {}
    for name in TABLES:
        files = sorted((directory / REPLAY / name).glob("*.parquet"))
        if not files:
            raise FramesError("--config", f"no Parquet files in {directory / REPLAY / name}")
        schema = {c: _KINDS[k] for c, k in inputs.tables[name].items()}
        out[name] = pl.read_parquet(files).select(pl.col(c).cast(t) for c, t in schema.items())
    return out


def replay_rows(
    history: monitoring_replay.History,
    inputs: ReplayInputs,
    days: Sequence[dt.date],
    *,
    indicators_at: Callable[[dt.date], pl.DataFrame] | None = None,
    fit_at: Callable[[dt.date], churn.BgNbd | None] | None = None,
) -> pl.DataFrame:
    """The replay of ``history``'s customers on ``days`` as RESULT rows, sorted by KEYS (the
    polars engine's whole computation; Spark's per bucket, with the population-wide
    ``indicators_at`` and ``fit_at``)."""
    rules = inputs.rules
    fired: list[pl.DataFrame] = []

    def seen(day: dt.date, values: pl.DataFrame, hits: pl.DataFrame) -> None:
        found = pack.trigger_values(values, hits, rules)
        fired.append(found.with_columns(as_of=pl.lit(day, pl.Date)))

    hits, _ = monitoring_replay.replay(
        history,
        {"pack": rules},
        days,
        detectors=False,
        indicators_at=indicators_at,
        fit_at=fit_at,
        on_date=seen,
    )
    triggers = pl.concat(
        [
            pl.DataFrame(
                schema={
                    "customer_id": pl.Int64,
                    "code": pl.String,
                    "trigger_values": pl.String,
                    "as_of": pl.Date,
                }
            ),
            *fired,
        ]
    ).rename({"code": "rule_code"})
    rows = hits["pack"].select(
        as_of=pl.col("day"),
        customer_id=pl.col("customer_id"),
        rule_code=pl.col("code"),
        warning_type=pl.col("warning_type"),
    )
    severities = inputs.severities
    return (
        rows.join(triggers, on=list(KEYS), how="left")
        .with_columns(
            severity=pl.col("rule_code").replace_strict(
                severities, default=None, return_dtype=pl.String
            ),
            held=pl.col("trigger_values").is_null(),
        )
        .select(pl.col(c).cast(t) for c, t in RESULT.items())
        .sort(*KEYS)
    )


def dates(start: dt.date, end: dt.date, every: monitoring_replay.Every) -> list[dt.date]:
    """The replay dates (``monitoring.replay.replay_dates``), errors naming the option."""
    from riskdesk.kit.errors import ValidationFailed

    try:
        return monitoring_replay.replay_dates(start, end, every)
    except ValidationFailed as exc:
        option = {"from": "--from", "every": "--every"}.get(exc.field or "", "--from")
        raise FramesError(option, str(exc)) from exc


def local_replay(
    config_dir: Path,
    days: Sequence[dt.date],
    *,
    frames_dir: Path | None = None,
    lake_uri: str | None = None,
    out: Path | None = None,
) -> pl.DataFrame:
    """The replay on the polars engine: every customer in one process, the indicators and the
    churn model as the database replay computes them (written to ``out`` if given)."""
    from riskdesk.batch.frames import read_frames

    inputs = checked(read_inputs(config_dir), days)
    if frames_dir is not None:
        frames = read_frames(frames_dir)
    else:
        assert lake_uri is not None
        from riskdesk.lake import service as lake_service
        from riskdesk.lake.store import Lake

        try:
            manifest = Lake(lake_uri).manifest()
        except (ValueError, ImportError, OSError) as exc:
            raise FramesError("--lake", f"cannot open the lake at {lake_uri}: {exc}") from exc
        if manifest is None:
            raise FramesError("--lake", f"no lake at {lake_uri} (no _manifest.json)")
        frames = lake_service.read_frames(lake_uri)
    result = replay_rows(history_of(frames, read_tables(config_dir, inputs)), inputs, days)
    if out is not None:
        write_result(result, out)
    return result


def write_result(result: pl.DataFrame, directory: Path) -> None:
    """A replay result as one Parquet file in ``directory`` (replacing an earlier result)."""
    prepare_out(directory)
    directory.mkdir()
    result.sort(*KEYS).write_parquet(directory / RESULT_FILE)


def read_result(directory: Path) -> pl.DataFrame:
    """A replay result directory written by either engine, sorted by KEYS."""
    files = sorted(directory.glob("*.parquet"))
    if not files:
        raise FramesError("--out", f"no Parquet files in {directory}")
    return pl.read_parquet(files).sort(*KEYS)

"""Export the event record to the lake, incrementally, and read it back.

Crash safety: data files first, the manifest last and whole. An export that stops part-way
leaves files of its sequence number that no manifest lists; the next run has the same number,
removes them first and writes the same names again, so nothing is counted twice. A run that
finds nothing new writes nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from typing import Any

import polars as pl
from sqlalchemy.orm import Session

from riskdesk.indicators.compute import EventFrames
from riskdesk.kit.timeutil import utcnow
from riskdesk.lake import repository as repo
from riskdesk.lake.frames import frames_of
from riskdesk.lake.schemas import (
    ALL_EVENTS,
    EVENTS,
    FORMAT_VERSION,
    MONTH_OF,
    RESOLUTIONS,
    SNAPSHOTS,
    ExportReport,
    schema_of,
)
from riskdesk.lake.store import Lake

CHUNK_ROWS = 50_000  # rows fetched from the database at a time
FILE_ROWS = 250_000  # rows held before they are written: memory stays bounded by this
# How long a transaction may stay open after taking an id or stamping a resolution: an id
# missing below the mark is looked for again by the exports until one begins this long after
# it was seen missing (then it was a rolled-back insert), and resolutions are looked for from
# this long before the previous export began.
LATE_COMMIT = dt.timedelta(hours=1)
MAX_RANGES = 1000


def _frame(rows: Sequence[Any], schema: dict[str, Any], textual: bool) -> pl.DataFrame:
    """Rows as repository._wire reads them, as a frame of ``schema``."""
    wire: dict[str, Any] = {}
    parse: list[pl.Expr] = []
    for name, dtype in schema.items():
        if isinstance(dtype, pl.Decimal):
            wire[name] = pl.String
            parse.append(pl.col(name).str.to_decimal(scale=dtype.scale).cast(dtype))
        elif textual and isinstance(dtype, pl.Datetime):
            wire[name] = pl.String
            parse.append(
                pl.col(name).str.to_datetime(
                    "%Y-%m-%d %H:%M:%S%.f", time_zone="UTC", time_unit="us"
                )
            )
        elif textual and dtype == pl.Date:
            wire[name] = pl.String
            parse.append(pl.col(name).str.to_date("%Y-%m-%d"))
        else:
            wire[name] = dtype
    frame = pl.DataFrame([tuple(r) for r in rows], schema=wire, orient="row")
    return frame.with_columns(parse) if parse else frame


class _Writer:
    """Buffers one kind's rows by month and writes them as numbered part files."""

    def __init__(self, lake: Lake, kind: str, seq: int, file_rows: int) -> None:
        self.lake, self.kind, self.seq, self.file_rows = lake, kind, seq, file_rows
        self.schema = schema_of(kind)
        self.buffer: dict[str, list[pl.DataFrame]] = {}
        self.held = 0
        self.rows = 0
        self.files: list[str] = []

    def add(self, frame: pl.DataFrame) -> None:
        month = pl.col(MONTH_OF[self.kind]).dt.strftime("%Y-%m").alias("_month")
        for (key,), part in (
            frame.with_columns(month)
            .partition_by("_month", as_dict=True, maintain_order=True)
            .items()
        ):
            self.buffer.setdefault(str(key), []).append(part.drop("_month"))
        self.held += frame.height
        self.rows += frame.height
        if self.held >= self.file_rows:
            self.flush()

    def flush(self) -> None:
        for month in sorted(self.buffer):
            relative = (
                f"{self.kind}/month={month}/part-{self.seq:06d}-{len(self.files):05d}.parquet"
            )
            self.lake.write_frame(relative, pl.concat(self.buffer[month]))
            self.files.append(relative)
        self.buffer, self.held = {}, 0


def _recent(frame: pl.DataFrame, id_col: str, since: dt.datetime | None) -> dict[str, str]:
    """Complaint id -> resolved_at (ISO) of the rows resolved at ``since`` or after (None:
    every row resolved)."""
    resolved = frame.filter(pl.col("resolved_at").is_not_null())
    if since is not None:
        resolved = resolved.filter(pl.col("resolved_at") >= since)
    return {
        str(i): t.isoformat()
        for i, t in zip(resolved[id_col], resolved["resolved_at"], strict=True)
    }


def _ranges_without(ranges: list[list[Any]], found: set[int]) -> list[list[Any]]:
    """Each [lo, hi, seen] range less the ids found, as ranges again."""
    out: list[list[Any]] = []
    for lo, hi, seen in ranges:
        start = lo
        for i in sorted(x for x in found if lo <= x <= hi):
            if i > start:
                out.append([start, i - 1, seen])
            start = i + 1
        if start <= hi:
            out.append([start, hi, seen])
    return out


def _export_kind(
    session: Session, lake: Lake, kind: str, state: dict[str, Any], seq: int, now: dt.datetime,
    chunk_rows: int, file_rows: int, resolved_recently: dict[str, str],
) -> tuple[_Writer, dict[str, Any]]:  # fmt: skip
    """Write a kind's new rows; its next state in the manifest."""
    after = int(state.get("high_water", 0))
    ranges = list(state.get("missing", []))
    writer = _Writer(lake, kind, seq, file_rows)
    found: set[int] = set()
    gaps: list[list[Any]] = []
    last = after
    rows = repo.event_rows(
        session, kind, after=after, ranges=[(r[0], r[1]) for r in ranges], chunk=chunk_rows
    )
    for batch in rows:
        frame = _frame(batch, EVENTS[kind], repo.textual(session))
        ids = frame["id"]
        found.update(ids.filter(ids <= after).to_list())
        fresh = ids.filter(ids > after)
        if fresh.len():
            before = pl.concat([pl.Series([last], dtype=pl.Int64), fresh[:-1]])
            jumps = (fresh - before) > 1
            gaps += [
                [lo + 1, hi - 1, now.isoformat()]
                for lo, hi in zip(before.filter(jumps), fresh.filter(jumps), strict=True)
            ]
            last = int(fresh[-1])
        if kind == "complaints":
            # Written resolved already: not a resolution for the next export to add.
            resolved_recently.update(_recent(frame, "id", now - 2 * LATE_COMMIT))
        writer.add(frame)
    writer.flush()
    # A range seen more than LATE_COMMIT before this snapshot began has now been looked for
    # by a snapshot that sees every transaction open back then: what is missing was rolled back.
    cut = (now - LATE_COMMIT).isoformat()
    still = [r for r in _ranges_without(ranges, found) if r[2] >= cut]
    missing = (still + gaps)[-MAX_RANGES:]
    return writer, {
        **state,
        "high_water": last,
        "missing": missing,
        "rows": int(state.get("rows", 0)) + writer.rows,
        "files": [*state.get("files", []), *writer.files],
    }


def _export_resolutions(
    session: Session,
    lake: Lake,
    state: dict[str, Any],
    complaints_mark: int,
    prev_start: str | None,
    seq: int,
    now: dt.datetime,
    chunk_rows: int,
    file_rows: int,
) -> tuple[_Writer, dict[str, Any]]:
    """Write the resolutions of complaints exported unresolved (stamped since the previous
    export began, less a margin for late commits, and not written already)."""
    writer = _Writer(lake, "complaint_resolutions", seq, file_rows)
    recent: dict[str, str] = dict(state.get("recent", {}))
    if prev_start is not None and complaints_mark > 0:
        since = dt.datetime.fromisoformat(prev_start) - LATE_COMMIT
        rows = repo.resolutions(session, up_to=complaints_mark, since=since, chunk=chunk_rows)
        for batch in rows:
            new = [r for r in batch if str(r[0]) not in recent]
            if new:
                frame = _frame(new, RESOLUTIONS, repo.textual(session))
                writer.add(frame)
                recent.update(_recent(frame, "complaint_id", None))
    writer.flush()
    keep_from = (now - 2 * LATE_COMMIT).isoformat()
    return writer, {
        **state,
        "recent": {k: v for k, v in recent.items() if v >= keep_from},
        "rows": int(state.get("rows", 0)) + writer.rows,
        "files": [*state.get("files", []), *writer.files],
    }


def _digest(session: Session, kind: str, chunk_rows: int) -> tuple[str, int]:
    h = hashlib.sha256()
    count = 0
    for batch in repo.snapshot_rows(session, kind, chunk=chunk_rows):
        for r in batch:
            h.update(repr(tuple(r)).encode())
        count += len(batch)
    return h.hexdigest(), count


def _export_snapshot(
    session: Session, lake: Lake, kind: str, seq: int, chunk_rows: int
) -> list[str]:
    files: list[str] = []
    rows = repo.snapshot_rows(session, kind, chunk=chunk_rows)
    for n, batch in enumerate(rows):
        relative = f"{kind}/snapshot={seq:06d}/part-{n:05d}.parquet"
        lake.write_frame(relative, _frame(batch, SNAPSHOTS[kind], repo.textual(session)))
        files.append(relative)
    if not files:  # no customers yet: still a file, with the columns
        relative = f"{kind}/snapshot={seq:06d}/part-00000.parquet"
        lake.write_frame(relative, pl.DataFrame(schema=SNAPSHOTS[kind]))
        files.append(relative)
    return files


def _schema_text(kind: str) -> dict[str, str]:
    return {name: str(dtype) for name, dtype in schema_of(kind).items()}


def export(
    session: Session,
    target: str,
    *,
    chunk_rows: int = CHUNK_ROWS,
    file_rows: int = FILE_ROWS,
) -> ExportReport:
    """Write what is new since the lake's manifest (everything, the first time) to
    ``target``, a path or fsspec URI. Read the database in one snapshot: call it inside
    ``db.reading``/``db.snapshot``."""
    lake = Lake(target)
    manifest = lake.manifest() or {"format": FORMAT_VERSION, "seq": 0, "kinds": {}, "exports": []}
    if manifest.get("format") != FORMAT_VERSION:
        from riskdesk.kit.errors import ValidationFailed

        raise ValidationFailed(
            f"the lake's manifest has format {manifest.get('format')}, not {FORMAT_VERSION}",
            field="to",
        )
    seq = int(manifest["seq"]) + 1
    started = utcnow()
    # What a run of this number left when it stopped part-way: no manifest lists it.
    lake.remove(f"*/month=*/part-{seq:06d}-*.parquet")
    lake.remove(f"*/snapshot={seq:06d}")
    kinds: dict[str, Any] = dict(manifest["kinds"])
    report = ExportReport(seq=seq, target=target)
    changed = False
    resolved_recently: dict[str, str] = {}
    for kind in EVENTS:
        writer, kinds[kind] = _export_kind(
            session, lake, kind, kinds.get(kind, {}), seq, started, chunk_rows, file_rows,
            resolved_recently,
        )  # fmt: skip
        report.rows[kind], report.files = writer.rows, report.files + len(writer.files)
        changed = changed or writer.rows > 0
    previous = manifest["exports"][-1] if manifest["exports"] else None
    prev_complaints = int(manifest["kinds"].get("complaints", {}).get("high_water", 0))
    resolutions = kinds.get("complaint_resolutions", {})
    resolutions = {**resolutions, "recent": {**resolutions.get("recent", {}), **resolved_recently}}
    writer, kinds["complaint_resolutions"] = _export_resolutions(
        session, lake, resolutions, prev_complaints,
        previous["started_at"] if previous else None, seq, started, chunk_rows, file_rows,
    )  # fmt: skip
    report.rows["complaint_resolutions"] = writer.rows
    report.files += len(writer.files)
    changed = changed or writer.rows > 0
    for kind in SNAPSHOTS:
        digest, count = _digest(session, kind, chunk_rows)
        state = kinds.get(kind, {})
        if state.get("digest") == digest:
            continue
        files = _export_snapshot(session, lake, kind, seq, chunk_rows)
        kinds[kind] = {"digest": digest, "rows": count, "files": files, "snapshot": seq}
        report.rows[kind], report.files = count, report.files + len(files)
        changed = True
    if not changed:
        return report
    for kind in (*ALL_EVENTS, *SNAPSHOTS):
        kinds[kind]["columns"] = _schema_text(kind)
    finished = utcnow()
    manifest.update(
        seq=seq,
        kinds=kinds,
        exports=[
            *manifest["exports"],
            {
                "seq": seq,
                "started_at": started.isoformat(),
                "finished_at": finished.isoformat(),
                "rows": dict(report.rows),
            },
        ],
    )
    lake.write_manifest(manifest)
    report.wrote = True
    _drop_old_snapshots(lake, manifest)
    return report


def _drop_old_snapshots(lake: Lake, manifest: dict[str, Any]) -> None:
    """Keep each snapshot kind's current and previous snapshot (a reader that began on the
    previous manifest still finds its files); delete older ones."""
    taken = sorted({e["seq"] for e in manifest["exports"]})
    for kind in SNAPSHOTS:
        current = manifest["kinds"][kind]["snapshot"]
        keep = {current, *[s for s in taken if s < current][-1:]}
        for full in lake.fs.glob(lake.path(f"{kind}/snapshot=*")):
            if int(full.rsplit("=", 1)[1]) not in keep:
                lake.fs.rm(full, recursive=True)


def read_tables(target: str) -> dict[str, pl.DataFrame]:
    """Every kind of the lake as its manifest lists it (files a failed export left are not
    read); a lake never exported to reads as empty."""
    lake = Lake(target)
    manifest = lake.manifest()
    kinds: dict[str, Any] = manifest["kinds"] if manifest else {}
    tables: dict[str, pl.DataFrame] = {}
    for kind in (*ALL_EVENTS, *SNAPSHOTS):
        files = kinds.get(kind, {}).get("files", [])
        parts = [lake.read_frame(f) for f in files]
        schema: Any = schema_of(kind)
        tables[kind] = pl.concat(parts).cast(schema) if parts else pl.DataFrame(schema=schema)
    return tables


def read_frames(target: str, *, customer_ids: Sequence[int] | None = None) -> EventFrames:
    """The lake as the indicators read the database (indicators.service.load_history)."""
    ids = list(customer_ids) if customer_ids is not None else None
    return frames_of(read_tables(target), customer_ids=ids)

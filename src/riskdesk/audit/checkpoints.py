"""Checkpoints: the audit chains' heads, signed under the audit key and kept outside the
database.

A chain shows an entry edited, inserted or deleted among others, but not an ending cut off:
a chain emptied with its head row reset, or the audit tables put back from an older backup, is
a shorter chain that is whole. A checkpoint is a record of one chain's head at one moment, a
JSON line

    {"v": 1, "chain": "audit_log/3", "seq": 57, "hash": "…", "at": "2026-…Z", "mac": "…"}

whose MAC (HMAC-SHA256 under the audit key, which lives in the keyring, never in the database)
covers the rest, so whoever can only change the database can neither forge one nor move one.
Checkpoints are appended to files (by default ``<data_dir>/audit-checkpoints.jsonl``, mode 0600;
more files, e.g. on another volume, by setting) and, if wanted, written to the server log for a
log collector to keep. ``verify`` then requires each chain to hold its latest checkpoint's
entry, with the same hash.

Each chain has checkpoints of its own, named ``audit_log/<n>``; chain 0 is named
``audit_log``, as the single chain it was before 0027, so checkpoints taken then anchor it
still.
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
import logging
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from riskdesk.config import Settings
from riskdesk.models.audit import CHAINS
from riskdesk.security import keys

CHAIN = "audit_log"  # chain 0's name; chain n's is "audit_log/n"
FORMAT_VERSION = 1
HASH = re.compile(r"^[0-9a-f]{64}$")
TAIL_BYTES = 64 * 1024  # enough for the last few hundred checkpoints

log = logging.getLogger(__name__)
collector_log = logging.getLogger("riskdesk.audit.checkpoint")


@dataclass(frozen=True)
class Checkpoint:
    """The head of a chain at one moment, signed."""

    chain: str
    seq: int
    hash: str
    at: dt.datetime
    mac: str
    source: str = field(default="", compare=False)  # where it was read: "file:line"

    @property
    def number(self) -> int | None:
        """The chain's number, None for a name that is no chain of the log."""
        return chain_number(self.chain)

    def to_json(self) -> str:
        """The line stored in a checkpoint file (and written to the log)."""
        return json.dumps(
            {
                "v": FORMAT_VERSION,
                "chain": self.chain,
                "seq": self.seq,
                "hash": self.hash,
                "at": _stamp(self.at),
                "mac": self.mac,
            },
            separators=(",", ":"),
        )


@dataclass(frozen=True)
class Expected:
    """A head an operator kept elsewhere (a ticket, a notebook), given as ``CHAIN/SEQ:HASH``
    (``SEQ:HASH`` for chain 0)."""

    seq: int
    hash: str
    source: str = "--expect"
    chain: int = 0


def chain_name(chain: int) -> str:
    """The name checkpoints give a chain."""
    return CHAIN if chain == 0 else f"{CHAIN}/{chain}"


def chain_number(name: str) -> int | None:
    """The number of the chain a checkpoint names; None when it names none of the log's."""
    if name == CHAIN:
        return 0
    prefix, sep, number = name.partition("/")
    if prefix != CHAIN or not sep or not number.isdigit() or number != str(int(number)):
        return None
    chain = int(number)
    return chain if 0 < chain < CHAINS else None


def _stamp(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _message(chain: str, seq: int, digest: str, at: dt.datetime) -> bytes:
    # Its own prefix: an entry's MAC covers a JSON object, the head's "head:...".
    return f"checkpoint:v{FORMAT_VERSION}:{chain}:{seq}:{digest}:{_stamp(at)}".encode()


def sign(seq: int, digest: str, at: dt.datetime, chain: int = 0) -> Checkpoint:
    """A checkpoint of entry ``seq`` of a chain, whose hash is ``digest``, taken at ``at``."""
    name = chain_name(chain)
    return Checkpoint(name, seq, digest, at, keys.audit_mac(_message(name, seq, digest, at)))


def genuine(checkpoint: Checkpoint) -> bool:
    """True when the MAC matches: made with this installation's audit key, and unchanged."""
    c = checkpoint
    expected = keys.audit_mac(_message(c.chain, c.seq, c.hash, c.at))
    return hmac.compare_digest(expected, c.mac)


def parse_expected(text: str) -> Expected:
    """``CHAIN/SEQ:HASH`` (or ``SEQ:HASH``, chain 0) as printed by ``riskdesk audit verify``;
    ValueError naming what is wrong."""
    where, sep, digest = text.strip().partition(":")
    chain_text, slash, seq_text = where.rpartition("/")
    if not slash:
        chain_text = "0"
    if (
        not sep
        or not seq_text.isdigit()
        or int(seq_text) < 1
        or not chain_text.isdigit()
        or int(chain_text) >= CHAINS
    ):
        raise ValueError(
            f"{text!r} is not CHAIN/SEQ:HASH (a chain from 0 to {CHAINS - 1} and a slash, which "
            "may be left out for chain 0; an entry number of at least 1, a colon, a hash)"
        )
    if not HASH.match(digest.lower()):
        raise ValueError(f"{text!r}: the hash must be 64 hexadecimal digits")
    chain, seq = int(chain_text), int(seq_text)
    return Expected(seq, digest.lower(), source=f"--expect {chain}/{seq}", chain=chain)


@dataclass(frozen=True)
class BadLine:
    """A line of a checkpoint file that is not a genuine checkpoint."""

    source: str
    reason: str


@dataclass
class Found:
    """What the checkpoint files hold."""

    checkpoints: list[Checkpoint] = field(default_factory=list)
    bad: list[BadLine] = field(default_factory=list)
    looked_in: list[str] = field(default_factory=list)

    def latest(self, chain: int = 0) -> Checkpoint | None:
        """The genuine checkpoint of the chain that vouches for the most entries."""
        return self.latest_each().get(chain)

    def latest_each(self) -> dict[int, Checkpoint]:
        """:meth:`latest` of every chain that has a checkpoint."""
        return _latest_each(self.checkpoints)


def _latest_each(found: Iterable[Checkpoint]) -> dict[int, Checkpoint]:
    """Per chain, the checkpoint that vouches for the most entries (the later when two do)."""
    best: dict[int, Checkpoint] = {}
    for checkpoint in found:
        chain = checkpoint.number
        if chain is None:
            continue  # genuine, but of no chain the log has (none today)
        held = best.get(chain)
        if held is None or (checkpoint.seq, checkpoint.at) > (held.seq, held.at):
            best[chain] = checkpoint
    return best


def _parse(text: str, source: str) -> Checkpoint | BadLine:
    # A line copied from the server log carries the log's own prefix: the JSON is what counts.
    start = text.find("{")
    try:
        doc = json.loads(text[start:] if start >= 0 else text)
        if not isinstance(doc, dict) or doc.get("v") != FORMAT_VERSION:
            raise ValueError("not a checkpoint of this version")
        found = Checkpoint(
            chain=str(doc["chain"]),
            seq=int(doc["seq"]),
            hash=str(doc["hash"]),
            at=dt.datetime.fromisoformat(str(doc["at"]).replace("Z", "+00:00")),
            mac=str(doc["mac"]),
            source=source,
        )
        if found.at.tzinfo is None:
            raise ValueError("its time has no zone")
    except (ValueError, KeyError, TypeError) as exc:
        return BadLine(source, f"is not a checkpoint ({exc})")
    if not genuine(found):
        return BadLine(source, "fails its MAC: it was edited or forged (or signed by another key)")
    return found


def _lines(path: Path, *, tail: bool) -> Iterable[tuple[int | None, str]]:
    """(line number, text) of a file's lines; with ``tail``, of its last part only (line
    numbers then unknown)."""
    with path.open("rb") as stream:
        if tail:
            size = stream.seek(0, os.SEEK_END)
            start = max(0, size - TAIL_BYTES)
            stream.seek(start)
            chunk = stream.read().decode("utf-8", errors="replace").splitlines()
            if start > 0:
                chunk = chunk[1:]  # cut in the middle
            return [(None, line) for line in chunk]
        text = stream.read().decode("utf-8", errors="replace")
    return list(enumerate(text.splitlines(), start=1))


def read(paths: Iterable[Path]) -> Found:
    """Every checkpoint in these files, and the lines that are not genuine ones."""
    found = Found()
    for path in paths:
        if not path.exists():
            found.looked_in.append(f"{path} (missing)")
            continue
        found.looked_in.append(str(path))
        try:
            lines = _lines(path, tail=False)
        except OSError as exc:
            found.bad.append(BadLine(str(path), f"cannot be read ({exc.strerror})"))
            continue
        for number, text in lines:
            if not text.strip():
                continue
            parsed = _parse(text, f"{path}:{number}")
            if isinstance(parsed, Checkpoint):
                found.checkpoints.append(parsed)
            else:
                found.bad.append(parsed)
    return found


def latest_each(paths: Iterable[Path], wanted: Iterable[int] = ()) -> dict[int, Checkpoint]:
    """The latest genuine checkpoint of each chain, read from the files' ends (their last part
    holds the latest); a file is read whole only when its end lacks a chain in ``wanted``."""
    wanted = set(wanted)
    found: list[Checkpoint] = []
    for path in paths:
        if not path.exists():
            continue
        for tail in (True, False):
            here = [
                parsed
                for _, text in _lines(path, tail=tail)
                if text.strip() and isinstance(parsed := _parse(text, str(path)), Checkpoint)
            ]
            if wanted <= set(_latest_each(here)) or not tail:
                found.extend(here)
                break
    return _latest_each(found)


def latest(paths: Iterable[Path], chain: int = 0) -> Checkpoint | None:
    """The latest genuine checkpoint of one chain (see :func:`latest_each`)."""
    return latest_each(paths, {chain}).get(chain)


def _append(path: Path, lines: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # O_APPEND: one write for all lines, so lines of two processes never interleave (local
    # disks).
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        if os.fstat(fd).st_mode & 0o077:
            os.fchmod(fd, 0o600)  # readable by the owner only, whatever made it before
        os.write(fd, lines.encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def write(taken: Checkpoint | Sequence[Checkpoint], settings: Settings) -> list[str]:
    """Append the checkpoints (one line each) to every configured place; where they went. A
    file that cannot be written is logged and skipped; OSError when they went nowhere."""
    lines = [c.to_json() for c in ([taken] if isinstance(taken, Checkpoint) else taken)]
    written: list[str] = []
    failures: list[str] = []
    for path in settings.audit_checkpoint_paths():
        try:
            _append(path, "".join(line + "\n" for line in lines))
            written.append(str(path))
        except OSError as exc:
            log.error("audit checkpoint not written to %s: %s", path, exc.strerror or exc)
            failures.append(f"{path}: {exc.strerror or exc}")
    if settings.audit_checkpoint_log:
        for line in lines:  # a record each: a line kept by the collector reads back as one
            collector_log.info("audit checkpoint %s", line)
        written.append("the server log (riskdesk.audit.checkpoint)")
    if not written:
        raise OSError("the checkpoint was written nowhere: " + "; ".join(failures))
    return written

"""Key rotation: re-encrypt every stored value under the active key, while the service runs.

Each batch is its own short transaction, and a row is rewritten only if it still holds the
values that were read (a concurrent edit wins and the row is taken again in the next pass).
Passes repeat until none finds a value under an older key: a service that had not yet noticed
the new key may have written a few in the meantime.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from riskdesk.db import begin_writing
from riskdesk.security import keys
from riskdesk.security import repository as repo

BATCH = 500
MAX_PASSES = 20


@dataclass
class RotationReport:
    """What a re-encryption did."""

    key_id: str
    rewritten: int = 0
    passes: int = 0
    conflicts: int = 0


def key_usage(session: Session) -> Counter[str]:
    """How many stored values each key id sealed."""
    usage: Counter[str] = Counter()
    for name, columns in repo.encrypted_columns().items():
        for prefix in repo.key_prefixes(session, name, columns):
            try:
                usage[keys.key_id_of(prefix)] += 1
            except keys.KeyringError:
                usage["(not encrypted)"] += 1
    return usage


def reencrypt(
    factory: sessionmaker[Session], *, progress: Callable[[int], None] | None = None
) -> RotationReport:
    """Re-seal every value not under the active key; returns what was done."""
    ring = keys.reload()
    report = RotationReport(key_id=ring.active)
    prefix = f"{keys.FORMAT}:{ring.active}:"
    for _ in range(MAX_PASSES):
        report.passes += 1
        found = 0
        for name, columns in repo.encrypted_columns().items():
            after = 0
            while True:
                with factory() as session:
                    begin_writing(session)
                    rows = repo.rows_not_under(
                        session, name, columns, prefix, after=after, limit=BATCH
                    )
                    written = 0
                    for row in rows:
                        old = {c: row[c] for c in columns}
                        new = {
                            c: keys.seal(keys.open_sealed(v, f"{name}.{c}"), f"{name}.{c}")
                            for c, v in old.items()
                            if v is not None and not v.startswith(prefix)
                        }
                        if repo.replace_raw(session, name, row["id"], old, new):
                            written += 1
                        else:
                            report.conflicts += 1
                    session.commit()
                found += len(rows)
                report.rewritten += written
                if progress:
                    progress(written)
                if len(rows) < BATCH:
                    break
                after = rows[-1]["id"]
        if found == 0:
            return report
    raise keys.KeyringError(
        f"values under older keys kept appearing after {MAX_PASSES} passes; "
        "is a process still running with an old copy of the keyring?"
    )

"""What Riskdesk keeps on disk is its owner's only: files 0600, folders 0700.

The database file with its WAL and shared-memory files, uploaded documents, the keyring, the
secret key, audit checkpoints and import uploads all hold personal data or secrets. Two things
keep them private: the process's umask (set before anything is written, so every file it
creates is born private: SQLite gives its WAL and SHM files the database file's mode), and a
pass at start-up that takes group and other permissions off what an older version (or a copy
made by hand) left readable.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from sqlalchemy.engine import make_url

from riskdesk.config import Settings

log = logging.getLogger(__name__)

PRIVATE_UMASK = 0o077
SQLITE_SIDECARS = ("-wal", "-shm", "-journal")


def restrict_new_files() -> None:
    """From now on, files and folders this process creates are readable by its owner only."""
    os.umask(PRIVATE_UMASK)


def _tighten(path: Path) -> bool:
    """Take group and other permissions off one file or folder; True when it changed."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        return False
    if stat.S_ISLNK(info.st_mode) or not (info.st_mode & PRIVATE_UMASK):
        return False
    try:
        path.chmod(stat.S_IMODE(info.st_mode) & ~PRIVATE_UMASK)
    except PermissionError:
        log.warning("cannot make %s private: not its owner", path)
        return False
    return True


def tighten_tree(root: Path) -> int:
    """Make a folder and everything under it private (links are left alone); how many changed."""
    if not root.is_dir() or root.is_symlink():
        return int(_tighten(root))
    changed = int(_tighten(root))
    for folder, dirs, files in os.walk(root):
        base = Path(folder)
        changed += sum(_tighten(base / name) for name in (*dirs, *files))
    return changed


def sqlite_files(database_url: str) -> list[Path]:
    """The files of a SQLite database (main file, WAL, SHM, journal); none for other engines."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return []
    main = Path(url.database)
    return [main, *(main.with_name(main.name + suffix) for suffix in SQLITE_SIDECARS)]


def secure_storage(settings: Settings) -> int:
    """At start-up: new files private from now on, and what exists made private; how many
    files or folders had to change."""
    restrict_new_files()
    changed = tighten_tree(settings.data_dir)
    for path in [*sqlite_files(settings.database_url), settings.key_file]:
        if path is not None:
            changed += _tighten(path)
    if changed:
        log.warning("made %s file(s) and folder(s) readable by their owner only", changed)
    return changed

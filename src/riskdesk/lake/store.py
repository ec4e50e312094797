"""Files of the lake through fsspec: a plain path, file://, memory://, s3://... (the
filesystem's package, e.g. s3fs, installed by the user)."""

from __future__ import annotations

import io
import json
from typing import Any

import fsspec
import polars as pl
from fsspec.implementations.local import LocalFileSystem

from riskdesk.lake.schemas import MANIFEST


class Lake:
    """One lake's root on its filesystem."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.fs, root = fsspec.core.url_to_fs(uri)
        self.root = root.rstrip("/")

    def path(self, relative: str) -> str:
        """The full path of a file given relative to the root."""
        return f"{self.root}/{relative}"

    def write_frame(self, relative: str, frame: pl.DataFrame) -> None:
        """Write a Parquet file (replacing one of the same name)."""
        full = self.path(relative)
        self.fs.makedirs(full.rsplit("/", 1)[0], exist_ok=True)
        buffer = io.BytesIO()
        frame.write_parquet(buffer, statistics=True)
        # One put of the whole file: an object store never shows half of it.
        self.fs.pipe_file(full, buffer.getvalue())

    def read_frame(self, relative: str) -> pl.DataFrame:
        """Read one Parquet file."""
        with self.fs.open(self.path(relative), "rb") as f:
            return pl.read_parquet(f)

    def manifest(self) -> dict[str, Any] | None:
        """The manifest, or None for a lake never exported to."""
        full = self.path(MANIFEST)
        if not self.fs.exists(full):
            return None
        loaded: dict[str, Any] = json.loads(self.fs.cat_file(full))
        return loaded

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        """Replace the manifest at once: written aside and renamed on a local disk; an object
        store's put is atomic itself."""
        data = json.dumps(manifest, indent=1, sort_keys=True).encode()
        full = self.path(MANIFEST)
        self.fs.makedirs(self.root, exist_ok=True)
        if isinstance(self.fs, LocalFileSystem):
            aside = full + ".partial"
            self.fs.pipe_file(aside, data)
            self.fs.mv(aside, full)  # os.rename within one directory: atomic
        else:
            self.fs.pipe_file(full, data)

    def remove(self, pattern: str) -> int:
        """Delete the files matching a glob under the root; how many."""
        found = self.fs.glob(self.path(pattern))
        for full in found:
            self.fs.rm(full, recursive=True)
        return len(found)

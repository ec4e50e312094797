"""The lake: an append-only Parquet copy of the event record, for engines past one machine.

``riskdesk lake export --to DIR_OR_URI`` writes the events (corrections included, as the
events they are), customers and credit profiles; ``read_frames`` reads it back as the
indicators read the database (docs/architecture.md, "The lake").
"""

from riskdesk.lake.frames import frames_of
from riskdesk.lake.service import export, read_frames, read_tables

__all__ = ["export", "frames_of", "read_frames", "read_tables"]

"""The server's import reaper: marks failed the imports whose process was lost."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from riskdesk.config import Settings
from riskdesk.kit.periodic import Periodic
from riskdesk.pipeline import intake


class ImportReaper(Periodic):
    """A thread that looks for lost imports at start and then every interval until stopped."""

    def __init__(self, factory: sessionmaker[Session], settings: Settings) -> None:
        super().__init__(
            "import-reaper",
            lambda: settings.import_reap_interval_seconds,
            lambda: intake.reap_interrupted(
                factory, grace_seconds=settings.import_lease_grace_seconds
            ),
        )

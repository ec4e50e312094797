"""What every entry point runs once before it opens a session: the web app (``create_app``),
the CLI (its callback, for every command), the benchmarks and the tests (``conftest``).

The engine module (``riskdesk.db``) stands below every domain and imports none; the audit
trail, which must see every write, is hooked in from here: its listeners on SQLAlchemy's
``Session`` (each flush, bulk statement, commit and rollback), and the request and
after-commit hooks of the session dependency and the unit of work. Those two refuse to open
a session until this has run, so an entry point that forgets it fails at once instead of
writing unaudited.
"""

from __future__ import annotations

from riskdesk import db
from riskdesk.audit import trail


def install() -> None:
    """Install the audit trail's hooks (once; calling again changes nothing)."""
    trail.listen()
    db.install_session_hooks(
        db.SessionHooks(prepare_request=trail.prepare_request, committed=trail.append_pending_views)
    )

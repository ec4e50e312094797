"""Alembic migrations, run with ``riskdesk db upgrade`` (see riskdesk.migrations.runner)."""

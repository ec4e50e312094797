"""All SQL of company settings."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from riskdesk.models import CompanySetting


def get_setting(session: Session, name: str) -> CompanySetting | None:
    """A setting's row, or None while it has never been set."""
    return session.scalar(select(CompanySetting).where(CompanySetting.name == name))


def setting_value(session: Session, name: str) -> str | None:
    """A setting's value alone (one primary-key read)."""
    return session.scalar(select(CompanySetting.value).where(CompanySetting.name == name))

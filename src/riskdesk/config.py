"""Settings, read once from the environment (prefix ``RISKDESK_``)."""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

VAR_DIR = Path("var")


class Settings(BaseSettings):
    """Everything an operator can set; see the README for the list."""

    model_config = SettingsConfigDict(env_prefix="RISKDESK_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default=f"sqlite:///{VAR_DIR / 'riskdesk.db'}",
        description="SQLAlchemy URL; SQLite (embedded) or postgresql+psycopg://...",
    )
    secret_key: str = Field(
        default="",
        description="Signs session cookies and CSRF tokens. Empty: a key is generated "
        "once and kept in var/secret_key.",
    )
    data_dir: Path = Field(default=VAR_DIR, description="Where documents and keys are stored.")
    host: str = "127.0.0.1"
    port: int = 8000
    session_hours: int = Field(default=12, ge=1, le=24 * 30)
    cookie_secure: bool = Field(default=False, description="Set behind TLS.")
    default_locale: str = Field(default="zh-CN", pattern=r"^(zh-CN|en)$")
    max_batch_records: int = Field(default=10_000, ge=1)
    max_upload_mb: int = Field(default=200, ge=1)
    demo_customers: int = Field(default=2000, ge=0)
    demo_months: int = Field(default=24, ge=1, le=120)
    log_level: str = "INFO"

    def resolved_secret_key(self) -> str:
        """The configured key, or one generated once and stored under the data dir."""
        if self.secret_key:
            return self.secret_key
        path = self.data_dir / "secret_key"
        if path.exists():
            return path.read_text().strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        path.write_text(key)
        path.chmod(0o600)
        return key


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings."""
    return Settings()

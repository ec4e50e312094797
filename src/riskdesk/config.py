"""Settings, read once from the environment (prefix ``RISKDESK_``)."""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import json
import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url

from riskdesk.kit.timeutil import zone_names

VAR_DIR = Path("var")
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def _parse_networks(value: str) -> tuple[IPNetwork, ...]:
    parts = [p.strip() for p in value.split(",") if p.strip()]
    return tuple(ipaddress.ip_network(p, strict=False) for p in parts)


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
    key_file: Path | None = Field(
        default=None,
        description="The keyring (data, index and audit keys) as a file; empty: "
        "<data_dir>/keyring.json, made on first start. Keep it out of database backups.",
    )
    keyring: SecretStr = Field(
        default=SecretStr(""),
        description="The keyring as JSON, instead of a key file (containers, secret managers).",
    )
    db_connect_timeout_seconds: float = Field(
        default=2.0,
        gt=0,
        le=120,
        description="PostgreSQL: how long opening a connection may take (whole seconds, at "
        "least 2).",
    )
    db_statement_timeout_seconds: float = Field(
        default=60.0,
        ge=0,
        description="PostgreSQL statement_timeout of the web process (requests and the imports "
        "they start); a server that does not answer at all is given up 2 s later. 0: none.",
    )
    db_ping_timeout_seconds: float = Field(
        default=1.0,
        gt=0,
        le=60,
        description="PostgreSQL: how long the check of a pooled connection before use may take.",
    )
    db_pool_size: int = Field(default=5, ge=1, le=1000)
    db_max_overflow: int = Field(default=10, ge=0, le=1000)
    db_pool_timeout_seconds: float = Field(
        default=2.0,
        gt=0,
        le=300,
        description="How long a request waits for a free pooled connection before a 503.",
    )
    db_request_wait_seconds: float = Field(
        default=5.0,
        gt=0,
        le=300,
        description="SQLite: how long a request waits for the write lock (another request, an "
        "import) before a 503. Imports, jobs and the CLI wait up to 30 s.",
    )
    redis_url: SecretStr = Field(
        default=SecretStr(""),
        description="redis://[:password@]host:port/db; when set, the login throttle and running "
        "imports' progress are shared through Redis instead of the database. Empty: the "
        "database holds them.",
    )
    redis_key_prefix: str = Field(
        default="",
        max_length=100,
        description="Prefix of every Redis key, so that installs (or test schemas) sharing one "
        "Redis keep apart; empty: derived from the database's name and schema.",
    )
    redis_timeout_seconds: float = Field(
        default=1.0,
        gt=0,
        le=30,
        description="How long connecting to Redis or one command may take before the node "
        "does without it (the database stands in).",
    )
    host: str = "127.0.0.1"
    port: int = 8000
    session_hours: int = Field(default=12, ge=1, le=24 * 30)
    cookie_secure: bool = Field(default=False, description="Set behind TLS.")
    forwarded_allow_ips: str = Field(
        default="",
        description="Addresses of the reverse proxies whose X-Forwarded-For is trusted (comma "
        "separated); empty: none, the client address is the connection's.",
    )
    login_failures_per_address: int = Field(
        default=20, ge=1, description="Failed sign-ins one address may make per window."
    )
    login_throttle_seconds: float = Field(default=300.0, gt=0, le=86400)
    lockout_failures: int = Field(
        default=10, ge=1, le=1000, description="Wrong passwords in a row that lock an account."
    )
    lockout_minutes: float = Field(
        default=15.0,
        gt=0,
        le=7 * 24 * 60,
        description="How long a lock-out lasts; each further one without a successful sign-in "
        "in between lasts twice as long as the one before.",
    )
    lockout_max_minutes: float = Field(
        default=24 * 60.0, gt=0, le=30 * 24 * 60, description="The longest a lock-out lasts."
    )
    default_locale: str = Field(default="zh-CN", pattern=r"^(zh-CN|en)$")
    time_zone: str = Field(
        default="UTC",
        description="The IANA time zone pages show times in (Asia/Shanghai) until an "
        "administrator sets the company's on the settings page; the API and exports stay UTC.",
    )
    max_batch_records: int = Field(default=10_000, ge=1)
    business_date_min: dt.date = Field(
        default=dt.date(1970, 1, 1),
        ge=dt.date(1900, 1, 1),
        description="The earliest business date or timestamp accepted (orders, invoices, "
        "reports, statements, profile dates...); older ones are refused, naming the field.",
    )
    business_date_max_years_ahead: int = Field(
        default=10,
        ge=1,
        le=100,
        description="How many years ahead a date that is due or planned may lie (due dates, "
        "contract terms, limit validity, next review); dates of what happened may not lie "
        "after tomorrow.",
    )
    max_upload_mb: int = Field(default=200, ge=1)
    import_max_rows: int = Field(
        default=1_000_000,
        ge=1,
        description="Data rows a file import may hold; a larger file is refused (413) before "
        "its rows are read.",
    )
    import_reap_interval_seconds: float = Field(
        default=30.0,
        ge=0,
        description="How often the server looks for imports whose process was lost (killed, "
        "crashed) and marks them failed; 0 is never.",
    )
    import_lease_grace_seconds: float = Field(
        default=60.0,
        ge=0,
        description="How old a running import without a live process must be before it counts "
        "as lost (its runner may be about to start).",
    )
    import_max_uncompressed_mb: int = Field(
        default=1024,
        ge=1,
        description="What an Excel file may unpack to; a larger one (a zip bomb, or a sheet "
        "far beyond the row limit) is refused (413) without unpacking it.",
    )
    alert_budget_per_week: int = Field(
        default=0,
        ge=0,
        le=100_000,
        description="How many new alerts a team (the assignee's team; a user without one on "
        "their own) is notified of per ISO week, highest priority first within a run; the rest "
        "are listed in the queue, not notified. 0: no budget.",
    )
    alert_severity_stakes: dict[str, float] = Field(
        default={"medium": 10_000, "high": 100_000, "critical": 1_000_000},
        description="The least amount at stake (CNY: expected loss, or value at risk for "
        "churn) for an alert to be medium, high or critical (JSON); below the medium one it is "
        "low. A signal that is right less than half the time is at most medium, one right less "
        "than 80% of the time at most high, and no alert exceeds its rule's severity.",
    )
    complaint_surge_seconds: float = Field(
        default=600.0,
        ge=0,
        le=86400,
        description="How often the server checks every product for a complaint surge (a "
        "product-level alert); 0: never (`riskdesk rules run` and POST /complaint-surges do "
        "it too).",
    )
    warning_backtest_days: int = Field(
        default=7,
        ge=0,
        le=365,
        description="How often the server replays the active warning pack over the last year "
        "and keeps each warning type's precision, which grades new alerts' severity; 0: never "
        "(run `riskdesk warnings replay` from cron instead).",
    )
    event_workers: int = Field(
        default=1,
        ge=0,
        le=16,
        description="Worker threads inside the server that process committed events "
        "(indicators, rules, alerts, playbooks); 0: none, when `riskdesk worker` processes run "
        "beside the API nodes.",
    )
    job_workers: int = Field(
        default=1,
        ge=0,
        le=16,
        description="Worker threads inside the server that run background jobs (scoring runs, "
        "trainings, backtests, replays); 0: none, when `riskdesk worker` processes run them.",
    )
    job_poll_seconds: float = Field(
        default=2.0,
        gt=0,
        le=300,
        description="How often an idle job worker looks for jobs queued by other processes "
        "(a job queued by its own process wakes it at once).",
    )
    job_reap_interval_seconds: float = Field(
        default=30.0,
        ge=0,
        description="How often the server looks for running jobs whose process was lost and "
        "queues them again (or fails them after their last attempt); 0 is never.",
    )
    job_lease_grace_seconds: float = Field(
        default=60.0,
        ge=0,
        description="How long a running job without a live process must have been silent "
        "before it counts as lost.",
    )
    event_partitions: int = Field(
        default=64,
        ge=1,
        le=4096,
        description="Partitions of the event queue (hash of the customer's group, or of the "
        "customer, mod this): one worker at a time owns a partition, so a customer's events "
        "keep their order. Change it only while the queue is empty.",
    )
    event_batch_customers: int = Field(
        default=100,
        ge=1,
        le=10_000,
        description="Customers a worker processes in one transaction at most.",
    )
    event_max_deliveries: int = Field(
        default=5,
        ge=1,
        le=100,
        description="Attempts at a customer's queued work before it goes to dead letters.",
    )
    event_wait_seconds: float = Field(
        default=0.0,
        ge=0,
        le=60,
        description="How long an intake request waits for its events' processing when the "
        "client does not say (the `wait` parameter); 0: answer once the events are committed.",
    )
    event_linger_seconds: float = Field(
        default=0.05,
        ge=0,
        le=5,
        description="How long an idle worker, woken by new work, waits for more before it "
        "processes a batch (a batch costs about the same for one customer as for a hundred).",
    )
    event_poll_seconds: float = Field(
        default=0.2,
        ge=0.01,
        le=60,
        description="How often an idle worker looks for work committed by other processes "
        "(work committed in its own process wakes it at once).",
    )
    event_bus: str = Field(
        default="",
        description="What carries queued work between processes: empty or `database` (workers "
        "poll the queue table), or `nats://host:port` (several separated by commas) for NATS "
        "JetStream. The queue table stays the durable record either way.",
    )
    event_bus_name: str = Field(
        default="",
        pattern=r"^[A-Za-z0-9_-]{0,32}$",
        description="Names this installation's stream, subjects and consumer on the NATS "
        "server (`riskdesk.<name>.work.<partition>`), so installations sharing a server never "
        "meet; empty: derived from the database's name and schema.",
    )
    event_bus_relay_seconds: float = Field(
        default=5.0,
        gt=0,
        le=600,
        description="With NATS: queued work still waiting this long is published again by the "
        "workers' relay (after a crash or a NATS outage between commit and publish); "
        "JetStream drops the copies it already holds.",
    )
    overdue_grace_days: int = Field(
        default=0,
        ge=0,
        le=90,
        description="Early warnings count an open invoice as overdue only once it is more than "
        "this many days past due, so that a payment a late feed has not delivered yet raises "
        "nothing; 0: from the day after its due date. Credit files, scores and backtests show "
        "the real days past due.",
    )
    demo_customers: int = Field(default=2000, ge=0)
    demo_months: int = Field(default=24, ge=1, le=120)
    log_level: str = "INFO"
    public_url: str = Field(
        default="http://127.0.0.1:8000", description="How users reach Riskdesk (links in e-mails)."
    )
    smtp_host: str = Field(default="", description="SMTP server for e-mail; empty: no e-mail.")
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_username: str = ""
    smtp_password: SecretStr = SecretStr("")
    smtp_starttls: bool = False
    smtp_ssl: bool = Field(default=False, description="Implicit TLS (usually port 465).")
    smtp_sender: str = "riskdesk@localhost"
    delivery_interval_seconds: float = Field(
        default=2.0,
        ge=0,
        description="How often the in-process worker sends e-mails and webhooks; 0: not at all "
        "(separate workers run `riskdesk notify deliver`).",
    )
    report_schedule_interval_seconds: float = Field(
        default=3600.0,
        ge=0,
        description="How often the server queues the report e-mails due (the committee pack on "
        "the 1st, the weekly summary on Mondays; each once per period); 0: not at all (run "
        "`riskdesk reports send-due` from cron instead).",
    )
    month_end_interval_seconds: float = Field(
        default=600.0,
        ge=0,
        description="How often the server stores the dashboard's month ends (the ageing and "
        "sales of each customer at the last 14 month ends) and stores again the customers a "
        "late event made stale; 0: not at all (run `riskdesk portfolio month-ends` from cron "
        "instead). The dashboard's figures are the same either way; it answers sooner.",
    )
    delivery_max_attempts: int = Field(default=8, ge=1, le=30)
    delivery_backoff_seconds: float = Field(
        default=30.0, gt=0, description="First retry delay; doubled after each failure."
    )
    delivery_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    webhook_allowed_networks: str = Field(
        default="",
        description="Networks (comma separated, e.g. 10.1.2.0/24,127.0.0.1) that webhooks may "
        "call although they are loopback, private or link-local; empty: public addresses only.",
    )
    audit_checkpoint_files: Annotated[list[Path], NoDecode] = Field(
        default=[],
        description="Files the audit log's signed checkpoints are appended to (a JSON list, or "
        "paths separated by commas); empty: <data_dir>/audit-checkpoints.jsonl. Put one on "
        "another volume or host, out of reach of whoever can change the database.",
    )
    audit_checkpoint_log: bool = Field(
        default=False,
        description="Also write each checkpoint to the server log (logger "
        "riskdesk.audit.checkpoint), for a log collector to keep.",
    )
    audit_checkpoint_interval_seconds: float = Field(
        default=300.0,
        ge=0,
        description="How often the server checkpoints the audit log (only when it grew); 0: "
        "never (run `riskdesk audit checkpoint` from cron instead).",
    )
    complaint_response_hours: dict[str, float] = Field(
        default={"critical": 4, "high": 24, "medium": 48, "low": 72},
        description="Hours to answer a complaint, by severity (JSON).",
    )
    complaint_resolution_days: dict[str, float] = Field(
        default={"critical": 2, "high": 5, "medium": 10, "low": 15},
        description="Days to resolve a complaint, by severity (JSON).",
    )

    consent_required: list[str] = Field(
        default=["credit_assessment", "behaviour_monitoring"],
        description="Purposes for which an individual's consent is checked before processing "
        "(JSON list of credit_assessment, behaviour_monitoring, marketing).",
    )
    retention: dict[str, int] = Field(
        default={
            "personal_data_inactive_days": 5 * 365,
            "notifications_days": 365,
            "deliveries_days": 90,
            "sessions_days": 30,
        },
        description="How long data is kept (JSON); `riskdesk privacy retention` applies it.",
    )

    @field_validator("webhook_allowed_networks")
    @classmethod
    def _networks(cls, value: str) -> str:
        try:
            _parse_networks(value)
        except ValueError as exc:
            raise ValueError(f"not a network: {exc}") from None
        return value

    @field_validator("event_bus")
    @classmethod
    def _bus(cls, value: str) -> str:
        text = value.strip()
        if text.lower() in ("", "database"):
            return ""
        servers = [s.strip() for s in text.split(",")]
        if not all(s.startswith(("nats://", "tls://")) and len(s) > 7 for s in servers):
            raise ValueError("empty, `database`, or nats://host:port (comma-separated)")
        return ",".join(servers)

    def bus_name(self) -> str:
        """The configured bus name, or one naming the database and schema the URL selects (not
        the host nor the password: nodes that reach one database by different addresses must
        share the stream, as they share Redis keys)."""
        if self.event_bus_name:
            return self.event_bus_name
        url = make_url(self.database_url)
        identity = f"{url.get_backend_name()}|{url.database or ''}|{url.query.get('options', '')}"
        return hashlib.sha256(identity.encode()).hexdigest()[:12]

    def webhook_networks(self) -> tuple[IPNetwork, ...]:
        """The networks webhooks may call although they are not public."""
        return _parse_networks(self.webhook_allowed_networks)

    @field_validator("audit_checkpoint_files", mode="before")
    @classmethod
    def _paths(cls, value: object) -> object:
        # From the environment: a JSON list, or one path, or several separated by commas.
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    def audit_checkpoint_paths(self) -> list[Path]:
        """Where checkpoints are written and read: the configured files, or the default one."""
        return list(self.audit_checkpoint_files) or [self.data_dir / "audit-checkpoints.jsonl"]

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        if value != "UTC" and value not in zone_names():
            raise ValueError(f"unknown IANA time zone {value!r} (e.g. Asia/Shanghai)")
        return value

    @field_validator("consent_required")
    @classmethod
    def _known_purposes(cls, value: list[str]) -> list[str]:
        unknown = set(value) - {"credit_assessment", "behaviour_monitoring", "marketing"}
        if unknown:
            raise ValueError(f"unknown purpose(s): {', '.join(sorted(unknown))}")
        return value

    @field_validator("retention")
    @classmethod
    def _retention(cls, value: dict[str, int]) -> dict[str, int]:
        known = {
            "personal_data_inactive_days",
            "notifications_days",
            "deliveries_days",
            "sessions_days",
        }
        if set(value) - known or any(v < 1 for v in value.values()):
            raise ValueError(f"keys from {', '.join(sorted(known))}, each at least 1 day")
        return value

    @field_validator("complaint_response_hours", "complaint_resolution_days")
    @classmethod
    def _every_severity(cls, value: dict[str, float]) -> dict[str, float]:
        missing = {"low", "medium", "high", "critical"} - set(value)
        if missing or any(v <= 0 for v in value.values()):
            raise ValueError("needs a positive value for each of low, medium, high, critical")
        return value

    @field_validator("alert_severity_stakes")
    @classmethod
    def _ascending_stakes(cls, value: dict[str, float]) -> dict[str, float]:
        levels = ("medium", "high", "critical")
        if (
            set(value) != set(levels)
            or not 0 <= value["medium"] <= value["high"] <= value["critical"]
        ):
            raise ValueError("needs medium <= high <= critical, each 0 or more, and no other key")
        return value

    def resolved_secret_key(self) -> str:
        """The configured key, or one generated once and stored under the data dir."""
        if self.secret_key:
            return self.secret_key
        path = self.data_dir / "secret_key"
        if path.exists():
            return path.read_text().strip()
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = secrets.token_urlsafe(48)
        # Created 0600, never readable by others for a moment.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(key)
        return key


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings."""
    return Settings()

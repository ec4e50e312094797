"""riskdesk keys: the keyring that encrypts personal data, and rotating it."""

from __future__ import annotations

from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session, sessionmaker

from riskdesk.security import keys

keys_app = typer.Typer(help="Encryption keys: status, rotation, retirement.", no_args_is_help=True)
console = Console()


def _fail(reason: str) -> NoReturn:
    typer.echo(f"error: {reason}", err=True)
    raise typer.Exit(2)


def _factory() -> sessionmaker[Session]:
    from riskdesk.config import get_settings
    from riskdesk.db import make_engine, make_sessionmaker

    return make_sessionmaker(make_engine(get_settings().database_url))


def _ring() -> keys.Keyring:
    try:
        return keys.current()
    except keys.KeyringError as exc:
        _fail(str(exc))


@keys_app.command("init")
def init() -> None:
    """Create the key file for a new installation (refused if it exists). Back it up apart from
    the database: without it the personal data cannot be read."""
    from riskdesk.config import get_settings

    settings = get_settings()
    if settings.keyring.get_secret_value():
        _fail("RISKDESK_KEYRING is set: the keyring comes from the environment")
    path = settings.key_file or settings.data_dir / "keyring.json"
    if path.exists():
        _fail(f"{path} exists already; `riskdesk keys rotate` adds a new key")
    keys.allow_create()
    ring = keys.reload()
    console.print(f"keyring created at {path} with data key {ring.active}; back it up now")


@keys_app.command("status")
def status() -> None:
    """The keyring's keys and how many stored values each one sealed."""
    from riskdesk.security.rotation import key_usage

    ring = _ring()
    with _factory()() as session:
        usage = key_usage(session)
    table = Table("key id", "state", "values")
    for kid in sorted(set(ring.data_keys) | set(usage)):
        state = "active" if kid == ring.active else ("kept" if kid in ring.data_keys else "MISSING")
        table.add_row(kid, state, str(usage.get(kid, 0)))
    console.print(table)
    console.print(f"keyring: {ring.path or 'RISKDESK_KEYRING (environment)'}")


def _reencrypt() -> None:
    from riskdesk.security.rotation import reencrypt

    try:
        report = reencrypt(_factory())
    except keys.KeyringError as exc:
        _fail(str(exc))
    console.print(
        f"{report.rewritten} value(s) re-encrypted under {report.key_id} in {report.passes} "
        f"pass(es); {report.conflicts} taken again after a concurrent edit"
    )


@keys_app.command("rotate")
def rotate() -> None:
    """Add a new data key, make it the active one, and re-encrypt every value under it.

    The service keeps running: it picks up the new key file within a second. The old key stays
    in the keyring (to open backups); `riskdesk keys retire` removes it once nothing uses it.
    """
    ring = _ring()
    if ring.path is None:
        _fail(
            "the keyring comes from RISKDESK_KEYRING; add a key with `riskdesk keys generate "
            "--from-current`, deploy it to every process, then run `riskdesk keys reencrypt`"
        )
    rotated = keys.with_new_active_key(ring)
    keys.write_file(rotated, ring.path)
    console.print(f"new active key {rotated.active} written to {ring.path}")
    _reencrypt()


@keys_app.command("reencrypt")
def reencrypt_command() -> None:
    """Re-encrypt every value not yet under the active key (after a key was added)."""
    _ring()
    _reencrypt()


@keys_app.command("retire")
def retire(key_id: str) -> None:
    """Remove an old data key from the key file; refused while any value still uses it."""
    from riskdesk.security.rotation import key_usage

    ring = _ring()
    if ring.path is None:
        _fail("the keyring comes from RISKDESK_KEYRING; remove the key there")
    with _factory()() as session:
        left = key_usage(session).get(key_id, 0)
    if left:
        _fail(f"{left} value(s) are still sealed with {key_id}; run `riskdesk keys reencrypt`")
    try:
        keys.write_file(keys.without_key(ring, key_id), ring.path)
    except keys.KeyringError as exc:
        _fail(str(exc))
    console.print(f"key {key_id} removed from {ring.path}")


@keys_app.command("generate")
def generate(
    from_current: Annotated[
        bool, typer.Option(help="keep the current keys and add a new active one")
    ] = False,
) -> None:
    """Print a keyring as JSON (for RISKDESK_KEYRING or a key file); nothing is stored."""
    ring = keys.with_new_active_key(_ring()) if from_current else keys.generate()
    typer.echo(ring.to_json())

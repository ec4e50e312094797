"""The keyring and field encryption: AES-GCM with a key id on every value, and blind indexes.

Keys never live in the database. They come from ``RISKDESK_KEYRING`` (the keyring as JSON, for
containers and secret managers) or from a key file (``RISKDESK_KEY_FILE``, by default
``var/keyring.json``, made by ``riskdesk keys init`` or ``make run``, mode 0600). The keyring
holds:

- data keys by id, one of them active: new values are sealed with it, older ones stay to open
  what they sealed until ``riskdesk keys rotate`` has re-encrypted everything;
- the index key, for blind indexes (keyed HMAC of a normalised value), so exact-match search
  works without storing the value;
- the audit key, which chains the audit log (an HMAC chain cannot be rewritten without it).

A running service notices a rotated key file within a second, and at once when it meets a key
id it does not know, so rotation needs no restart.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import os
import re
import secrets
import threading
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from riskdesk.config import get_settings
from riskdesk.kit import identifiers

FORMAT = "v1"  # stored as "v1:<key id>:<base64 of nonce + ciphertext + tag>"
E164 = re.compile(r"\+[1-9]\d{6,14}")
KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_NONCE = 12
RELOAD_CHECK_SECONDS = 1.0


class KeyringError(RuntimeError):
    """The keyring is missing, malformed, or lacks a key a stored value needs."""


@dataclass(frozen=True)
class Keyring:
    """Data keys by id, the active id, the index key and the audit key."""

    data_keys: dict[str, bytes]
    active: str
    index_key: bytes
    audit_key: bytes
    path: Path | None = None  # None: read from the environment, cannot be rotated in place
    _ciphers: dict[str, AESGCM] = field(default_factory=dict, compare=False, repr=False)

    def cipher(self, key_id: str) -> AESGCM:
        """The AES-GCM cipher of one data key."""
        found = self._ciphers.get(key_id)
        if found is None:
            found = self._ciphers[key_id] = AESGCM(self.data_keys[key_id])
        return found

    def to_json(self) -> str:
        """The keyring as stored in a key file or ``RISKDESK_KEYRING``."""
        return json.dumps(
            {
                "version": 1,
                "active": self.active,
                "data_keys": {k: _b64(v) for k, v in self.data_keys.items()},
                "index_key": _b64(self.index_key),
                "audit_key": _b64(self.audit_key),
            },
            indent=2,
        )


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _key(text: object, name: str) -> bytes:
    try:
        raw = base64.b64decode(str(text), validate=True)
    except ValueError:
        raise KeyringError(f"keyring: {name} is not base64") from None
    if len(raw) != 32:
        raise KeyringError(f"keyring: {name} must be 32 bytes (256 bits), not {len(raw)}")
    return raw


def parse(text: str, path: Path | None = None) -> Keyring:
    """A keyring from its JSON; names what is wrong when it is not one."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise KeyringError(f"keyring is not JSON: {exc.msg}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("data_keys"), dict):
        raise KeyringError("keyring: needs an object with 'data_keys'")
    keys: dict[str, bytes] = {}
    for kid, value in doc["data_keys"].items():
        if not KEY_ID.match(kid):
            raise KeyringError(f"keyring: key id {kid!r} must be 1-32 letters, digits, - or _")
        keys[kid] = _key(value, f"data key {kid}")
    active = doc.get("active")
    if active not in keys:
        raise KeyringError(f"keyring: the active key {active!r} is not among the data keys")
    return Keyring(
        data_keys=keys,
        active=str(active),
        index_key=_key(doc.get("index_key"), "index_key"),
        audit_key=_key(doc.get("audit_key"), "audit_key"),
        path=path,
    )


def new_key_id(now: dt.datetime | None = None) -> str:
    """A key id that sorts by creation time."""
    stamp = (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%d%H%M%S")
    return f"k{stamp}{secrets.token_hex(2)}"


def generate() -> Keyring:
    """A fresh keyring with one data key."""
    kid = new_key_id()
    return Keyring(
        data_keys={kid: AESGCM.generate_key(bit_length=256)},
        active=kid,
        index_key=secrets.token_bytes(32),
        audit_key=secrets.token_bytes(32),
    )


def with_new_active_key(ring: Keyring) -> Keyring:
    """The keyring with one more data key, which becomes the active one."""
    kid = new_key_id()
    keys = {**ring.data_keys, kid: AESGCM.generate_key(bit_length=256)}
    return Keyring(keys, kid, ring.index_key, ring.audit_key, ring.path)


def without_key(ring: Keyring, key_id: str) -> Keyring:
    """The keyring without a retired data key (never the active one)."""
    if key_id == ring.active:
        raise KeyringError(f"{key_id} is the active key; rotate first")
    if key_id not in ring.data_keys:
        raise KeyringError(f"no data key {key_id}")
    keys = {k: v for k, v in ring.data_keys.items() if k != key_id}
    return Keyring(keys, ring.active, ring.index_key, ring.audit_key, ring.path)


def write_file(ring: Keyring, path: Path) -> None:
    """Replace the key file atomically, readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(ring.to_json())
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)


def _create_once(path: Path) -> None:
    # Two processes starting together must end up with one keyring, not two.
    ring = generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "w") as out:
        out.write(ring.to_json())
        out.flush()
        os.fsync(out.fileno())


class _Loader:
    """The process's keyring, re-read when the key file changes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ring: Keyring | None = None
        self._stamp: tuple[int, int] | None = None
        self._checked = 0.0
        self._override: Path | str | None = None
        self.may_create = False

    def use(self, source: Path | str | None) -> None:
        """Read keys from this file (a Path) or this JSON (a str); None: from the settings."""
        with self._lock:
            self._override, self._ring, self._stamp = source, None, None

    def _source(self) -> Path | str:
        if self._override is not None:
            return self._override
        settings = get_settings()
        if settings.keyring.get_secret_value():
            return settings.keyring.get_secret_value()
        return settings.key_file or settings.data_dir / "keyring.json"

    def get(self, *, force: bool = False) -> Keyring:
        now = time.monotonic()
        ring = self._ring
        if (
            ring is not None
            and not force
            and (ring.path is None or now - self._checked < RELOAD_CHECK_SECONDS)
        ):
            return ring
        with self._lock:
            source = self._source()
            if isinstance(source, str):
                if self._ring is None:
                    self._ring = parse(source)
                return self._ring
            if not source.exists():
                if not self.may_create:
                    # A missing keyring is never replaced silently: data sealed under the old
                    # one would be lost, and a migration would seal under a throwaway key.
                    raise KeyringError(
                        f"no keyring at {source}: restore it from your key backup, point "
                        "RISKDESK_KEY_FILE at it or set RISKDESK_KEYRING; for a new "
                        "installation run `riskdesk keys init`"
                    )
                _create_once(source)
            stat = source.stat()
            stamp = (stat.st_mtime_ns, stat.st_ino)
            self._checked = now
            if self._ring is None or stamp != self._stamp:
                self._ring = parse(source.read_text(), path=source)
                self._stamp = stamp
            return self._ring


_loader = _Loader()
use = _loader.use


def allow_create() -> None:
    """Let this process create the key file if it is missing (`keys init`, `up`, `demo`)."""
    _loader.may_create = True


def current() -> Keyring:
    """The keyring in force."""
    return _loader.get()


def reload() -> Keyring:
    """The keyring read afresh (after another process changed the key file)."""
    return _loader.get(force=True)


def _ring_with(key_id: str) -> Keyring:
    ring = _loader.get()
    if key_id not in ring.data_keys:
        ring = _loader.get(force=True)  # rotated a moment ago by another process
    if key_id not in ring.data_keys:
        where = ring.path or "RISKDESK_KEYRING"
        raise KeyringError(f"data key {key_id} is not in the keyring ({where})")
    return ring


# ---------------------------------------------------------------- field encryption


def seal(plain: str, column: str) -> str:
    """Encrypt a value under the active key; ``column`` is bound in as associated data, so a
    value copied into another column does not open."""
    ring = current()
    nonce = os.urandom(_NONCE)
    sealed = ring.cipher(ring.active).encrypt(nonce, plain.encode(), column.encode())
    return f"{FORMAT}:{ring.active}:{base64.b64encode(nonce + sealed).decode()}"


def key_id_of(stored: str) -> str:
    """The id of the key a stored value was sealed with."""
    parts = stored.split(":", 2)
    if len(parts) != 3 or parts[0] != FORMAT:
        raise KeyringError("stored value is not an encrypted field value")
    return parts[1]


def open_sealed(stored: str, column: str) -> str:
    """Decrypt a stored value; a tampered or misplaced one raises KeyringError."""
    kid = key_id_of(stored)
    raw = base64.b64decode(stored.split(":", 2)[2])
    try:
        plain = _ring_with(kid).cipher(kid).decrypt(raw[:_NONCE], raw[_NONCE:], column.encode())
    except InvalidTag:
        raise KeyringError(f"{column}: stored value fails authentication (altered?)") from None
    return plain.decode()


# ---------------------------------------------------------------- blind indexes

INDEXED_KINDS = ("name", "national_id", "phone", "email", "bank_account")


def normalise(kind: str, value: str) -> str | None:
    """The form two values share when they mean the same thing; None when it has none."""
    text = unicodedata.normalize("NFKC", value).strip()
    if not text:
        return None
    if kind == "name":
        return re.sub(r"\s+", "", text).casefold()
    if kind == "national_id":
        return re.sub(r"\s+", "", text).upper()
    if kind == "phone":
        if E164.fullmatch(text):  # stored values are E.164 already: no need to parse again
            return text
        try:
            return identifiers.validate_phone(text)
        except identifiers.IdentifierError:
            return None
    if kind == "email":
        return text.casefold()
    if kind == "bank_account":
        digits = re.sub(r"\D", "", text)
        return digits or None
    raise ValueError(f"no blind index for {kind!r}")


def blind_index(kind: str, value: str | None) -> str | None:
    """Keyed HMAC of the normalised value (128 bits, hex): equal values, equal indexes."""
    if value is None:
        return None
    norm = normalise(kind, value)
    if norm is None:
        return None
    mac = hmac.new(current().index_key, f"{kind}\x00{norm}".encode(), hashlib.sha256)
    return mac.hexdigest()[:32]


def audit_mac(message: bytes) -> str:
    """HMAC-SHA256 of an audit entry under the audit key, hex."""
    return hmac.new(current().audit_key, message, hashlib.sha256).hexdigest()

"""Column types shared by all models.

``PersonalData`` is the one type every personal data field uses (an individual's name, ID number,
phone, email, address, bank account): values are sealed with AES-GCM under the keyring's active
key on the way in and opened on the way out (security/keys.py), so no plaintext reaches the
database. Each column names itself (``"table.column"``); the name is bound into the ciphertext.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import JSON, DateTime, Numeric, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from riskdesk.security import keys


class PersonalData(TypeDecorator[str]):
    """Text holding personal data or a secret, stored encrypted (``v1:<key id>:<base64>``)."""

    impl = Text
    cache_ok = True

    def __init__(self, column: str = "") -> None:
        super().__init__()
        self.column = column

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        if not self.column:
            raise ValueError("PersonalData column without its 'table.column' name")
        return keys.seal(value, self.column)

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return keys.open_sealed(value, self.column)


class PersonalJSON(TypeDecorator[Any]):
    """A JSON document holding personal data (a bureau report), stored encrypted as one value."""

    impl = Text
    cache_ok = True

    def __init__(self, column: str = "") -> None:
        super().__init__()
        self.column = column

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        if not self.column:
            raise ValueError("PersonalJSON column without its 'table.column' name")
        text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
        return keys.seal(text, self.column)

    def process_result_value(self, value: str | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        return json.loads(keys.open_sealed(value, self.column))


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC timestamps on every database (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime stored; use timezone-aware UTC")
        value = value.astimezone(dt.UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        stamp: dt.datetime = value
        if stamp.tzinfo is None:
            return stamp.replace(tzinfo=dt.UTC)
        return stamp.astimezone(dt.UTC)


Money = Numeric(18, 2, asdecimal=True)
# Sums of many amounts (a customer's balance over invoices, a run's totals): each amount fits
# Money, their sum may not.
MoneyTotal = Numeric(38, 2, asdecimal=True)
JSONType = JSON().with_variant(JSONB(), "postgresql")

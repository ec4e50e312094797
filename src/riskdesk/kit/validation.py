"""Field types with validation, and turning pydantic errors into ErrorDetails.

The same pydantic models check single API records, batches and file rows, so every channel
reports the same field names and reasons.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Annotated, Any

from fastapi import Path
from pydantic import AfterValidator, BeforeValidator, Field, ValidationError
from pydantic_core import PydanticCustomError

from riskdesk.kit import identifiers
from riskdesk.kit.errors import ErrorDetail
from riskdesk.kit.money import CURRENCIES


def _identifier(check: Callable[[str], str]) -> Callable[[str], str]:
    def run(value: str) -> str:
        try:
            return check(value)
        except identifiers.IdentifierError as exc:
            raise PydanticCustomError(exc.code, str(exc)) from exc

    return run


def _currency(value: str) -> str:
    value = value.strip().upper()
    if value not in CURRENCIES:
        raise PydanticCustomError(
            "unknown_currency", "unknown currency code; use ISO 4217 such as CNY or USD"
        )
    return value


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def _not_future(value: dt.date) -> dt.date:
    if value > dt.date.today() + dt.timedelta(days=1):
        raise PydanticCustomError("future_date", "date lies in the future")
    return value


def _not_future_ts(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None:
        # Naive timestamps from files are taken as UTC.
        value = value.replace(tzinfo=dt.UTC)
    value = value.astimezone(dt.UTC)
    if value > dt.datetime.now(dt.UTC) + dt.timedelta(days=1):
        raise PydanticCustomError("future_date", "timestamp lies in the future")
    return value


# Ids are 32-bit on every database: a larger one in a path or body is refused, not sent to SQL.
DB_ID_MAX = 2_147_483_647
DbId = Annotated[int, Field(ge=1, le=DB_ID_MAX)]
PathId = Annotated[int, Path(ge=1, le=DB_ID_MAX)]
USCC = Annotated[str, AfterValidator(_identifier(identifiers.validate_uscc))]
ResidentId = Annotated[str, AfterValidator(_identifier(identifiers.validate_resident_id))]
Phone = Annotated[str, AfterValidator(_identifier(identifiers.validate_phone))]
Email = Annotated[str, AfterValidator(_identifier(identifiers.validate_email))]
Currency = Annotated[str, AfterValidator(_currency)]
Text64 = Annotated[str, BeforeValidator(_strip), Field(min_length=1, max_length=64)]
Text128 = Annotated[str, BeforeValidator(_strip), Field(min_length=1, max_length=128)]
Text255 = Annotated[str, BeforeValidator(_strip), Field(min_length=1, max_length=255)]
LongText = Annotated[str, BeforeValidator(_strip), Field(max_length=4000)]
Amount = Annotated[Decimal, Field(ge=0, max_digits=16, decimal_places=2)]
PositiveAmount = Annotated[Decimal, Field(gt=0, max_digits=16, decimal_places=2)]
SignedAmount = Annotated[Decimal, Field(max_digits=16, decimal_places=2)]
PastDate = Annotated[dt.date, AfterValidator(_not_future)]
PastTimestamp = Annotated[dt.datetime, AfterValidator(_not_future_ts)]
ExternalId = Annotated[
    str, BeforeValidator(_strip), Field(min_length=1, max_length=128, pattern=r"^[^\s]+$")
]
SourceName = Annotated[
    str, BeforeValidator(_strip), Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
]


def _loc_to_field(loc: Iterable[int | str]) -> str | None:
    parts = [str(p) for p in loc if p not in ("body",)]
    return ".".join(parts) or None


def _reason(error: Mapping[str, Any]) -> str:
    message = str(error.get("msg", "invalid value"))
    # Pydantic prefixes errors raised from validators; the prefix says nothing to a user.
    return message.removeprefix("Value error, ")


def details_from_validation_error(
    exc: ValidationError, row: int | None = None
) -> list[ErrorDetail]:
    """One ErrorDetail per pydantic error, naming the field."""
    return [
        ErrorDetail(field=_loc_to_field(e["loc"]), reason=_reason(e), code=e["type"], row=row)
        for e in exc.errors(include_url=False)
    ]


def blank_to_none(record: Mapping[str, Any]) -> dict[str, Any]:
    """Empty cells in files mean 'no value'."""
    return {k: (None if isinstance(v, str) and not v.strip() else v) for k, v in record.items()}

"""Field types with validation, and turning pydantic errors into ErrorDetails.

The same pydantic models check single API records, batches and file rows, so every channel
reports the same field names and reasons. What every input shares is checked once, here:

- ``InputModel``, the base of every request model: unknown fields are refused, text is
  stripped, and no text in it holds NUL or another control character (a NUL is refused by
  PostgreSQL and kept by SQLite; others break exports and logs);
- single-line text types (names, codes, ids) also refuse tab, newline and carriage return;
- business dates and timestamps lie in a configurable range (``PastDate``, ``BusinessDate``...);
- free-form JSON (``JsonObject``) is bounded in depth and size;
- ``refuse_control_characters``, an app-wide dependency, checks query, path and form values.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from itertools import accumulate
from typing import Annotated, Any, ClassVar, Literal, Self, get_args, get_origin

from fastapi import Path, Request
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    ValidationError,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError
from starlette.datastructures import UploadFile

from riskdesk.kit import identifiers
from riskdesk.kit.errors import ErrorDetail, ValidationFailed
from riskdesk.kit.money import CURRENCIES
from riskdesk.kit.timeutil import utcnow

# -- Text: no control characters ------------------------------------------------------------

# C0 control characters; multi-line text keeps tab, newline and carriage return.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_CONTROL_SINGLE_LINE = re.compile(r"[\x00-\x1f]")


def _control_error(found: str, *, single_line: bool = False) -> PydanticCustomError:
    char = f"U+{ord(found):04X}"
    if single_line and found in "\t\n\r":
        return PydanticCustomError(
            "control_character",
            "must be a single line: it contains {char} (tab, newline or carriage return)",
            {"char": char},
        )
    return PydanticCustomError(
        "control_character",
        "must not contain control characters such as NUL; found {char}",
        {"char": char},
    )


def _single_line(value: str) -> str:
    found = _CONTROL_SINGLE_LINE.search(value)
    if found:
        raise _control_error(found.group(), single_line=True)
    return value


def _texts(value: Any, path: tuple[str | int, ...]) -> Iterable[tuple[tuple[str | int, ...], str]]:
    """Every text in a value (lists, dicts and their keys), with where it is; models are skipped:
    they check their own fields."""
    stack: list[tuple[tuple[str | int, ...], Any]] = [(path, value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, str):
            yield where, item
        elif isinstance(item, dict):
            for key, v in item.items():
                if isinstance(key, str):
                    yield where, key
                if isinstance(v, str | list | tuple | set | frozenset | dict):
                    stack.append(((*where, str(key)), v))
        elif isinstance(item, list | tuple | set | frozenset):
            stack.extend(
                ((*where, i), v)
                for i, v in enumerate(item)
                if isinstance(v, str | list | tuple | set | frozenset | dict)
            )


class SelfChecked:
    """Marks a field whose type checks its own text (free-form JSON), or whose records are
    checked later, one by one, by their own model (batches): ``InputModel`` leaves it alone."""


def _may_hold_text(annotation: Any) -> bool:
    """Whether a validated value of this type may hold client text (Literals, enums, numbers,
    dates and models may not: they were checked, or check themselves)."""
    if annotation is str or annotation is Any or annotation is object:
        return True
    origin = get_origin(annotation)
    if origin is Literal:
        return False
    if origin is Annotated:
        return _may_hold_text(get_args(annotation)[0])
    if origin is not None:  # unions, lists, dicts...
        return any(_may_hold_text(arg) for arg in get_args(annotation) if arg is not Ellipsis)
    if isinstance(annotation, type):
        return issubclass(annotation, str) and not issubclass(annotation, Enum)
    return True  # a type this does not know: look


class InputModel(BaseModel):
    """Base of every model that reads client input (API bodies, batch records, file rows, forms).

    Unknown fields are refused and text is stripped. No text, at any depth, may hold NUL or
    another C0 control character except tab, newline and carriage return; each one found is
    reported on its field (single-line types refuse those three too).
    """

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    # The fields to look at: those that may hold text and do not check it themselves.
    _text_fields: ClassVar[tuple[str, ...]] = ()
    _self_checked: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        cls._self_checked = frozenset(
            name
            for name, info in cls.model_fields.items()
            if any(isinstance(m, SelfChecked) for m in info.metadata)
        )
        cls._text_fields = tuple(
            name
            for name, info in cls.model_fields.items()
            if name not in cls._self_checked and _may_hold_text(info.annotation)
        )

    @model_validator(mode="wrap")
    @classmethod
    def _no_control_characters(cls, data: Any, handler: ModelWrapValidatorHandler[Self]) -> Self:
        # One look per record at the fields that may hold text (nested models check their
        # own): cheap enough for a million-row import; each finding names its field. When
        # other fields are invalid, the raw input is looked at too, so that one answer
        # reports every problem.
        try:
            model = handler(data)
        except ValidationError as exc:
            if not isinstance(data, dict):
                raise
            failed = {e["loc"][0] for e in exc.errors() if e["loc"]}
            found = _control_findings(
                {k: v for k, v in data.items() if k not in failed and k not in cls._self_checked}
            )
            if not found:
                raise
            known = [
                InitErrorDetails(
                    type=PydanticCustomError(e["type"], e["msg"]), loc=e["loc"], input=e["input"]
                )
                for e in exc.errors(include_url=False)
            ]
            raise ValidationError.from_exception_data(exc.title, known + found) from None
        values = model.__dict__
        texts = [values[name] for name in cls._text_fields]
        # The usual case: all of them plain text (or empty), one search finds nothing.
        if all(type(v) is str or v is None for v in texts) and not _CONTROL.search(
            "".join([v for v in texts if v is not None])
        ):
            return model
        found = _control_findings({name: values[name] for name in cls._text_fields})
        if found:
            raise ValidationError.from_exception_data(cls.__name__, found)
        return model


def _control_findings(fields: Mapping[Any, Any]) -> list[InitErrorDetails]:
    """Control characters in the text of some fields, one error per field."""
    errors: list[InitErrorDetails] = []
    for name, value in fields.items():
        for where, text in _texts(value, (name,)):
            if found := _CONTROL.search(text):
                errors.append(
                    InitErrorDetails(type=_control_error(found.group()), loc=where, input=text)
                )
                break
    return errors


async def refuse_control_characters(request: Request) -> None:
    """App-wide dependency: query, path and form values (UI forms, upload fields) hold no
    control character other than tab, newline and carriage return; the field is named.

    JSON bodies are checked by their ``InputModel``; this covers what no model reads.
    """
    # Named as FastAPI names them in its own 422s: query.q, path.code, form fields bare.
    values = [(f"query.{k}", v) for k, v in request.query_params.multi_items()]
    values += [(f"path.{k}", v) for k, v in request.path_params.items() if isinstance(v, str)]
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        # Parsed once per request (cached): the route and the CSRF check read the same form.
        form = await request.form()
        values += [(k, v) for k, v in form.multi_items() if not isinstance(v, UploadFile)]
    for name, value in values:
        found = _CONTROL.search(value)
        if found:
            reason = _control_error(found.group()).message()
            raise ValidationFailed(
                f"{name}: {reason}",
                field=name,
                details=[ErrorDetail(field=name, reason=reason, code="control_character")],
            )


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


# -- Business dates: within a configurable range -------------------------------------------


def _add_years(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


@dataclass(frozen=True)
class _Range:
    low: dt.date
    high: dt.date
    latest: dt.datetime  # what happened: a day's grace, to the minute
    until: float  # monotonic clock: worked out again after this


_RANGES: dict[tuple[int, bool], _Range] = {}


def _range(ahead: bool) -> _Range:
    from riskdesk.config import get_settings  # settings sit on this floor; read when checked

    settings = get_settings()
    key = (id(settings), ahead)
    found = _RANGES.get(key)
    clock = time.monotonic()
    if found is not None and found.until > clock:  # a million-row import checks it per row
        return found
    now = utcnow()
    high = (
        _add_years(now.date(), settings.business_date_max_years_ahead)
        if ahead
        else now.date() + dt.timedelta(days=1)
    )
    found = _Range(settings.business_date_min, high, now + dt.timedelta(days=1), clock + 10.0)
    _RANGES[key] = found
    return found


def date_range(*, ahead: bool) -> tuple[dt.date, dt.date]:
    """The dates a business date may take: from RISKDESK_BUSINESS_DATE_MIN to tomorrow (what
    happened; a day's grace for time zones) or to RISKDESK_BUSINESS_DATE_MAX_YEARS_AHEAD years
    from today (what is due or planned)."""
    found = _range(ahead)
    return found.low, found.high


def _check_range(day: dt.date | None, *, ahead: bool, what: str) -> None:
    """Raise unless ``day`` is in range (None: a timestamp too far out to have a UTC date)."""
    found = _range(ahead)
    low, high = found.low, found.high
    if day is not None and low <= day <= high:
        return
    ctx = {"low": low.isoformat(), "high": high.isoformat(), "what": what}
    if day is not None and day > high and not ahead:
        raise PydanticCustomError(
            "future_date", "{what} lies in the future; it must be from {low} to {high}", ctx
        )
    raise PydanticCustomError(
        "date_out_of_range",
        "{what} is out of range: it must be from {low} to {high}",
        ctx,
    )


def _utc(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None:
        # Naive timestamps from files are taken as UTC.
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def _date_check(*, ahead: bool) -> Callable[[dt.date], dt.date]:
    def run(value: dt.date) -> dt.date:
        _check_range(value, ahead=ahead, what="date")
        return value

    return run


def _timestamp_check(*, ahead: bool) -> Callable[[dt.datetime], dt.datetime]:
    def run(value: dt.datetime) -> dt.datetime:
        try:
            value = _utc(value)
        except OverflowError:  # 0001-01-01T00:00+08:00 has no UTC time
            _check_range(None, ahead=ahead, what="timestamp")
        day = value.date()
        if not ahead and value > _range(ahead).latest:
            day = dt.date.max  # more than a day ahead: in the future, to the minute
        _check_range(day, ahead=ahead, what="timestamp")
        return value

    return run


# Ids are 32-bit on every database: a larger one in a path or body is refused, not sent to SQL.
DB_ID_MAX = 2_147_483_647
DbId = Annotated[int, Field(ge=1, le=DB_ID_MAX)]
PathId = Annotated[int, Path(ge=1, le=DB_ID_MAX)]
USCC = Annotated[str, AfterValidator(_identifier(identifiers.validate_uscc))]
ResidentId = Annotated[str, AfterValidator(_identifier(identifiers.validate_resident_id))]
Phone = Annotated[str, AfterValidator(_identifier(identifiers.validate_phone))]
Email = Annotated[str, AfterValidator(_identifier(identifiers.validate_email))]
Currency = Annotated[str, AfterValidator(_currency)]
# Names, codes and ids are one line; LongText (notes, addresses, reasons) may span several.
SingleLine = AfterValidator(_single_line)
Text64 = Annotated[str, BeforeValidator(_strip), Field(min_length=1, max_length=64), SingleLine]
Text128 = Annotated[str, BeforeValidator(_strip), Field(min_length=1, max_length=128), SingleLine]
Text255 = Annotated[str, BeforeValidator(_strip), Field(min_length=1, max_length=255), SingleLine]
LongText = Annotated[str, BeforeValidator(_strip), Field(max_length=4000)]
Amount = Annotated[Decimal, Field(ge=0, max_digits=16, decimal_places=2)]
PositiveAmount = Annotated[Decimal, Field(gt=0, max_digits=16, decimal_places=2)]
SignedAmount = Annotated[Decimal, Field(max_digits=16, decimal_places=2)]
# What happened (events, reports, statements, last reviews): minimum to tomorrow.
PAST_TIMESTAMP = AfterValidator(_timestamp_check(ahead=False))
PastDate = Annotated[dt.date, AfterValidator(_date_check(ahead=False))]
PastTimestamp = Annotated[dt.datetime, PAST_TIMESTAMP]
# What is due or planned (due dates, contract terms, limit validity, next reviews), and search
# bounds: minimum to some years ahead.
BusinessDate = Annotated[dt.date, AfterValidator(_date_check(ahead=True))]
BusinessTimestamp = Annotated[dt.datetime, AfterValidator(_timestamp_check(ahead=True))]
ExternalId = Annotated[
    str,
    BeforeValidator(_strip),
    Field(min_length=1, max_length=128, pattern=r"^[^\s]+$"),
    SingleLine,
]
SourceName = Annotated[
    str, BeforeValidator(_strip), Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
]


# -- Free-form JSON: bounded depth and size -------------------------------------------------

# Depth counts nested objects and arrays: {"a": 1} is 1 deep. Bureau reports and evidence are
# a few levels deep; nothing a client sends needs more than this.
JSON_MAX_DEPTH = 32
JSON_MAX_NODES = 20_000  # values, counting objects, arrays and keys
JSON_MAX_TEXT = 1_000_000  # characters of all keys and strings together
# The raw body of any JSON request: the deepest model (a batch of records with a free-form
# field) plus JSON_MAX_DEPTH, with room to spare; Python's parser fails near 1,000 levels.
BODY_MAX_DEPTH = 64


def path_text(path: Iterable[str | int], limit: int = 6) -> str:
    """A path as the error messages show it: ``records.3.payload.a…`` (cut after ``limit``)."""
    parts = [str(p) for p in path]
    return ".".join(parts[:limit]) + ("…" if len(parts) > limit else "")


def bounded_json(
    max_depth: int = JSON_MAX_DEPTH,
    max_nodes: int = JSON_MAX_NODES,
    max_text: int = JSON_MAX_TEXT,
    *,
    check_text: bool = True,
) -> BeforeValidator:
    """A check, before any other, that a JSON value is no deeper and no larger than the limits
    (and, with check_text, that none of its keys and strings holds a control character)."""

    def run(value: Any) -> Any:
        nodes = text = 0
        stack: list[tuple[Any, int, tuple[str | int, ...]]] = [(value, 0, ())]
        while stack:
            item, depth, path = stack.pop()
            nodes += 1
            if isinstance(item, dict | list):
                if depth + 1 > max_depth:
                    raise PydanticCustomError(
                        "json_too_deep",
                        "is nested deeper than {max_depth} levels (at {path})",
                        {"max_depth": max_depth, "path": path_text(path) or "top"},
                    )
                if isinstance(item, dict):
                    for key, v in item.items():
                        nodes += 1
                        if isinstance(key, str):
                            text += len(key)
                            if check_text and (found := _CONTROL.search(key)):
                                raise _json_text_error(found.group(), path)
                        stack.append((v, depth + 1, (*path, str(key))))
                else:
                    stack.extend((v, depth + 1, (*path, i)) for i, v in enumerate(item))
            elif isinstance(item, str):
                text += len(item)
                if check_text and (found := _CONTROL.search(item)):
                    raise _json_text_error(found.group(), path)
            if nodes > max_nodes or text > max_text:
                raise PydanticCustomError(
                    "json_too_large",
                    "is too large: at most {max_nodes} values and {max_text} characters",
                    {"max_nodes": max_nodes, "max_text": max_text},
                )
        return value

    return BeforeValidator(run)


def _json_text_error(found: str, path: tuple[str | int, ...]) -> PydanticCustomError:
    return PydanticCustomError(
        "control_character",
        "must not contain control characters such as NUL; found {char} (at {path})",
        {"char": f"U+{ord(found):04X}", "path": path_text(path) or "top"},
    )


# A free-form JSON object (a bureau report's payload, evidence...): bounded, text checked.
JsonObject = Annotated[dict[str, Any], bounded_json(), SelfChecked()]
# A record of a batch, bounded; its kind's model checks the rest row by row, naming the row
# (mark the batch's field SelfChecked).
RawRecord = Annotated[
    dict[str, Any],
    bounded_json(JSON_MAX_DEPTH + 4, 2 * JSON_MAX_NODES, 2 * JSON_MAX_TEXT, check_text=False),
]

# A JSON string (possibly unterminated: it then runs to the end), matched without backtracking
# so that hostile input costs linear time.
_JSON_STRING = rb'"[^"\\]*+(?:\\.[^"\\]*+)*+(?:"|\\?\Z)'
_ESCAPE = re.compile(rb"\\.", re.DOTALL)
_TOKENS = re.compile(_JSON_STRING + rb"|[\[\]{}:,]", re.DOTALL)
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'"[]{}')
_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


def json_body_too_deep(body: bytes, max_depth: int = BODY_MAX_DEPTH) -> list[str | int] | None:
    """Where a raw JSON body nests deeper than ``max_depth`` (the path to that point), or None.

    Runs before the body is parsed (Python's parser fails near 1,000 levels), in linear time.
    """
    if body.count(b"[") + body.count(b"{") <= max_depth:  # most bodies: nothing to scan
        return None
    # Outside strings: drop escapes (an escaped quote ends no string), then every other
    # stretch between quotes; C-speed byte operations rather than a regex over each string.
    unescaped = _ESCAPE.sub(b"", body) if b"\\" in body else body
    structure = unescaped.translate(None, _NOT_STRUCTURE)  # quotes and brackets only
    brackets = b"".join(structure.split(b'"')[::2])
    if max(accumulate(map(_STEP.__getitem__, brackets)), default=0) <= max_depth:
        return None
    # Too deep: walk the tokens again, keeping each level's key or index, to say where.
    path: list[str | int] = []
    kinds: list[bytes] = []
    expect_key = False
    for match in _TOKENS.finditer(body):
        token = match.group()
        if token in (b"{", b"["):
            if len(kinds) == max_depth:
                return path
            kinds.append(token)
            path.append(0 if token == b"[" else "")
            expect_key = token == b"{"
        elif token in (b"}", b"]"):
            if kinds:
                kinds.pop()
                path.pop()
            expect_key = False
        elif token == b",":
            if kinds and kinds[-1] == b"[":
                path[-1] = int(path[-1]) + 1
            expect_key = bool(kinds) and kinds[-1] == b"{"
        elif token == b":":
            expect_key = False
        elif expect_key and kinds:
            try:
                path[-1] = str(json.loads(token))
            except ValueError:
                path[-1] = "?"
            expect_key = False
    return []  # brackets that do not pair up: deep by count, say no more


def _loc_to_field(loc: Iterable[int | str]) -> str | None:
    parts = [str(p) for p in loc]
    if parts[:1] == ["body"]:  # the body itself is not a field
        parts = parts[1:]
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

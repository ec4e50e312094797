"""What each kind of file takes, read from the kinds' own models: the fields, which are required,
their type and allowed values, each with its name in both languages.

The field guide on the imports page, the templates to download and the reading of a file's
values (an enumerated value may be given as its code or as its label, 企业 for ``company``)
all come from here, and this comes from the pydantic models that validate the rows: a value
added to a ``Literal`` is listed, accepted and translated without another edit. Labels are the
UI catalogue's (``riskdesk.kit.messages``), the words the screens use for the same values.
"""

from __future__ import annotations

import datetime as dt
import enum
import io
import re
import types
import typing
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Any, Literal

from pydantic.fields import FieldInfo

from riskdesk.customers.intake import CUSTOMER_HANDLERS
from riskdesk.customers.schemas import (
    CONSENT_COLUMNS,
    CONSENT_DETAILS,
    CustomerStatus,
)
from riskdesk.events.intake import EVENT_HANDLERS
from riskdesk.events.schemas import OrderLineIn
from riskdesk.kit.messages import LOCALES, catalog

FieldType = Literal["text", "integer", "number", "date", "timestamp", "boolean", "enum", "json"]

# The catalogue's words for a field's values where the screens already have them, by
# (kind, field) or by field; any other field's values are under "import.value.<field>.".
_VALUE_KEYS: dict[tuple[str, str] | str, str] = {
    ("customers", "kind"): "kind.",
    ("customers", "status"): "status.",
    "segment": "segment.",
    ("returns", "reason"): "return_reason.",
    "payment_method": "payment_method.",
    "method": "payment_method.",
    ("interactions", "kind"): "interaction_kind.",
    "period_type": "period_type.",
    ("complaints", "category"): "complaints.category.",
    ("complaints", "status"): "complaints.status.",
    "severity": "alerts.severity.",
    "fulfilment_status": "contract_status.",
}
# Values a model takes that no file should give (set by the system only).
_NOT_GIVEN = {("customers", "status"): frozenset({CustomerStatus.MERGED.value})}
# File columns that are not fields of the kind's model: an order's line, one per row.
_LINE_FIELDS = {
    "category": OrderLineIn.model_fields["category"],
    "product": OrderLineIn.model_fields["product"],
    "quantity": OrderLineIn.model_fields["quantity"],
    "line_amount": OrderLineIn.model_fields["amount"],
}
# Fields a kind's rows cannot do without though its model has them elsewhere (an order's
# first line's category).
_ALSO_REQUIRED = {"orders": frozenset({"category"})}
_NOT_FILE_FIELDS = frozenset({"lines"})
# Yes and no as a file may say them (what pydantic reads, and the Chinese words).
_YES_NO = {"是": "true", "否": "false", "对": "true", "错": "false"}
_PATTERN_CHOICES = re.compile(r"^\^\(([\w|]+)\)\$$")
HANDLERS = {**CUSTOMER_HANDLERS, **EVENT_HANDLERS}


@dataclass(frozen=True)
class FieldGuide:
    """One field a file of a kind may have."""

    name: str
    required: bool
    type: FieldType
    choices: tuple[str, ...] = ()  # allowed codes of an enumerated field
    value_prefix: str = ""  # catalogue key prefix of the choices' labels

    def label(self, locale: str) -> str:
        """The field's name in a language."""
        return field_label(self.name, locale)

    def choice_label(self, value: str, locale: str) -> str:
        """An allowed value's label in a language (the code where the catalogue has none)."""
        return (self.value_prefix and catalog(locale).get(self.value_prefix + value)) or value


def field_label(name: str, locale: str) -> str:
    """A file field's name in a language: the import's own word, else the form's."""
    messages = catalog(locale)
    return messages.get(f"import.field.{name}") or messages.get(f"field.{name}") or name


def _unwrap(annotation: Any) -> tuple[Any, list[Any]]:
    """The type under Optional and Annotated, with the Annotated metadata met on the way."""
    metadata: list[Any] = []
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation, *more = typing.get_args(annotation)
            metadata.extend(more)
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(args) != 1:
                return annotation, metadata
            annotation = args[0]
        else:
            return annotation, metadata


def _type_of(info: FieldInfo) -> tuple[FieldType, tuple[str, ...]]:
    annotation, metadata = _unwrap(info.annotation)
    metadata = [*info.metadata, *metadata]
    if typing.get_origin(annotation) is Literal:
        return "enum", tuple(str(a) for a in typing.get_args(annotation))
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return "enum", tuple(str(m.value) for m in annotation)
    for item in metadata:
        pattern = getattr(item, "pattern", None)
        found = _PATTERN_CHOICES.match(pattern) if isinstance(pattern, str) else None
        if found:
            return "enum", tuple(found.group(1).split("|"))
    if annotation is bool:
        return "boolean", ()
    if annotation is int:
        return "integer", ()
    if annotation is Decimal or annotation is float:
        return "number", ()
    if annotation is dt.datetime:
        return "timestamp", ()
    if annotation is dt.date:
        return "date", ()
    if typing.get_origin(annotation) in (list, dict) or annotation in (list, dict):
        return "json", ()
    return "text", ()


_CODES_ONLY = frozenset({"rating_override"})  # AAA..D read the same in every language


def _value_prefix(kind: str, name: str) -> str:
    if name in _CODES_ONLY:
        return ""
    return _VALUE_KEYS.get((kind, name)) or _VALUE_KEYS.get(name) or f"import.value.{name}."


@lru_cache
def fields_of(kind: str) -> tuple[FieldGuide, ...]:
    """The fields a file of this kind may have: the required ones first, each in the order of
    its model."""
    handler = HANDLERS[kind]
    schema = handler.schema
    guides: list[FieldGuide] = []
    for name in handler.file_fields:
        if name in _NOT_FILE_FIELDS:
            continue
        info = schema.model_fields.get(name) or _LINE_FIELDS.get(name)
        if info is not None:
            kind_of, choices = _type_of(info)
            required = info.is_required() and name not in _LINE_FIELDS
        elif name in CONSENT_COLUMNS:
            kind_of, choices, required = "boolean", (), False
        elif name == "consent_given_at":
            kind_of, choices, required = "timestamp", (), False
        else:
            assert name in CONSENT_DETAILS or name.startswith("consent"), name
            kind_of, choices, required = "text", (), False
        if name in _ALSO_REQUIRED.get(kind, ()):
            required = True
        hidden = _NOT_GIVEN.get((kind, name), frozenset())
        guides.append(
            FieldGuide(
                name=name,
                required=required,
                type=kind_of,
                choices=tuple(c for c in choices if c not in hidden),
                value_prefix=_value_prefix(kind, name) if choices else "",
            )
        )
    return tuple(sorted(guides, key=lambda g: not g.required))


@lru_cache
def defaulted_fields(kind: str) -> frozenset[str]:
    """The fields whose model has a default other than none (a blank cell takes it)."""
    schema = HANDLERS[kind].schema
    return frozenset(
        name
        for name, info in schema.model_fields.items()
        if not info.is_required() and info.get_default(call_default_factory=True) is not None
    )


def required_fields(kind: str) -> tuple[str, ...]:
    """The fields every row of this kind must have."""
    return tuple(f.name for f in fields_of(kind) if f.required)


def _fold(text: str) -> str:
    return re.sub(r"\s+", "", text).casefold()


@lru_cache
def value_readings(kind: str) -> dict[str, dict[str, str]]:
    """Per enumerated (or yes/no) field, what a cell may say (folded: no spaces, any case)
    mapped to the code the model takes: each code itself and its label in every language."""
    readings: dict[str, dict[str, str]] = {}
    for guide in fields_of(kind):
        if guide.type == "boolean":
            readings[guide.name] = dict(_YES_NO)
            continue
        if guide.type != "enum":
            continue
        said: dict[str, str] = {}
        for code in guide.choices:
            said[_fold(code)] = code
            for locale in LOCALES:
                label = guide.choice_label(code, locale)
                said.setdefault(_fold(label), code)
        readings[guide.name] = said
    return readings


def read_value(kind: str, name: str, value: Any) -> Any:
    """A cell's value as the model takes it: an enumerated value's label becomes its code."""
    said = value_readings(kind).get(name)
    if not said or not isinstance(value, str):
        return value
    return said.get(_fold(value), value)


TYPE_KEYS: dict[FieldType, str] = {
    "text": "import.type.text",
    "integer": "import.type.integer",
    "number": "import.type.number",
    "date": "import.type.date",
    "timestamp": "import.type.timestamp",
    "boolean": "import.type.boolean",
    "enum": "import.type.enum",
    "json": "import.type.json",
}


def type_label(guide: FieldGuide, locale: str) -> str:
    """What kind of value a field takes, in a language."""
    return catalog(locale).get(TYPE_KEYS[guide.type]) or guide.type


def choices_text(guide: FieldGuide, locale: str) -> str:
    """The allowed values in a language, each with its code: ``企业 (company)``."""
    sep = "、" if locale == "zh-CN" else ", "
    shown = []
    for code in guide.choices:
        label = guide.choice_label(code, locale)
        shown.append(code if label == code else f"{label} ({code})")
    if guide.type == "boolean":
        yes, no = catalog(locale).get("common.yes", "yes"), catalog(locale).get("common.no", "no")
        shown = [f"{yes} / {no}", "true / false", "1 / 0"]
    return sep.join(shown)


# ---------------------------------------------------------------- templates

# An example row: what a field of each type looks like, and the fields that need a word of
# their own. References point at the customer template's example, so the templates' examples
# import one after the other.
_EXAMPLE_BY_TYPE: dict[FieldType, str] = {
    "text": "",
    "integer": "1",
    "number": "1000.00",
    "date": "2025-06-30",
    "timestamp": "2025-06-30 10:00:00",
    "boolean": "",
    "enum": "",
    "json": "",
}
_EXAMPLES = {
    "source": "erp",
    "customer_source": "erp",
    "customer_external_id": "CUST-0001",
    "order_external_id": "SO-0001",
    "invoice_external_id": "INV-0001",
    "payment_external_id": "PAY-0001",
    "currency": "CNY",
    "due_date": "2025-07-30",
    "score": "5",
}
_EXTERNAL_IDS = {
    "customers": "CUST-0001",
    "orders": "SO-0001",
    "invoices": "INV-0001",
    "payments": "PAY-0001",
}
_NAMES = {"zh-CN": "示例贸易有限公司", "en": "Example Trading Ltd"}
_CATEGORIES = {"zh-CN": "办公用品", "en": "office supplies"}
# Optional fields the example fills: a customer's reference on events that need one, and the
# fields without which the row is refused for another reason (a complaint's category).
_EXAMPLE_ALSO = ("customer_external_id", "customer_source", "segment")
_EXAMPLE_ALSO_BY_KIND = {"complaints": ("category",)}
_NO_CUSTOMER_REF = frozenset(
    {"customers", "payments", "returns"}
    | {"order_cancellations", "credit_notes", "invoice_adjustments", "payment_reversals"}
)


def example_row(kind: str, locale: str) -> dict[str, str]:
    """One row that a file of this kind could hold, enumerated values as labels in ``locale``."""
    row: dict[str, str] = {}
    also = (*_EXAMPLE_ALSO, *_EXAMPLE_ALSO_BY_KIND.get(kind, ()))
    for g in fields_of(kind):
        if not (g.required or g.name in also):
            continue
        if g.name.startswith("customer_") and kind in _NO_CUSTOMER_REF:
            continue
        if g.choices:
            value = g.choice_label(g.choices[0], locale)
        elif g.name == "external_id":
            value = _EXTERNAL_IDS.get(kind, f"{kind[:3].upper()}-0001")
        elif g.name == "name":
            value = _NAMES[locale]
        elif g.name == "category":
            value = _CATEGORIES[locale]
        else:
            value = _EXAMPLES.get(g.name, _EXAMPLE_BY_TYPE[g.type]) or g.name
        row[g.name] = value
    return row


_GUIDE_COLUMNS = (
    ("field", "import.guide.field"),
    ("label_zh", "import.guide.label_zh"),
    ("label_en", "import.guide.label_en"),
    ("required", "import.guide.required"),
    ("type_zh", "import.guide.type_zh"),
    ("type_en", "import.guide.type_en"),
    ("values_zh", "import.guide.values_zh"),
    ("values_en", "import.guide.values_en"),
)


def guide_rows(kind: str) -> list[dict[str, str]]:
    """The field guide of a kind, both languages side by side (the template's second sheet)."""
    rows = []
    for g in fields_of(kind):
        required = "common.yes" if g.required else "common.no"
        rows.append(
            {
                "field": g.name,
                "label_zh": g.label("zh-CN"),
                "label_en": g.label("en"),
                "required": f"{catalog('zh-CN')[required]} / {catalog('en')[required]}",
                "type_zh": type_label(g, "zh-CN"),
                "type_en": type_label(g, "en"),
                "values_zh": choices_text(g, "zh-CN"),
                "values_en": choices_text(g, "en"),
            }
        )
    return rows


def _bilingual(key: str) -> str:
    zh, en = catalog("zh-CN").get(key), catalog("en").get(key)
    return key if zh is None or en is None else (zh if zh == en else f"{zh} / {en}")


def template_bytes(kind: str, fmt: str, locale: str) -> bytes:
    """A template of a kind: the header row of its fields and an example row, as CSV or .xlsx
    (whose second sheet is the field guide)."""
    from riskdesk.kit import exports

    names = tuple(g.name for g in fields_of(kind))
    columns = tuple(exports.Column(key=n, label=n, width=max(12, len(n) + 2)) for n in names)
    rows = [example_row(kind, locale)]
    if fmt == "csv":
        return b"".join(exports.csv_chunks(columns, rows, lambda key: key))
    guide_columns = tuple(
        exports.Column(key=key, label=label, width=24 if key.startswith("values") else 16)
        for key, label in _GUIDE_COLUMNS
    )
    buffer = io.BytesIO()
    exports.write_workbook(
        buffer,
        [
            exports.Sheet(kind, columns, rows),
            exports.Sheet(_bilingual("import.guide.sheet"), guide_columns, guide_rows(kind)),
        ],
        lambda key: _bilingual(key) if key.startswith("import.guide.") else key,
    )
    return buffer.getvalue()

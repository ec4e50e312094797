"""Request and response models of the credit file."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping
from decimal import Decimal
from enum import StrEnum
from typing import Any, Literal, get_args

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, model_validator

from riskdesk.kit.errors import ErrorDetail
from riskdesk.kit.validation import (
    USCC,
    Amount,
    BusinessDate,
    Currency,
    DbId,
    Email,
    ExternalId,
    InputModel,
    JsonObject,
    LongText,
    PastDate,
    Phone,
    ResidentId,
    SignedAmount,
    SourceName,
    Text64,
    Text128,
    Text255,
)
from riskdesk.privacy.schemas import ConsentIn, Purpose


class CustomerKind(StrEnum):
    """A company (B2B) or an individual (consumer)."""

    COMPANY = "company"
    INDIVIDUAL = "individual"


class CustomerStatus(StrEnum):
    """Lifecycle of a customer."""

    PROSPECT = "prospect"
    ACTIVE = "active"
    INACTIVE = "inactive"
    CLOSED = "closed"
    MERGED = "merged"


class Segment(StrEnum):
    """Customer segments; peers are compared within a segment."""

    B2B_ENTERPRISE = "b2b_enterprise"
    B2B_SME = "b2b_sme"
    CONSUMER = "consumer"


RATINGS = ("AAA", "AA", "A", "BBB", "BB", "B", "CCC", "CC", "C", "D")


class _Strict(InputModel):
    """Unknown fields refused, text stripped and free of control characters."""


class CustomerFields(_Strict):
    """Fields a client may set on a customer (all optional: used for updates too)."""

    name: Text255 | None = None
    tax_id: USCC | None = None
    national_id: ResidentId | None = None
    phone: Phone | None = None
    email: Email | None = None
    address: LongText | None = None
    bank_account: str | None = Field(default=None, pattern=r"^[0-9 -]{8,34}$")
    segment: Segment | None = None
    industry: Text64 | None = None
    region: Text64 | None = None
    owner: Text64 | None = Field(default=None, description="username of the responsible user")
    group_code: Text64 | None = None
    group_name: Text255 | None = None
    status: CustomerStatus | None = None
    credit_limit: Amount | None = None
    limit_currency: Currency | None = Field(
        default=None, validation_alias=AliasChoices("limit_currency", "currency")
    )
    limit_valid_from: BusinessDate | None = None
    limit_valid_to: BusinessDate | None = None
    payment_terms_days: int | None = Field(default=None, ge=0, le=365)
    prepayment_required: bool | None = None
    rating_override: str | None = Field(default=None, pattern="^(" + "|".join(RATINGS) + ")$")
    blocked: bool | None = None
    blocked_reason: LongText | None = None
    last_review_date: PastDate | None = None
    next_review_date: BusinessDate | None = None

    @model_validator(mode="after")
    def _cross_field(self) -> CustomerFields:
        if (
            self.limit_valid_from
            and self.limit_valid_to
            and self.limit_valid_to < self.limit_valid_from
        ):
            raise ValueError("limit_valid_to must not be before limit_valid_from")
        if self.blocked and not self.blocked_reason:
            raise ValueError("blocked_reason is required when blocking a customer")
        if self.status == CustomerStatus.MERGED:
            raise ValueError("status 'merged' is set only by a merge")
        return self


class CustomerCreate(CustomerFields):
    """A new customer, or an update of a known one matched by (source, external_id)."""

    source: SourceName
    external_id: ExternalId
    kind: CustomerKind
    name: Text255
    consents: list[ConsentIn] | None = Field(
        default=None,
        max_length=10,
        description="consents the person gave where the record came from (shop sign-up, form)",
    )
    reason: LongText | None = None

    @model_validator(mode="after")
    def _kind_rules(self) -> CustomerCreate:
        if self.kind == CustomerKind.COMPANY and self.national_id:
            raise ValueError("national_id is for individuals; companies have a tax_id")
        if self.kind == CustomerKind.INDIVIDUAL and self.tax_id:
            raise ValueError("tax_id is for companies; individuals have a national_id")
        return self


# ---------------------------------------------------------------- consents in customer files

CONSENT_PURPOSES: tuple[str, ...] = get_args(Purpose)
CONSENT_PREFIX = "consent_"
# One column per purpose (yes / no), and what the person was told, when and the proof: what the
# consent API takes in one record, spread over columns so that a spreadsheet can carry it.
CONSENT_COLUMNS = tuple(CONSENT_PREFIX + p for p in CONSENT_PURPOSES)
CONSENT_DETAILS = ("consent_notice_version", "consent_given_at", "consent_evidence")
CONSENT_FILE_FIELDS = (*CONSENT_COLUMNS, *CONSENT_DETAILS)
_YES = frozenset({"yes", "y", "true", "t", "1", "granted", "是", "同意", "已同意"})
_NO = frozenset({"no", "n", "false", "f", "0", "withdrawn", "否", "不同意", "已撤回"})
_ANSWERS = "yes/no, true/false, 1/0 or 是/否"
MAX_CONSENTS_TEXT = 4000  # a JSON cell: ten consents with their evidence fit easily


def _answer(value: Any) -> bool | None:
    """A consent cell as granted (True) or withdrawn (False); None when unreadable."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _YES:
            return True
        if text in _NO:
            return False
    return None


def _shown(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return repr(text[:40] + ("…" if len(text) > 40 else ""))


def consents_from_columns(raw: Mapping[str, Any]) -> tuple[dict[str, Any], list[ErrorDetail]]:
    """Fold the consent columns of a customer record into its ``consents`` list.

    A record may say per purpose ``consent_<purpose>: yes|no`` (a column each), or hold in
    ``consents`` a JSON list of purposes (granted), an object purpose -> yes/no, or the consent
    API's records. ``consent_notice_version`` (needed with the short forms), ``consent_given_at``
    and ``consent_evidence`` apply to every consent of the record. A purpose left empty is not
    given: nothing is withdrawn by omission. Returns the record and the problems, each naming
    its field.
    """
    record = {k: v for k, v in raw.items() if not k.startswith(CONSENT_PREFIX)}
    problems: list[ErrorDetail] = []
    details = {k.removeprefix(CONSENT_PREFIX): raw.get(k) for k in CONSENT_DETAILS}
    details["given_at"] = _file_timestamp(details["given_at"])
    answers: dict[str, tuple[bool, str]] = {}  # purpose -> (granted, the field that said so)

    def fail(field: str, reason: str, code: str) -> None:
        problems.append(ErrorDetail(field=field, reason=reason, code=code))

    for key, value in raw.items():
        if not key.startswith(CONSENT_PREFIX) or key in CONSENT_DETAILS or value is None:
            continue
        purpose = key.removeprefix(CONSENT_PREFIX)
        if purpose not in CONSENT_PURPOSES:
            fail(
                key,
                f"unknown consent purpose {purpose!r}; one of {', '.join(CONSENT_PURPOSES)}",
                "unknown_purpose",
            )
            continue
        granted = _answer(value)
        if granted is None:
            fail(key, f"cannot read {_shown(value)} as a consent; use {_ANSWERS}", "bad_consent")
        else:
            answers[purpose] = (granted, key)
    full: list[Any] = []
    given = raw.get("consents")
    if isinstance(given, str):
        if len(given) > MAX_CONSENTS_TEXT:
            fail("consents", f"longer than {MAX_CONSENTS_TEXT} characters", "too_long")
            given = None
        else:
            try:
                given = json.loads(given)
            except (ValueError, RecursionError):
                fail(
                    "consents",
                    f"{_shown(given)} is not JSON; give a list of purposes such as "
                    '["behaviour_monitoring"] or an object such as {"marketing": false}',
                    "bad_consent",
                )
                given = None
    listed: list[tuple[str, Any]] = []  # (purpose, answer) from the JSON forms
    if isinstance(given, dict):
        listed = [(str(k), v) for k, v in given.items()]
    elif isinstance(given, list):
        for entry in given:
            if isinstance(entry, str):
                listed.append((entry, True))
            else:
                full.append(entry)  # a record as the consent API takes it; its model checks it
    elif given is not None:
        fail("consents", "give a list of purposes or an object purpose -> yes/no", "bad_consent")
    for purpose, value in listed:
        if purpose not in CONSENT_PURPOSES:
            fail(
                "consents",
                f"unknown consent purpose {purpose!r}; one of {', '.join(CONSENT_PURPOSES)}",
                "unknown_purpose",
            )
            continue
        granted = _answer(value)
        if granted is None:
            fail(
                "consents",
                f"cannot read {_shown(value)} as the consent to {purpose}; use {_ANSWERS}",
                "bad_consent",
            )
            continue
        said = answers.get(purpose)
        if said is not None and said[0] != granted:
            fail(said[1], f"contradicts what 'consents' says for {purpose}", "conflicting_consent")
            continue
        answers.setdefault(purpose, (granted, "consents"))
    short = [
        {"purpose": purpose, "granted": granted, **{k: v for k, v in details.items() if v}}
        for purpose, (granted, _) in answers.items()
    ]
    if short and not details["notice_version"]:
        fail(
            "consent_notice_version",
            "the version of the privacy notice the person was shown is needed with consents "
            "(a column, or a default in the mapping)",
            "missing",
        )
    elif short:
        _check_details(short[0], fail)
    # The API's records take the file's details where they leave them out.
    full = [
        {**{k: v for k, v in details.items() if v}, **entry} if isinstance(entry, dict) else entry
        for entry in full
    ]
    consents = short + full
    if consents and str(raw.get("kind") or "") == CustomerKind.COMPANY:
        fail(
            next((f for _, f in answers.values()), "consents"),
            "consent is recorded for individuals; leave it empty for companies",
            "not_an_individual",
        )
    if problems:
        record["consents"] = None
    elif consents or given is not None:
        record["consents"] = consents
    return record, problems


def _file_timestamp(value: Any) -> Any:
    # A file's date, or time without a zone, is taken as UTC, like every timestamp in files
    # (the consent API itself wants the zone); anything else is left for the model to refuse.
    if not isinstance(value, str):
        return value
    try:
        parsed = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        return value
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)).isoformat()


def _check_details(sample: dict[str, Any], fail: Callable[[str, str, str], None]) -> None:
    # The shared details are checked once, by the consent API's own model, under their columns.
    try:
        ConsentIn.model_validate(sample)
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            name = str(error["loc"][0]) if error["loc"] else "notice_version"
            reason = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
            fail(CONSENT_PREFIX + name, reason, error["type"])


class CustomerUpdate(CustomerFields):
    """A change to a credit file; critical fields wait for a second person's approval."""

    reason: LongText | None = None
    expected_version: int | None = Field(
        default=None, ge=1, description="reject the change if the file moved on"
    )


class UserRef(BaseModel):
    """A user, briefly."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    display_name: str


class GroupRef(BaseModel):
    """A customer group, briefly."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    code: str
    name: str


class ExternalRefRead(BaseModel):
    """An id in a source system."""

    model_config = ConfigDict(from_attributes=True)

    source: str
    external_id: str


class CreditProfileRead(BaseModel):
    """The customer's credit profile."""

    model_config = ConfigDict(from_attributes=True)

    score: int | None
    rating: str | None
    rating_override: str | None
    risk_tier: str | None
    credit_limit: Decimal
    limit_currency: str
    limit_valid_from: dt.date | None
    limit_valid_to: dt.date | None
    payment_terms_days: int
    prepayment_required: bool
    blocked: bool
    blocked_reason: str | None
    last_review_date: dt.date | None
    next_review_date: dt.date | None


class CustomerSummary(BaseModel):
    """A row of the customer list."""

    id: int
    code: str
    kind: str
    name: str
    tax_id: str | None
    segment: str | None
    industry: str | None
    region: str | None
    status: str
    owner: UserRef | None
    risk_tier: str | None
    rating: str | None
    credit_limit: Decimal
    limit_currency: str
    blocked: bool
    score: int | None = None
    exposure: Decimal | None = None  # counted in the limit; None where not read
    utilisation: float | None = None  # exposure / limit; None without a limit
    open_alerts: int | None = None


class CustomerRead(BaseModel):
    """The whole credit file header: master data and credit profile."""

    id: int
    code: str
    kind: str
    name: str
    tax_id: str | None
    national_id: str | None
    phone: str | None
    email: str | None
    address: str | None
    bank_account: str | None
    segment: str | None
    industry: str | None
    region: str | None
    status: str
    owner: UserRef | None
    group: GroupRef | None
    merged_into: str | None
    external_refs: list[ExternalRefRead]
    profile: CreditProfileRead
    version: int
    pending_changes: int
    created_at: dt.datetime
    updated_at: dt.datetime
    masked: list[str] = Field(
        default_factory=list,
        description="fields shown masked for your role; POST .../reveal shows one in full",
    )
    erased_at: dt.datetime | None = Field(
        default=None, description="when the person's data was erased (a data-subject request)"
    )


class FieldChange(BaseModel):
    """One field's old and new value."""

    field: str
    old: str | None
    new: str | None


class VersionRead(BaseModel):
    """One entry of a credit file's history."""

    version: int
    action: str
    changed_at: dt.datetime
    changed_by: UserRef | None
    approved_by: UserRef | None
    reason: str | None
    channel: str
    changes: list[FieldChange]


class PendingChangeRead(BaseModel):
    """A change waiting for approval."""

    id: int
    customer_id: int
    customer_code: str
    customer_name: str
    status: str
    requested_by: UserRef
    requested_at: dt.datetime
    reason: str | None
    channel: str
    decided_by: UserRef | None
    decided_at: dt.datetime | None
    decision_comment: str | None
    changes: list[FieldChange]


class UpdateResult(BaseModel):
    """What an update did: applied at once, and/or waiting for approval."""

    customer: CustomerRead
    applied: list[FieldChange]
    pending_change: PendingChangeRead | None


class Decision(_Strict):
    """Approve or reject a pending change."""

    comment: LongText | None = None


class ContactCreate(_Strict):
    """A contact person."""

    name: Text128
    title: Text128 | None = None
    phone: Phone | None = None
    email: Email | None = None
    is_primary: bool = False
    reason: LongText | None = None


class ContactRead(BaseModel):
    """A contact person."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    title: str | None
    phone: str | None
    email: str | None
    is_primary: bool
    masked: list[str] = Field(default_factory=list)


class RevealRequest(_Strict):
    """Which value to show in full, and why (the reason is kept in the audit log)."""

    field: Literal["national_id", "phone", "email", "address", "bank_account"]
    reason: str = Field(min_length=3, max_length=500)
    contact_id: int | None = Field(default=None, ge=1, le=2**31 - 1)


class RevealResult(BaseModel):
    """The value in full."""

    field: str
    value: str | None
    contact_id: int | None = None


STATEMENT_FIGURES = (
    "revenue",
    "total_assets",
    "total_liabilities",
    "current_assets",
    "current_liabilities",
    "retained_earnings",
    "ebit",
    "equity",
    "net_income",
    "cash",
    "inventory",
    "interest_expense",
    "market_value_equity",
)


class StatementCreate(_Strict):
    """Key figures of one period's financial statements."""

    customer_code: str | None = Field(default=None, pattern=r"^[Cc]\d{1,9}$")
    customer_external_id: ExternalId | None = None
    customer_source: SourceName | None = None
    source: SourceName | None = None
    period_end: PastDate
    period_type: str = Field(default="annual", pattern="^(annual|half_year|quarter)$")
    currency: Currency = "CNY"
    revenue: SignedAmount | None = None
    total_assets: SignedAmount | None = None
    total_liabilities: SignedAmount | None = None
    current_assets: SignedAmount | None = None
    current_liabilities: SignedAmount | None = None
    retained_earnings: SignedAmount | None = None
    ebit: SignedAmount | None = None
    equity: SignedAmount | None = None
    net_income: SignedAmount | None = None
    cash: SignedAmount | None = None
    inventory: SignedAmount | None = None
    interest_expense: SignedAmount | None = None
    # Listed companies: market capitalisation at the period end (for Altman's original Z).
    market_value_equity: SignedAmount | None = None

    @model_validator(mode="after")
    def _consistent(self) -> StatementCreate:
        _check_customer_ref(
            self.customer_code, self.customer_external_id, self.customer_source or self.source
        )
        for part, whole in (
            ("current_assets", "total_assets"),
            ("current_liabilities", "total_liabilities"),
            ("cash", "total_assets"),
            ("inventory", "current_assets"),
        ):
            p, w = getattr(self, part), getattr(self, whole)
            if p is not None and w is not None and p > w:
                raise ValueError(f"{part} cannot exceed {whole}")
        for name in (
            "total_assets",
            "total_liabilities",
            "current_assets",
            "current_liabilities",
            "cash",
            "inventory",
            "market_value_equity",
        ):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"{name} cannot be negative")
        return self


class StatementRead(BaseModel):
    """A stored statement."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    period_end: dt.date
    period_type: str
    currency: str
    revenue: Decimal | None
    total_assets: Decimal | None
    total_liabilities: Decimal | None
    current_assets: Decimal | None
    current_liabilities: Decimal | None
    retained_earnings: Decimal | None
    ebit: Decimal | None
    equity: Decimal | None
    net_income: Decimal | None
    cash: Decimal | None
    inventory: Decimal | None
    interest_expense: Decimal | None
    market_value_equity: Decimal | None
    source: str | None


class CreditReportCreate(_Strict):
    """A report from an external credit bureau."""

    customer_code: str | None = Field(default=None, pattern=r"^[Cc]\d{1,9}$")
    customer_external_id: ExternalId | None = None
    customer_source: SourceName | None = None
    source: SourceName
    external_id: ExternalId
    report_date: PastDate
    score: int | None = Field(default=None, ge=0, le=1000)
    recommended_limit: Amount | None = None
    payload: JsonObject | None = None

    @model_validator(mode="after")
    def _customer(self) -> CreditReportCreate:
        _check_customer_ref(self.customer_code, self.customer_external_id, self.customer_source)
        return self


def _check_customer_ref(code: str | None, external_id: str | None, source: str | None) -> None:
    if (code is None) == (external_id is None):
        raise ValueError("give exactly one of customer_code and customer_external_id")
    if external_id is not None and source is None:
        raise ValueError("customer_source is required with customer_external_id")


class CreditReportRead(BaseModel):
    """A stored bureau report."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    source: str
    external_id: str
    report_date: dt.date
    score: int | None
    recommended_limit: Decimal | None
    payload: dict[str, Any] | None
    masked: list[str] = Field(default_factory=list)


class DocumentRead(BaseModel):
    """A document's metadata."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    filename: str
    content_type: str
    size_bytes: int
    sha256: str
    category: str | None
    description: str | None
    uploaded_at: dt.datetime


class DuplicateCandidate(BaseModel):
    """Two customers that may be the same."""

    first: CustomerSummary
    second: CustomerSummary
    reason: str
    similarity: float


class MergeRequest(_Strict):
    """Fold ``duplicate`` into ``survivor``."""

    duplicate_id: DbId
    reason: LongText = Field(min_length=3)

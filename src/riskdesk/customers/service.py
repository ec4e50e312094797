"""The credit file: read, change (with dual review of critical fields), history, merge."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from rapidfuzz import fuzz, process
from sqlalchemy.orm import Session

from riskdesk.audit import trail
from riskdesk.customers import repository as repo
from riskdesk.customers.repository import CustomerFilter
from riskdesk.customers.schemas import (
    ContactCreate,
    ContactRead,
    CreditProfileRead,
    CreditReportRead,
    CustomerRead,
    CustomerSummary,
    CustomerUpdate,
    ExternalRefRead,
    FieldChange,
    GroupRef,
    PendingChangeRead,
    RevealRequest,
    RevealResult,
    StatementRead,
    UserRef,
    VersionRead,
)
from riskdesk.kit import signals
from riskdesk.kit.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from riskdesk.kit.intake import Item
from riskdesk.kit.pagination import Page, PageParams
from riskdesk.kit.timeutil import utcnow
from riskdesk.models import (
    Complaint,
    Contact,
    Contract,
    CreditFileChange,
    CreditFileVersion,
    CreditProfile,
    CreditReport,
    Customer,
    CustomerExternalRef,
    CustomerGroup,
    DemoBehaviour,
    Document,
    Interaction,
    Invoice,
    InvoiceAdjustment,
    Order,
    OrderCancellation,
    Payment,
    PaymentReversal,
    PendingChange,
    PendingChangeItem,
    Return,
    SurveyResponse,
    User,
)
from riskdesk.security import keys, masking
from riskdesk.security import repository as users_repo
from riskdesk.security.permissions import Permission
from riskdesk.security.service import Principal, ensure_second_person

# A change to one of these waits for a second person's approval.
CRITICAL_FIELDS = frozenset(
    {
        "name",
        "tax_id",
        "national_id",
        "credit_limit",
        "limit_currency",
        "payment_terms_days",
        "rating_override",
        "blocked",
        "blocked_reason",
    }
)
# Fields of the credit profile: changing them needs credit_profile:write.
PROFILE_FIELDS = frozenset(
    {
        "credit_limit",
        "limit_currency",
        "limit_valid_from",
        "limit_valid_to",
        "payment_terms_days",
        "prepayment_required",
        "rating_override",
        "blocked",
        "blocked_reason",
        "last_review_date",
        "next_review_date",
    }
)
MASTER_FIELDS = (
    "name",
    "tax_id",
    "national_id",
    "phone",
    "email",
    "address",
    "bank_account",
    "segment",
    "industry",
    "region",
    "status",
    "owner",
    "group_code",
)
EDITABLE_FIELDS = MASTER_FIELDS + tuple(sorted(PROFILE_FIELDS))
# Credit values given with a new customer that are a credit decision, not master data: they
# apply at once only within the creator's own approval authority, otherwise they wait for a
# second person like a change (a block, prepayment and dates restrict or inform: they apply).
CREATION_REVIEWED = ("credit_limit", "limit_currency", "payment_terms_days", "rating_override")
CUSTOMER_TABLES_MOVED_ON_MERGE = (
    CustomerExternalRef,
    Contact,
    Document,
    CreditReport,
    Order,
    Invoice,
    Payment,
    Return,
    OrderCancellation,
    InvoiceAdjustment,
    PaymentReversal,
    Complaint,
    SurveyResponse,
    Interaction,
    Contract,
    DemoBehaviour,
)


def to_text(value: Any) -> str | None:
    """How a value is kept in the history: plain text, None for empty."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    if isinstance(value, dt.date):
        return value.isoformat()
    if hasattr(value, "value"):  # enums
        return str(value.value)
    return str(value)


def _parse_bool(text: str) -> bool:
    return text == "true"


def _parse_decimal(text: str) -> Decimal:
    try:
        return Decimal(text)
    except InvalidOperation as exc:
        raise ValueError(text) from exc


_PARSERS: dict[str, Callable[[str], Any]] = {
    "credit_limit": _parse_decimal,
    "payment_terms_days": int,
    "prepayment_required": _parse_bool,
    "blocked": _parse_bool,
    "limit_valid_from": dt.date.fromisoformat,
    "limit_valid_to": dt.date.fromisoformat,
    "last_review_date": dt.date.fromisoformat,
    "next_review_date": dt.date.fromisoformat,
}
_PROFILE_DEFAULTS: dict[str, Any] = {
    "credit_limit": Decimal("0"),
    "limit_currency": "CNY",
    "payment_terms_days": 0,
    "prepayment_required": False,
    "blocked": False,
}


# ---------------------------------------------------------------- authority at creation

# The largest credit limit a person may give a new, unrated customer on their own (None: none).
# The approval matrix lives in policy, above this domain, which registers the rule at start-up.
CreationAuthority = Callable[[Session, Principal], Decimal | None]
_creation_authority: list[CreationAuthority] = []


def register_creation_authority(rule: CreationAuthority) -> None:
    """Install how much credit a creator may grant a new customer alone (policy does)."""
    _creation_authority[:] = [rule]


def creation_authority(session: Session, principal: Principal) -> Decimal | None:
    """The creator's own authority for a new customer's limit; None when they have none, or when
    no rule is installed (then every credit value given at creation waits for approval)."""
    return _creation_authority[0](session, principal) if _creation_authority else None


def split_creation_profile(
    given: dict[str, Any], authority: Decimal | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The credit profile values given with a new customer: (applied now, waiting for a second
    person). The limit with its currency and the payment terms are one grant: it applies at once
    when the creator's authority covers the limit, and waits whole otherwise. A rating override
    sets aside the scorecard, which no amount of authority covers: it always waits."""
    reviewed = {
        k: v
        for k, v in given.items()
        if k in CREATION_REVIEWED and to_text(v) != to_text(_PROFILE_DEFAULTS.get(k))
    }
    now = {k: v for k, v in given.items() if k not in reviewed}
    limit = given.get("credit_limit") or Decimal(0)
    if authority is not None and limit <= authority:
        now.update({k: v for k, v in reviewed.items() if k != "rating_override"})
    waiting = {k: v for k, v in reviewed.items() if k not in now}
    return now, waiting


def creation_pending_items(waiting: dict[str, Any]) -> list[tuple[str, str | None, str | None]]:
    """(field, value before, value asked) of what waits: the safe defaults the customer has."""
    return [(k, to_text(_PROFILE_DEFAULTS.get(k)), to_text(v)) for k, v in sorted(waiting.items())]


# ---------------------------------------------------------------- reading


def visible_owner_ids(principal: Principal) -> tuple[int, ...] | None:
    """Owner ids the caller is limited to, or None for all customers."""
    return principal.visible_owner_ids if principal.own_customers_only else None


def ids_matching(flt: CustomerFilter) -> Any:
    """The ids (a SELECT) of the customers a filter matches, for lists of other records that
    narrow by customer (alerts by region); visibility is left to the list, which applies it."""
    return repo.matching_ids(flt)


def get_customer_or_raise(session: Session, principal: Principal, customer_id: int) -> Customer:
    """A customer the caller may see, or NotFound (also when it exists but is not theirs)."""
    customer = repo.get_customer(session, customer_id)
    if customer is None or not repo.is_visible(session, customer_id, visible_owner_ids(principal)):
        raise NotFound(f"no customer {customer_id}", field="customer_id")
    return customer


def ensure_visible(
    session: Session, principal: Principal, customer_id: int, not_found: NotFound
) -> Customer:
    """The customer of a record the caller named by the record's own id (a pending change, a
    decision, an alert...), or that record's own ``not_found``: a record of a customer the
    caller may not see answers exactly as a missing one, and never names the customer."""
    customer = repo.get_customer(session, customer_id)
    if customer is None or not repo.is_visible(session, customer_id, visible_owner_ids(principal)):
        raise not_found
    return customer


def visible_among(session: Session, principal: Principal, ids: Iterable[int]) -> set[int]:
    """The customers among ``ids`` the caller may see."""
    wanted = set(ids)
    owner_ids = visible_owner_ids(principal)
    if owner_ids is None or not wanted:
        return wanted
    return {cid for cid, owner in repo.owner_ids_of(session, wanted).items() if owner in owner_ids}


# Why a merge closed what waited on the duplicate. It names no customer: whoever may see the
# duplicate need not see the survivor (its file shows the survivor to those who may).
MERGED_NOTE = "the customer was merged into another one"

# A unique key (tax id, source + external id) held by a customer the caller may not see: that
# the key is taken cannot be hidden (the record cannot be stored), but who holds it is.
HIDDEN_HOLDER = "another customer"


def tax_id_taken(holder: int, visible: bool) -> str:
    """Why a tax id is refused: the holder's code for whoever may see it, nothing otherwise."""
    if visible:
        return f"tax id already belongs to {repo.customer_code(holder)}"
    return f"tax id already belongs to {HIDDEN_HOLDER}"


def _shown_code(session: Session, principal: Principal, customer_id: int | None) -> str | None:
    """A customer's code as a link from another file (merged into / from): only when the caller
    may see that customer too."""
    if customer_id is None:
        return None
    if customer_id not in visible_among(session, principal, [customer_id]):
        return HIDDEN_HOLDER
    return repo.customer_code(customer_id)


def _user_ref(user: User | None) -> UserRef | None:
    return UserRef.model_validate(user) if user is not None else None


def read_customer(session: Session, principal: Principal, customer_id: int) -> CustomerRead:
    """The credit file header of one customer."""
    customer = get_customer_or_raise(session, principal, customer_id)
    profile = repo.get_profile(session, customer.id)
    assert profile is not None  # every customer is created with a profile
    owner = users_repo.get_user(session, customer.owner_id) if customer.owner_id else None
    group = repo.get_group(session, customer.group_id) if customer.group_id else None
    shown, masked = masking.disclose(
        session,
        principal,
        {name: getattr(customer, name) for name in masking.MASKED_FIELDS},
        object_type="customer",
        object_id=customer.id,
    )
    return CustomerRead(
        id=customer.id,
        code=customer.code,
        kind=customer.kind,
        name=customer.name,
        tax_id=customer.tax_id,
        national_id=shown["national_id"],
        phone=shown["phone"],
        email=shown["email"],
        address=shown["address"],
        bank_account=shown["bank_account"],
        segment=customer.segment,
        industry=customer.industry,
        region=customer.region,
        status=customer.status,
        owner=_user_ref(owner),
        group=GroupRef.model_validate(group) if group else None,
        merged_into=_shown_code(session, principal, customer.merged_into_id),
        external_refs=[
            ExternalRefRead.model_validate(r) for r in repo.refs_of(session, customer.id)
        ],
        profile=CreditProfileRead.model_validate(profile),
        version=customer.version,
        pending_changes=repo.count_pending(session, customer.id),
        created_at=customer.created_at,
        updated_at=customer.updated_at,
        masked=masked,
        erased_at=customer.erased_at,
    )


def summary(customer: Customer, profile: CreditProfile, owner: User | None) -> CustomerSummary:
    """A list row."""
    return CustomerSummary(
        id=customer.id,
        code=customer.code,
        kind=customer.kind,
        name=customer.name,
        tax_id=customer.tax_id,
        segment=customer.segment,
        industry=customer.industry,
        region=customer.region,
        status=customer.status,
        owner=_user_ref(owner),
        risk_tier=profile.risk_tier,
        rating=profile.rating_override or profile.rating,
        credit_limit=profile.credit_limit,
        limit_currency=profile.limit_currency,
        blocked=profile.blocked,
    )


def _list_row(
    customer: Customer, profile: CreditProfile, owner: User | None, exposure: Any, alerts: Any
) -> CustomerSummary:
    row = summary(customer, profile, owner)
    counted = Decimal(exposure or 0).quantize(Decimal("0.01"))
    limit = profile.credit_limit
    row.score = profile.score
    row.exposure = counted
    row.utilisation = float(counted / limit) if limit and limit > 0 else None
    row.open_alerts = int(alerts or 0)
    return row


def list_customers(
    session: Session,
    principal: Principal,
    *,
    flt: CustomerFilter,
    page: PageParams,
    sort: str = "",
) -> Page[CustomerSummary]:
    """A page of the customers the caller may see, sorted by one of ``repo.SORTS`` (``-`` in
    front: the other way round; blank: by id)."""
    if sort.removeprefix("-") not in ("", *repo.SORTS):
        raise ValidationFailed(f"unknown sort {sort!r}", field="sort")
    flt = CustomerFilter(**{**flt.__dict__, "owner_ids": visible_owner_ids(principal)})
    rows, total = repo.list_customers(session, flt, page, sort)
    _log_identifier_search(session, principal, flt.q, total)
    # An individual's name is personal data: which names a list or search showed is logged
    # (one entry per page; the search text itself is not, it may be an ID number).
    people = [r[0].code for r in rows if r[0].kind == "individual" and r[0].erased_at is None]
    if people:
        trail.viewed(
            session,
            object_type="customer_list",
            object_id=f"page {page.page}",
            fields=[f"{code}.name" for code in people],
        )
    return Page[CustomerSummary](
        items=[_list_row(*r) for r in rows], total=total, page=page.page, size=page.size
    )


def shown_name(kind: str, company_name: str | None, person_name: str | None) -> str:
    """A customer's name as lists show it: the company's legal name, or the person's name."""
    return (company_name if kind == "company" else person_name) or ""


def _visible_filter(principal: Principal, flt: CustomerFilter) -> CustomerFilter:
    return CustomerFilter(**{**flt.__dict__, "owner_ids": visible_owner_ids(principal)})


def export_count(session: Session, principal: Principal, *, flt: CustomerFilter) -> int:
    """How many customers the caller may see match the filter; a search by an identifier is
    logged as the list logs it."""
    total = repo.count_customers(session, _visible_filter(principal, flt))
    _log_identifier_search(session, principal, flt.q, total)
    return total


def export_rows(
    session: Session, principal: Principal, *, flt: CustomerFilter, chunk: int
) -> Iterator[dict[str, Any]]:
    """The customer list's rows for a file: the list's columns, nothing masked that the list
    shows (it shows no identifier beyond a company's tax id), streamed by id."""
    for (
        customer_id,
        kind,
        company_name,
        person_name,
        tax_id,
        segment,
        industry,
        region,
        status,
        _erased_at,
        risk_tier,
        rating,
        rating_override,
        score,
        credit_limit,
        limit_currency,
        blocked,
        next_review_date,
        owner,
    ) in repo.stream_customers(session, _visible_filter(principal, flt), chunk):
        # Unpacked by position: a hundred thousand rows read by attribute name cost seconds.
        yield {
            "code": repo.customer_code(customer_id),
            "name": (company_name if kind == "company" else person_name) or "",
            "kind": kind,
            "tax_id": tax_id,
            "segment": segment,
            "industry": industry,
            "region": region,
            "owner": owner,
            "risk_tier": risk_tier,
            "rating": rating_override or rating,
            "score": score,
            "credit_limit": credit_limit,
            "limit_currency": limit_currency,
            "blocked": blocked,
            "next_review_date": next_review_date,
            "status": status,
        }


def _log_identifier_search(
    session: Session, principal: Principal, q: str | None, total: int
) -> None:
    """A search by an identifier tells whoever sees it masked whether a guessed number is
    right; such searches by masked roles are logged, hit or miss, so guessing shows."""
    if not q or masking.sees_in_full(principal):
        return
    text = re.sub(r"[\s-]", "", q)
    kinds = [
        kind
        for kind, looks in (
            ("national_id", re.fullmatch(r"\d{17}[\dXx]", text)),
            ("phone", keys.normalise("phone", q)),
            ("email", "@" in text),
            ("bank_account", re.fullmatch(r"\d{8,34}", text)),
        )
        if looks
    ]
    if kinds:
        trail.viewed(
            session,
            object_type="customer_search",
            object_id="hit" if total else "miss",
            fields=[f"search by {k}" for k in kinds],
        )


def history(session: Session, principal: Principal, customer_id: int) -> list[VersionRead]:
    """Every change to the credit file, newest first."""
    get_customer_or_raise(session, principal, customer_id)
    entries = repo.history(session, customer_id)
    users = repo.owners_of(
        session, [u for v, _ in entries for u in (v.changed_by_id, v.approved_by_id) if u]
    )
    # One pass over every version's changes (one logged view), handed back version by version.
    shown = iter(
        _field_changes(
            session,
            principal,
            customer_id,
            _hide_other_customers(
                session, principal, _triples([c for _, changes in entries for c in changes])
            ),
            "history.",
        )
    )
    return [
        VersionRead(
            version=v.version,
            action=v.action,
            changed_at=v.changed_at,
            changed_by=_user_ref(users.get(v.changed_by_id or 0)),
            approved_by=_user_ref(users.get(v.approved_by_id or 0)),
            reason=v.reason,
            channel=v.channel,
            changes=[next(shown) for _ in changes],
        )
        for v, changes in entries
    ]


# History fields whose values are other customers' codes (a merge links two files).
_CUSTOMER_LINKS = frozenset({"merged_into", "merged_from"})


def _hide_other_customers(
    session: Session, principal: Principal, changes: list[tuple[str, str | None, str | None]]
) -> list[tuple[str, str | None, str | None]]:
    """Codes of customers the caller may not see, replaced by a neutral word."""
    codes = {
        value
        for field, old, new in changes
        if field in _CUSTOMER_LINKS
        for value in (old, new)
        if value and value[1:].isdigit()
    }
    if not codes:
        return changes
    seen = visible_among(session, principal, {int(code[1:]) for code in codes})

    def shown(field: str, value: str | None) -> str | None:
        if field not in _CUSTOMER_LINKS or not value or value not in codes:
            return value
        return value if int(value[1:]) in seen else HIDDEN_HOLDER

    return [(f, shown(f, old), shown(f, new)) for f, old, new in changes]


def _field_changes(
    session: Session,
    principal: Principal,
    customer_id: int,
    changes: Sequence[tuple[str, str | None, str | None]],
    prefix: str,
) -> list[FieldChange]:
    """(field, old, new) as the principal may see them (personal ones masked, or logged)."""
    full = masking.sees_in_full(principal)
    shown: list[FieldChange] = []
    personal: set[str] = set()
    for field, old, new in changes:
        base = field.rsplit(".", 1)[-1]  # contact.phone is a phone as well
        if base in masking.MASKED_FIELDS and (old or new):
            personal.add(prefix + field)
            if not full:
                old = masking.mask(base, old) if old else old
                new = masking.mask(base, new) if new else new
        shown.append(FieldChange(field=field, old=old, new=new))
    if full and personal:
        trail.viewed(
            session, object_type="customer", object_id=customer_id, fields=sorted(personal)
        )
    return shown


def _triples(
    rows: Sequence[CreditFileChange | PendingChangeItem],
) -> list[tuple[str, str | None, str | None]]:
    return [(r.field, r.old_value, r.new_value) for r in rows]


# ---------------------------------------------------------------- values and versions


def current_values(
    session: Session, customer: Customer, profile: CreditProfile
) -> dict[str, str | None]:
    """Every editable field as text, as the history shows it."""
    owner = users_repo.get_user(session, customer.owner_id) if customer.owner_id else None
    group = repo.get_group(session, customer.group_id) if customer.group_id else None
    values: dict[str, str | None] = {
        "name": customer.name or None,
        "owner": owner.username if owner else None,
        "group_code": group.code if group else None,
    }
    for name in (
        "tax_id",
        "national_id",
        "phone",
        "email",
        "address",
        "bank_account",
        "segment",
        "industry",
        "region",
        "status",
    ):
        values[name] = to_text(getattr(customer, name))
    for name in PROFILE_FIELDS:
        values[name] = to_text(getattr(profile, name))
    return values


def _set_field(
    session: Session, customer: Customer, profile: CreditProfile, field: str, text: str | None
) -> None:
    if field == "name":
        if customer.kind == "company":
            customer.company_name = text
        else:
            customer.person_name = text
    elif field == "owner":
        customer.owner_id = _owner_id(session, text)
    elif field == "group_code":
        group = repo.groups_by_code(session, {text}).get(text) if text else None
        customer.group_id = group.id if group else None
    elif field in PROFILE_FIELDS:
        value = _PROFILE_DEFAULTS.get(field) if text is None else _PARSERS.get(field, str)(text)
        setattr(profile, field, value)
    else:
        setattr(customer, field, text)


def _owner_id(session: Session, username: str | None) -> int | None:
    if username is None:
        return None
    user = users_repo.get_user_by_username(session, username)
    if user is None:
        raise ValidationFailed(f"no user {username!r}", field="owner", code="unknown_reference")
    return user.id


def record_version(
    session: Session,
    *,
    customer: Customer,
    actor_id: int | None,
    action: str,
    channel: str,
    reason: str | None,
    changes: Sequence[tuple[str, str | None, str | None]],
    approved_by_id: int | None = None,
) -> CreditFileVersion:
    """Bump the customer's version and keep the entry."""
    customer.version += 1
    customer.updated_at = utcnow()
    version = CreditFileVersion(
        customer_id=customer.id,
        version=customer.version,
        changed_by_id=actor_id,
        approved_by_id=approved_by_id,
        action=action,
        channel=channel,
        reason=reason,
    )
    repo.add_version(session, version, changes)
    return version


# ---------------------------------------------------------------- changes


@dataclass(frozen=True)
class ChangeOutcome:
    """What a change did."""

    applied: list[tuple[str, str | None, str | None]]
    pending: PendingChange | None


def _check_write_permissions(principal: Principal, fields: Iterable[str]) -> None:
    fields = set(fields)
    if fields and not principal.can(Permission.CUSTOMERS_WRITE):
        raise PermissionDenied("changing a credit file needs 'customers:write'")
    profile_fields = fields & PROFILE_FIELDS
    if profile_fields and not principal.can(Permission.CREDIT_PROFILE_WRITE):
        field = sorted(profile_fields)[0]
        raise PermissionDenied(f"changing {field} needs 'credit_profile:write'", field=field)


def _resolve_group(session: Session, code: str | None, name: str | None) -> None:
    if code is None:
        return
    if code not in repo.groups_by_code(session, {code}):
        if not name:
            raise ValidationFailed(
                f"no customer group {code!r}; give group_name to create it",
                field="group_code",
                code="unknown_reference",
            )
        repo.add(session, CustomerGroup(code=code, name=name))


def check_change(
    session: Session, principal: Principal, customer: Customer, requested: dict[str, Any]
) -> None:
    """Raise what ``change_customer`` would refuse, writing nothing (a file checked whole
    before any of it is written)."""
    requested = dict(requested)
    group_name = requested.pop("group_name", None)
    _checked_change(session, principal, customer, requested, group_name, expected_version=None)


def _checked_change(
    session: Session,
    principal: Principal,
    customer: Customer,
    requested: dict[str, Any],
    group_name: str | None,
    *,
    expected_version: int | None,
) -> tuple[CreditProfile, dict[str, str | None], dict[str, str | None]]:
    """The profile, current values and the change asked for, once allowed and valid."""
    if customer.erased_at is not None:  # an erased person is not filled in again
        raise Conflict(f"{customer.code} was erased", code="customer_erased")
    if customer.status == "merged":
        raise Conflict(
            f"{customer.code} was merged into another customer; change that one",
            code="customer_merged",
        )
    if expected_version is not None and expected_version != customer.version:
        raise Conflict(
            f"the credit file is at version {customer.version}, not "
            f"{expected_version}; reload and try again",
            field="expected_version",
            code="version_conflict",
        )
    profile = repo.get_profile(session, customer.id)
    assert profile is not None
    current = current_values(session, customer, profile)
    wanted = {k: to_text(v) for k, v in requested.items() if k in current}
    diff = {k: v for k, v in wanted.items() if v != current[k]}
    if not diff:
        return profile, current, diff
    _check_write_permissions(principal, diff)
    _validate_change(session, principal, customer, current, diff)
    if "owner" in diff:
        _owner_id(session, diff["owner"])
    code = diff.get("group_code")
    if code is not None and not group_name and code not in repo.groups_by_code(session, {code}):
        raise ValidationFailed(
            f"no customer group {code!r}; give group_name to create it",
            field="group_code",
            code="unknown_reference",
        )
    return profile, current, diff


def change_customer(
    session: Session,
    principal: Principal,
    customer: Customer,
    requested: dict[str, Any],
    *,
    reason: str | None,
    channel: str,
    expected_version: int | None = None,
) -> ChangeOutcome:
    """Apply non-critical changes now and queue critical ones for a second person."""
    group_name = requested.pop("group_name", None)
    profile, current, diff = _checked_change(
        session, principal, customer, requested, group_name, expected_version=expected_version
    )
    if not diff:
        return ChangeOutcome(applied=[], pending=None)
    _resolve_group(session, diff.get("group_code"), group_name)

    immediate = {k: v for k, v in diff.items() if k not in CRITICAL_FIELDS}
    critical = {k: v for k, v in diff.items() if k in CRITICAL_FIELDS}
    applied: list[tuple[str, str | None, str | None]] = []
    for field, text in immediate.items():
        _set_field(session, customer, profile, field, text)
        applied.append((field, current[field], text))
    if applied:
        signals.publish(
            signals.CREDIT_PROFILE_CHANGED,
            session=session,
            customer_id=customer.id,
            fields=[f for f, _, _ in applied],
        )
        record_version(
            session,
            customer=customer,
            actor_id=principal.user_id,
            action="update",
            channel=channel,
            reason=reason,
            changes=applied,
        )
    pending = None
    if critical:
        # A resend of a change that is already waiting must not queue it twice.
        waiting = repo.open_pending_values(session, [customer.id])
        critical = {k: v for k, v in critical.items() if (customer.id, k, v) not in waiting}
    if critical:
        pending = PendingChange(
            customer_id=customer.id,
            status="pending",
            requested_by_id=principal.user_id,
            reason=reason,
            channel=channel,
        )
        repo.add(session, pending)
        repo.add(
            session,
            *[
                PendingChangeItem(
                    pending_change_id=pending.id, field=k, old_value=current[k], new_value=v
                )
                for k, v in sorted(critical.items())
            ],
        )
    session.flush()
    return ChangeOutcome(applied=applied, pending=pending)


def _validate_change(
    session: Session,
    principal: Principal,
    customer: Customer,
    current: dict[str, str | None],
    diff: dict[str, str | None],
) -> None:
    after = {**current, **diff}
    if after["blocked"] == "true" and not after["blocked_reason"]:
        raise ValidationFailed(
            "blocked_reason is required when blocking a customer",
            field="blocked_reason",
            code="required",
        )
    if "name" in diff and not diff["name"]:
        raise ValidationFailed("name cannot be empty", field="name", code="required")
    if customer.kind == "company" and diff.get("national_id"):
        raise ValidationFailed("national_id is for individuals", field="national_id")
    if customer.kind == "individual" and diff.get("tax_id"):
        raise ValidationFailed("tax_id is for companies", field="tax_id")
    frm, to = after["limit_valid_from"], after["limit_valid_to"]
    if frm and to and to < frm:
        raise ValidationFailed(
            "limit_valid_to must not be before limit_valid_from", field="limit_valid_to"
        )
    tax_id = diff.get("tax_id")
    if tax_id:
        holder = repo.customers_by_tax_id(session, {tax_id}).get(tax_id)
        if holder is not None and holder != customer.id:
            raise Conflict(
                tax_id_taken(holder, holder in visible_among(session, principal, [holder])),
                field="tax_id",
                code="duplicate_tax_id",
            )


def update_customer(
    session: Session,
    principal: Principal,
    customer_id: int,
    body: CustomerUpdate,
    *,
    channel: str = "api",
) -> ChangeOutcome:
    """Change a credit file from an API or UI request."""
    customer = get_customer_or_raise(session, principal, customer_id)
    requested = body.model_dump(exclude_unset=True, exclude={"reason", "expected_version"})
    _refuse_masked_echo(customer, principal, requested)
    return change_customer(
        session,
        principal,
        customer,
        requested,
        reason=body.reason,
        channel=channel,
        expected_version=body.expected_version,
    )


def _refuse_masked_echo(
    customer: Customer, principal: Principal, requested: dict[str, Any]
) -> None:
    """A role that sees values masked cannot send a masked value back as the new value (a client
    that PUTs back what it read would overwrite the real data with asterisks)."""
    if masking.sees_in_full(principal):
        return
    for name in masking.MASKED_FIELDS & set(requested):
        current, value = getattr(customer, name), requested[name]
        if current and isinstance(value, str) and value == masking.mask(name, current):
            raise ValidationFailed(
                "this is the masked value; send the real one, or leave the field out",
                field=name,
                code="masked_value",
            )


def applied_read(
    session: Session,
    principal: Principal,
    customer_id: int,
    applied: Sequence[tuple[str, str | None, str | None]],
) -> list[FieldChange]:
    """The changes just applied, as the principal may see them."""
    return _field_changes(session, principal, customer_id, applied, "applied.")


def pending_read(
    session: Session, principal: Principal, changes: Sequence[PendingChange]
) -> list[PendingChangeRead]:
    """Pending changes with their fields, customers and people."""
    items = repo.pending_items(session, [c.id for c in changes])
    users = repo.owners_of(
        session, [u for c in changes for u in (c.requested_by_id, c.decided_by_id) if u]
    )
    customers = repo.customers_with_profiles(session, sorted({c.customer_id for c in changes}))
    result = []
    for c in changes:
        customer = customers[c.customer_id][0]
        requested_by = _user_ref(users.get(c.requested_by_id))
        assert requested_by is not None
        result.append(
            PendingChangeRead(
                id=c.id,
                customer_id=c.customer_id,
                customer_code=customer.code,
                customer_name=customer.name,
                status=c.status,
                requested_by=requested_by,
                requested_at=c.requested_at,
                reason=c.reason,
                channel=c.channel,
                decided_by=_user_ref(users.get(c.decided_by_id or 0)),
                decided_at=c.decided_at,
                decision_comment=c.decision_comment,
                changes=_field_changes(
                    session, principal, c.customer_id, _triples(items[c.id]), "pending."
                ),
            )
        )
    return result


def list_pending(
    session: Session,
    principal: Principal,
    *,
    status: str | None = "pending",
    customer_id: int | None = None,
) -> list[PendingChangeRead]:
    """The approval queue (or a customer's pending changes)."""
    changes = repo.list_pending(
        session, status=status, customer_id=customer_id, owner_ids=visible_owner_ids(principal)
    )
    return pending_read(session, principal, changes)


def page_pending(
    session: Session,
    principal: Principal,
    *,
    status: str | None = "pending",
    customer_id: int | None = None,
    page: PageParams,
    sort: str = "requested",
) -> tuple[list[PendingChangeRead], int]:
    """One page of the approval queue the caller may see, sorted by one of
    ``repo.PENDING_SORTS`` (``-`` in front: descending), with how many wait in all."""
    if sort.removeprefix("-") not in repo.PENDING_SORTS:
        raise ValidationFailed(f"unknown sort {sort!r}", field="sort")
    owners = visible_owner_ids(principal)
    total = repo.count_pending_changes(
        session, status=status, customer_id=customer_id, owner_ids=owners
    )
    changes = repo.list_pending(
        session, status=status, customer_id=customer_id, owner_ids=owners,
        limit=page.size, offset=page.offset, sort=sort,
    )  # fmt: skip
    return pending_read(session, principal, changes), total


def _get_pending_or_raise(session: Session, principal: Principal, change_id: int) -> PendingChange:
    change = repo.get_pending(session, change_id)
    missing = NotFound(f"no pending change {change_id}", field="change_id")
    if change is None:
        raise missing
    ensure_visible(session, principal, change.customer_id, missing)
    if change.status != "pending":
        raise Conflict(f"change {change_id} is already {change.status}", code="already_decided")
    return change


def approve_change(
    session: Session, principal: Principal, change_id: int, comment: str | None
) -> PendingChange:
    """Apply a pending change; the approver must hold changes:approve and not be its author."""
    change = _get_pending_or_raise(session, principal, change_id)
    if not principal.can(Permission.CHANGES_APPROVE):
        raise PermissionDenied("approving changes needs 'changes:approve'")
    ensure_second_person(principal, change.requested_by_id)
    customer = get_customer_or_raise(session, principal, change.customer_id)
    profile = repo.get_profile(session, customer.id)
    assert profile is not None
    current = current_values(session, customer, profile)
    items = repo.pending_items(session, [change.id])[change.id]
    for item in items:
        if current[item.field] != item.old_value:
            raise Conflict(
                f"{item.field} changed since this was requested; reject it and request again",
                field=item.field,
                code="stale_change",
            )
    after = {**current, **{i.field: i.new_value for i in items}}
    if after["blocked"] == "true" and not after["blocked_reason"]:
        raise Conflict(
            "blocking needs a reason; reject and request again with one",
            field="blocked_reason",
            code="stale_change",
        )
    apply_approved(
        session,
        customer,
        profile,
        [(i.field, i.old_value, i.new_value) for i in items],
        requested_by_id=change.requested_by_id,
        approved_by_id=principal.user_id,
        channel=change.channel,
        reason=change.reason,
    )
    _decide(change, principal, "approved", comment)
    session.flush()
    return change


def apply_approved(
    session: Session,
    customer: Customer,
    profile: CreditProfile,
    changes: Sequence[tuple[str, str | None, str | None]],
    *,
    requested_by_id: int | None,
    approved_by_id: int,
    channel: str,
    reason: str | None,
    action: str = "approved_change",
) -> None:
    """Write fields a second person approved, keep the version entry, tell the other parts."""
    for field, _, new in changes:
        _set_field(session, customer, profile, field, new)
    record_version(
        session,
        customer=customer,
        actor_id=requested_by_id,
        approved_by_id=approved_by_id,
        action=action,
        channel=channel,
        reason=reason,
        changes=changes,
    )
    signals.publish(
        signals.CREDIT_PROFILE_CHANGED,
        session=session,
        customer_id=customer.id,
        fields=[f for f, _, _ in changes],
    )


def reject_change(
    session: Session, principal: Principal, change_id: int, comment: str | None
) -> PendingChange:
    """Reject a pending change (an approver), or withdraw it (its author)."""
    change = _get_pending_or_raise(session, principal, change_id)
    if change.requested_by_id == principal.user_id:
        _decide(change, principal, "withdrawn", comment)
    elif principal.can(Permission.CHANGES_APPROVE):
        _decide(change, principal, "rejected", comment)
    else:
        raise PermissionDenied("rejecting changes needs 'changes:approve'")
    session.flush()
    return change


def _decide(change: PendingChange, principal: Principal, status: str, comment: str | None) -> None:
    change.status = status
    change.decided_by_id = principal.user_id
    change.decided_at = utcnow()
    change.decision_comment = comment


# ---------------------------------------------------------------- contacts, documents


def contact_read(session: Session, principal: Principal, contact: Contact) -> ContactRead:
    """A contact as the principal may see it."""
    shown, masked = masking.disclose(
        session,
        principal,
        {"phone": contact.phone, "email": contact.email},
        object_type="customer",
        object_id=contact.customer_id,
        prefix=f"contact.{contact.id}.",
    )
    return ContactRead(
        id=contact.id,
        name=contact.name,
        title=contact.title,
        phone=shown["phone"],
        email=shown["email"],
        is_primary=contact.is_primary,
        masked=masked,
    )


def reports(session: Session, principal: Principal, customer_id: int) -> list[CreditReportRead]:
    """A customer's bureau reports; the bureau's answer itself only for full-view roles."""
    get_customer_or_raise(session, principal, customer_id)
    found = repo.reports_of(session, customer_id)
    full = masking.sees_in_full(principal)
    shown = [
        CreditReportRead.model_validate(r).model_copy(
            update={} if full else {"payload": None, "masked": ["payload"] if r.payload else []}
        )
        for r in found
    ]
    if full and any(r.payload for r in found):
        trail.viewed(
            session,
            object_type="customer",
            object_id=customer_id,
            fields=[f"credit_report.{r.id}" for r in found if r.payload],
        )
    return shown


def statements(session: Session, principal: Principal, customer_id: int) -> list[StatementRead]:
    """A customer's financial statements, newest period first."""
    get_customer_or_raise(session, principal, customer_id)
    return [StatementRead.model_validate(s) for s in repo.statements_of(session, customer_id)]


def contacts(session: Session, principal: Principal, customer_id: int) -> list[ContactRead]:
    """A customer's contact people, as the principal may see them."""
    get_customer_or_raise(session, principal, customer_id)
    return [contact_read(session, principal, c) for c in repo.contacts_of(session, customer_id)]


def reveal(
    session: Session, principal: Principal, customer_id: int, body: RevealRequest
) -> RevealResult:
    """One personal value in full, for a role that sees it masked; logged with the reason."""
    if not (principal.can(Permission.PII_REVEAL) or masking.sees_in_full(principal)):
        raise PermissionDenied("revealing personal data needs 'personal_data:reveal'")
    customer = get_customer_or_raise(session, principal, customer_id)
    source: Customer | Contact = customer
    label: str = body.field
    if body.contact_id is not None:
        if body.field not in ("phone", "email"):
            raise ValidationFailed("a contact has only a phone and an e-mail", field="field")
        found = repo.get_contact(session, body.contact_id)
        if found is None or found.customer_id != customer.id:
            raise NotFound(f"no contact {body.contact_id} on {customer.code}", field="contact_id")
        source, label = found, f"contact.{found.id}.{body.field}"
    value: str | None = getattr(source, body.field)
    trail.viewed(
        session,
        object_type="customer",
        object_id=customer.id,
        fields=[label],
        action="reveal",
        reason=body.reason,
    )
    return RevealResult(field=body.field, value=value, contact_id=body.contact_id)


def add_contact(
    session: Session,
    principal: Principal,
    customer_id: int,
    body: ContactCreate,
    *,
    channel: str = "api",
) -> Contact:
    """Add a contact person; the history records it."""
    if not principal.can(Permission.CUSTOMERS_WRITE):
        raise PermissionDenied("adding contacts needs 'customers:write'")
    customer = get_customer_or_raise(session, principal, customer_id)
    contact = Contact(
        customer_id=customer.id,
        name=body.name,
        title=body.title,
        phone=body.phone,
        email=body.email,
        is_primary=body.is_primary,
    )
    repo.add(session, contact)
    record_version(
        session,
        customer=customer,
        actor_id=principal.user_id,
        action="contact_added",
        channel=channel,
        reason=body.reason,
        changes=[
            (f"contact.{f}", None, to_text(getattr(contact, f)))
            for f in ("name", "title", "phone", "email", "is_primary")
            if getattr(contact, f) is not None
        ],
    )
    return contact


def remove_contact(
    session: Session,
    principal: Principal,
    customer_id: int,
    contact_id: int,
    *,
    reason: str | None,
    channel: str = "api",
) -> None:
    """Remove a contact person; the history keeps what was removed."""
    if not principal.can(Permission.CUSTOMERS_WRITE):
        raise PermissionDenied("removing contacts needs 'customers:write'")
    customer = get_customer_or_raise(session, principal, customer_id)
    contact = repo.get_contact(session, contact_id)
    if contact is None or contact.customer_id != customer.id:
        raise NotFound(f"no contact {contact_id} on {customer.code}", field="contact_id")
    record_version(
        session,
        customer=customer,
        actor_id=principal.user_id,
        action="contact_removed",
        channel=channel,
        reason=reason,
        changes=[
            (f"contact.{f}", to_text(getattr(contact, f)), None)
            for f in ("name", "title", "phone", "email")
            if getattr(contact, f) is not None
        ],
    )
    session.delete(contact)
    session.flush()


ALLOWED_DOCUMENT_TYPES = {
    ".pdf": "application/pdf",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".csv": "text/csv",
    ".txt": "text/plain",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}
MAX_DOCUMENT_BYTES = 20 * 1024 * 1024


def store_document(
    session: Session,
    principal: Principal,
    customer_id: int,
    *,
    filename: str,
    content: bytes,
    data_dir: Path,
    category: str | None,
    description: str | None,
    channel: str = "api",
) -> Document:
    """Keep a file with the credit file: bytes on disk by hash, metadata in the database."""
    if not principal.can(Permission.DOCUMENTS_WRITE):
        raise PermissionDenied("attaching documents needs 'documents:write'")
    customer = get_customer_or_raise(session, principal, customer_id)
    safe_name = re.sub(r"[^\w.\- ()\u4e00-\u9fff]", "_", Path(filename).name)[:200] or "file"
    suffix = Path(safe_name).suffix.lower()
    if suffix not in ALLOWED_DOCUMENT_TYPES:
        raise ValidationFailed(
            f"file type {suffix or '(none)'} is not accepted; use "
            f"{', '.join(sorted(ALLOWED_DOCUMENT_TYPES))}",
            field="file",
            code="unsupported_file_type",
        )
    if not content:
        raise ValidationFailed("the file is empty", field="file", code="empty_file")
    if len(content) > MAX_DOCUMENT_BYTES:
        raise ValidationFailed(
            "documents are limited to 20 MB", field="file", code="file_too_large"
        )
    digest = hashlib.sha256(content).hexdigest()
    path = document_path(data_dir, digest)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(content)
        tmp.replace(path)  # atomic: a crash never leaves half a file under the final name
    doc = Document(
        customer_id=customer.id,
        filename=safe_name,
        content_type=ALLOWED_DOCUMENT_TYPES[suffix],
        size_bytes=len(content),
        sha256=digest,
        category=category,
        description=description,
        uploaded_by_id=principal.user_id,
    )
    repo.add(session, doc)
    record_version(
        session,
        customer=customer,
        actor_id=principal.user_id,
        action="document_added",
        channel=channel,
        reason=description,
        changes=[("document", None, f"{safe_name} ({digest[:12]})")],
    )
    return doc


def document_path(data_dir: Path, digest: str) -> Path:
    """Where a document's bytes live."""
    return data_dir / "documents" / digest[:2] / digest


def get_document_or_raise(
    session: Session, principal: Principal, customer_id: int, document_id: int
) -> Document:
    """A document of a customer the caller may see."""
    customer = get_customer_or_raise(session, principal, customer_id)
    doc = repo.get_document(session, document_id)
    if doc is None or doc.customer_id != customer.id:
        raise NotFound(f"no document {document_id} on {customer.code}", field="document_id")
    return doc


# ---------------------------------------------------------------- duplicates and merge

_SUFFIXES = re.compile(
    r"(股份有限公司|有限责任公司|有限公司|集团|公司|co\.?,?\s*ltd\.?|corporation|corp\.?|"
    r"limited|ltd\.?|inc\.?|llc|gmbh|plc)\s*$",
    re.IGNORECASE,
)


def normalise_name(name: str) -> str:
    """A company name without legal-form suffixes, punctuation, spaces or case."""
    text = name.strip().lower()
    for _ in range(2):
        text = _SUFFIXES.sub("", text).strip(" ,.()（）")
    return re.sub(r"[\s\W_]+", "", text)


@dataclass(frozen=True)
class DuplicatePair:
    """Two customers that look like one."""

    first_id: int
    second_id: int
    reason: str
    similarity: float


def find_duplicates(
    session: Session, *, threshold: float = 92.0, limit: int = 200
) -> list[DuplicatePair]:
    """Pairs with the same tax id, or near-identical names (blocked by first character)."""
    pairs: dict[tuple[int, int], DuplicatePair] = {}
    for _tax_id, ids in repo.duplicate_tax_ids(session):
        for other in ids[1:]:
            pairs[(ids[0], other)] = DuplicatePair(ids[0], other, "same_tax_id", 100.0)
    pool = repo.duplicate_name_pool(session)
    blocks: dict[str, list[tuple[int, str]]] = {}
    tax_ids = {cid: tax for cid, _name, tax, _kind in pool}
    for cid, name, _tax, _kind in pool:
        norm = normalise_name(name)
        if norm:
            blocks.setdefault(norm[0], []).append((cid, norm))
    for members in blocks.values():
        if len(members) < 2:
            continue
        names = [n for _, n in members]
        scores = process.cdist(names, names, scorer=fuzz.ratio, score_cutoff=threshold, workers=1)
        rows, cols = scores.nonzero()
        for i, j in zip(rows.tolist(), cols.tolist(), strict=True):
            if i < j:
                key = (members[i][0], members[j][0])
                a_tax, b_tax = tax_ids.get(key[0]), tax_ids.get(key[1])
                # Two different valid tax IDs are two legal entities, unless the names match.
                if a_tax and b_tax and a_tax != b_tax and scores[i, j] < 100:
                    continue
                pairs.setdefault(
                    key, DuplicatePair(key[0], key[1], "similar_name", float(scores[i, j]))
                )
    ordered = sorted(pairs.values(), key=lambda p: (-p.similarity, p.first_id, p.second_id))
    return ordered[:limit]


def merge_customers(
    session: Session, principal: Principal, *, survivor_id: int, duplicate_id: int, reason: str
) -> Customer:
    """Fold a duplicate into the survivor: its ids, contacts, documents and events move over,
    then every higher domain is told (CUSTOMERS_MERGED) and moves what it keeps per customer:
    exposure, reservations and held orders, alerts, consents... (docs/architecture.md)."""
    if not principal.can(Permission.CUSTOMERS_MERGE):
        raise PermissionDenied("merging customers needs 'customers:merge'")
    if survivor_id == duplicate_id:
        raise ValidationFailed("a customer cannot be merged into itself", field="duplicate_id")
    survivor = get_customer_or_raise(session, principal, survivor_id)
    duplicate = get_customer_or_raise(session, principal, duplicate_id)
    for c in (survivor, duplicate):
        if c.status == "merged":
            raise Conflict(f"{c.code} is already merged", code="customer_merged")
        if c.erased_at is not None:
            raise Conflict(
                f"{c.code} was erased; an erased customer cannot be merged", code="customer_erased"
            )
    if survivor.kind != duplicate.kind:
        raise ValidationFailed("a company and an individual cannot be merged", field="duplicate_id")
    joined_group = _merged_group(session, survivor, duplicate)
    _refuse_lost_restrictions(session, survivor, duplicate)
    kept_statements = set(
        repo.conflicting_statement_keys(session, from_id=duplicate.id, to_id=survivor.id)
    )
    moved = repo.reassign_customer(
        session, CUSTOMER_TABLES_MOVED_ON_MERGE, from_id=duplicate.id, to_id=survivor.id
    )
    for statement in repo.statements_of(session, duplicate.id):
        if statement.id not in kept_statements:
            statement.customer_id = survivor.id
    # Customers merged into the duplicate earlier now point at the survivor, so their old codes
    # keep resolving to a live customer.
    repo.repoint_merged(session, from_id=duplicate.id, to_id=survivor.id)
    for change in repo.list_pending(
        session, status="pending", customer_id=duplicate.id, owner_ids=None
    ):
        _decide(change, principal, "withdrawn", MERGED_NOTE)
    old_status = duplicate.status
    duplicate.status = "merged"
    duplicate.merged_into_id = survivor.id
    survivor_changes: list[tuple[str, str | None, str | None]] = [
        ("merged_from", None, duplicate.code),
        ("records_moved", None, str(moved)),
    ]
    if joined_group is not None:
        survivor.group_id = joined_group.id
        survivor_changes.append(("group_code", None, joined_group.code))
    record_version(
        session,
        customer=duplicate,
        actor_id=principal.user_id,
        action="merged_into",
        channel="api",
        reason=reason,
        changes=[("status", old_status, "merged"), ("merged_into", None, survivor.code)],
    )
    record_version(
        session,
        customer=survivor,
        actor_id=principal.user_id,
        action="merged",
        channel="api",
        reason=reason,
        changes=survivor_changes,
    )
    session.flush()
    # The moves above were bulk UPDATEs: what the session holds of the moved rows is stale.
    session.expire_all()
    signals.publish(
        signals.CUSTOMERS_MERGED,
        session=session,
        survivor_id=survivor.id,
        duplicate_id=duplicate.id,
        actor_id=principal.user_id,
        reason=reason,
    )
    session.flush()
    session.expire_all()
    return survivor


def _merged_group(
    session: Session, survivor: Customer, duplicate: Customer
) -> CustomerGroup | None:
    """The group the survivor joins (the duplicate's, when the survivor has none), or None.

    Two different groups are a decision for a person (which group's limit should the combined
    debt count against?), so the merge is refused until they are the same."""
    if duplicate.group_id is None or duplicate.group_id == survivor.group_id:
        return None
    joined = repo.get_group(session, duplicate.group_id)
    assert joined is not None
    if survivor.group_id is None:
        return joined
    kept = repo.get_group(session, survivor.group_id)
    assert kept is not None
    raise Conflict(
        f"{survivor.code} is in group {kept.code} and {duplicate.code} in group {joined.code}; "
        "put both in the same group (or take one out) before merging",
        field="group_code",
        code="merge_conflict",
    )


def _refuse_lost_restrictions(session: Session, survivor: Customer, duplicate: Customer) -> None:
    """The survivor's credit profile is the one in force after a merge. A block or a
    prepayment requirement on the duplicate alone would silently end there (its orders, now
    the survivor's, would pass): a person must put it on the survivor first (dual review)."""
    kept, dropped = repo.get_profile(session, survivor.id), repo.get_profile(session, duplicate.id)
    assert kept is not None and dropped is not None
    if dropped.blocked and not kept.blocked:
        raise Conflict(
            f"{duplicate.code} is blocked and {survivor.code} is not; block {survivor.code} "
            f"(or unblock {duplicate.code}) before merging",
            field="blocked",
            code="merge_conflict",
        )
    if dropped.prepayment_required and not kept.prepayment_required:
        raise Conflict(
            f"{duplicate.code} must prepay and {survivor.code} need not; require prepayment of "
            f"{survivor.code} (or lift it for {duplicate.code}) before merging",
            field="prepayment_required",
            code="merge_conflict",
        )


# ---------------------------------------------------------------- references from other records


def resolve_customer_refs(session: Session, principal: Principal, items: Sequence[Item]) -> None:
    """Set each item's customer from customer_code or (customer_source, customer_external_id)."""
    codes: dict[int, list[Item]] = {}
    pairs: dict[tuple[str, str], list[Item]] = {}
    for item in items:
        rec = item.record
        code = getattr(rec, "customer_code", None)
        ext = getattr(rec, "customer_external_id", None)
        if code:
            codes.setdefault(int(code[1:]), []).append(item)
        elif ext:
            source = getattr(rec, "customer_source", None) or rec.source
            pairs.setdefault((source, ext), []).append(item)
    live = repo.live_customer_ids(session, set(codes))
    by_ref = repo.customer_ids_by_ref(session, set(pairs))
    owner_ids = visible_owner_ids(principal)
    found = set(live.values()) | set(by_ref.values())
    owners = repo.owner_ids_of(session, found) if owner_ids is not None else {}

    def visible(cid: int) -> bool:
        return owner_ids is None or owners.get(cid) in owner_ids

    for cid, waiting in codes.items():
        target = live.get(cid)
        for item in waiting:
            if target is None or not visible(target):
                item.fail(
                    "customer_code", f"no customer {repo.customer_code(cid)}", "unknown_reference"
                )
            else:
                item.customer_id = target
    for (source, ext), waiting in pairs.items():
        target = by_ref.get((source, ext))
        for item in waiting:
            if target is None or not visible(target):
                item.fail(
                    "customer_external_id",
                    f"no customer {ext!r} from source {source!r}",
                    "unknown_reference",
                )
            else:
                item.customer_id = target

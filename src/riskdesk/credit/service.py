"""Credit exposure kept up to date by events, order credit checks, and the held-order worklist."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from riskdesk.credit import repository as repo
from riskdesk.credit.checks import NON_CREDIT_METHODS, Position, Rule, evaluate
from riskdesk.credit.schemas import (
    CheckRuleUpdate,
    CreditCheckIn,
    ExposureDifference,
    ExposureLine,
    ExposureRead,
    SpecialExposureIn,
)
from riskdesk.customers import repository as customer_repo
from riskdesk.customers import service as customer_service
from riskdesk.customers.repository import CustomerFilter
from riskdesk.db import start_writing
from riskdesk.events import repository as event_repo
from riskdesk.kit import signals
from riskdesk.kit.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from riskdesk.kit.intake import Item
from riskdesk.kit.money import quantize
from riskdesk.kit.pagination import PageParams
from riskdesk.kit.timeutil import today, utcnow
from riskdesk.models import (
    CreditDecision,
    GroupLimitChange,
    Invoice,
    Order,
    SpecialExposure,
)
from riskdesk.models.customers import customer_code
from riskdesk.privacy import consent
from riskdesk.security.permissions import Permission
from riskdesk.security.service import Principal, ensure_second_person

ZERO = Decimal("0")
CORRECTIONS = ("order_cancellations", "credit_notes", "invoice_adjustments", "payment_reversals")
RISK_TIERS = ("low", "medium", "high", "critical")
# The parameters each check step takes, and what kind of value each is.
RULE_PARAMS: dict[str, dict[str, str]] = {
    "blocked": {},
    "prepayment": {"tiers": "tiers"},
    "limit": {"tolerance_pct": "number"},
    "max_order_value": {"max_amount": "optional_number"},
    "oldest_overdue": {"max_days": "number"},
    "overdue_ratio": {"max_ratio": "number"},
    "group_limit": {"tolerance_pct": "number"},
}
RULE_PARAM_HELP = {
    "tiers": "a list of risk tiers (low, medium, high, critical)",
    "number": "a number of at least 0",
    "optional_number": "a number of at least 0, or null",
}


# ---------------------------------------------------------------- exposure from events


def apply_events(session: Session, kind: str, items: Sequence[Item]) -> None:
    """Move exposure by what newly written orders, invoices and payments change, and the
    corrections of them (cancellations, credit notes and adjustments, payment reversals)."""
    new = [i for i in items if i.ok and i.status == "created"]
    if not new or kind not in ("orders", "invoices", "payments", *CORRECTIONS):
        return
    repo.ensure_rows(session, [i.customer_id for i in new if i.customer_id is not None])
    deltas: dict[tuple[int, str], Decimal] = {}

    def add(cid: int, category: str, amount: Decimal) -> None:
        deltas[(cid, category)] = deltas.get((cid, category), ZERO) + amount

    if kind == "orders":
        for item in new:
            if item.record.payment_method not in NON_CREDIT_METHODS:
                add(item.customer_id or 0, "open_orders", item.record.amount)
        keys = {(i.record.source, i.record.external_id) for i in new}
        for decision in repo.decisions_by_keys(session, keys).values():
            if decision.status in repo.RESERVING_STATUSES:
                add(decision.customer_id, "reserved", -decision.reserved)
                decision.status = "consumed"
                decision.updated_at = utcnow()
    elif kind == "invoices":
        per_order: dict[int, Decimal] = {}
        new_of_order: dict[int, list[int]] = {}
        for item in new:
            add(item.customer_id or 0, "open_receivables", item.record.amount)
            order_id = item.refs.get("order_id")
            if order_id is not None:
                per_order[order_id] = per_order.get(order_id, ZERO) + item.record.amount
                if item.result_id is not None:
                    new_of_order.setdefault(order_id, []).append(item.result_id)
        for order_id, (cid, amount, method, before) in _invoiced_before(
            session, list(per_order), new_of_order
        ).items():
            if method in NON_CREDIT_METHODS:
                continue
            was = max(ZERO, amount - before)
            now = max(ZERO, amount - before - per_order[order_id])
            add(cid, "open_orders", now - was)
    elif kind == "order_cancellations":
        # Only an order not invoiced can be cancelled: all of it was open.
        order_ids = [i.refs["order_id"] for i in new]
        for _oid, (cid, amount, method, before) in _invoiced_before(session, order_ids, {}).items():
            if method not in NON_CREDIT_METHODS:
                add(cid, "open_orders", -max(ZERO, amount - before))
    elif kind in CORRECTIONS:
        # What the new rows opened on each invoice (a reversal its payment, an adjustment
        # its change): the open amount before them is the one now less that.
        opened: dict[int, Decimal] = {}
        for item in new:
            change = item.refs["amount"] if kind == "payment_reversals" else item.record.amount
            if kind == "credit_notes":
                change = -change
            invoice_id = item.refs["invoice_id"]
            opened[invoice_id] = opened.get(invoice_id, ZERO) + Decimal(change)
        for invoice_id, (cid, now) in event_repo.invoice_openings(session, list(opened)).items():
            was = now - opened[invoice_id]
            add(cid, "open_receivables", max(ZERO, now) - max(ZERO, was))
    else:
        per_invoice: dict[int, Decimal] = {}
        new_of_invoice: dict[int, list[int]] = {}
        for item in new:
            invoice_id = item.refs["invoice_id"]
            per_invoice[invoice_id] = per_invoice.get(invoice_id, ZERO) + item.record.amount
            if item.result_id is not None:
                new_of_invoice.setdefault(invoice_id, []).append(item.result_id)
        for invoice_id, (cid, amount, before) in _paid_before(
            session, list(per_invoice), new_of_invoice
        ).items():
            was = max(ZERO, amount - before)
            now = max(ZERO, amount - before - per_invoice[invoice_id])
            add(cid, "open_receivables", now - was)
    repo.add_deltas(session, deltas)


def _invoiced_before(
    session: Session, order_ids: list[int], new_of_order: dict[int, list[int]]
) -> dict[int, tuple[int, Decimal, str, Decimal]]:
    """Per order: customer, amount, payment method, and what invoices other than the new ones
    (``new_of_order``: the new invoice ids of each order) had invoiced of it."""
    out = {}
    for part in customer_repo.chunks(order_ids):
        # Only the new invoices of this slice's orders are left out: a whole import's invoice
        # ids in every statement passed PostgreSQL's 65,535 parameters.
        new_ids = [i for oid in part for i in new_of_order.get(oid, ())]
        invoiced = (
            select(func.coalesce(func.sum(Invoice.amount), 0))
            .where(Invoice.order_id == Order.id, Invoice.id.not_in(new_ids))
            .scalar_subquery()
        )
        stmt = select(
            Order.id, Order.customer_id, Order.amount, Order.payment_method, invoiced
        ).where(Order.id.in_(part))
        for oid, cid, amount, method, inv in session.execute(stmt):
            out[oid] = (cid, quantize(Decimal(amount)), method, quantize(Decimal(inv)))
    return out


def _paid_before(
    session: Session, invoice_ids: list[int], new_of_invoice: dict[int, list[int]]
) -> dict[int, tuple[int, Decimal, Decimal]]:
    # What settled each invoice before these payments (``new_of_invoice``: the new payment ids
    # of each invoice): the others, net of corrections. Only this slice's new payments are
    # left out, so a statement's parameters stay within every database's limit.
    out = {}
    for part in customer_repo.chunks(invoice_ids):
        paid = event_repo.settled_on_invoice(
            [i for iid in part for i in new_of_invoice.get(iid, ())]
        )
        stmt = select(Invoice.id, Invoice.customer_id, Invoice.amount, paid).where(
            Invoice.id.in_(part)
        )
        for iid, cid, amount, before in session.execute(stmt):
            out[iid] = (cid, quantize(Decimal(amount)), quantize(Decimal(before)))
    return out


def verify(
    session: Session, *, repair: bool = False, customer_ids: Sequence[int] | None = None
) -> list[ExposureDifference]:
    """Compare stored exposure with the events; optionally make stored match."""
    expected = repo.recompute(session, customer_ids)
    actual = repo.stored(session, customer_ids)
    differences = [
        ExposureDifference(
            customer_id=cid,
            category=cat,
            stored=actual.get((cid, cat), ZERO),
            expected=expected.get((cid, cat), ZERO),
        )
        for cid, cat in sorted(set(expected) | set(actual))
        if actual.get((cid, cat), ZERO) != expected.get((cid, cat), ZERO)
    ]
    if repair and differences:
        repo.ensure_rows(session, sorted({d.customer_id for d in differences}))
        repo.set_amounts(session, {(d.customer_id, d.category): d.expected for d in differences})
    return differences


def exposure_read(session: Session, principal: Principal, customer_id: int) -> ExposureRead:
    """Exposure by category against the limit, with available credit and utilisation."""
    customer = customer_service.get_customer_or_raise(session, principal, customer_id)
    profile = customer_repo.get_profile(session, customer_id)
    assert profile is not None
    amounts = repo.exposures(session, [customer_id]).get(customer_id, {})
    cats = repo.categories(session)
    lines = [
        ExposureLine(
            category=c.code,
            name_en=c.name_en,
            name_zh=c.name_zh,
            counts_in_limit=c.counts_in_limit,
            amount=amounts.get(c.code, ZERO),
        )
        for c in cats
    ]
    counted = sum((ln.amount for ln in lines if ln.counts_in_limit), ZERO)
    info = sum((ln.amount for ln in lines if not ln.counts_in_limit), ZERO)
    position = _position_of(session, customer, profile, ZERO, profile.limit_currency, "credit")
    group = customer_repo.get_group(session, customer.group_id) if customer.group_id else None
    limit = position.limit_in_force
    return ExposureRead(
        customer_id=customer_id,
        lines=lines,
        counted=counted,
        information_only=info,
        credit_limit=profile.credit_limit,
        limit_in_force=limit,
        limit_currency=profile.limit_currency,
        available=limit - counted,
        utilisation=float(counted / limit) if limit > 0 else None,
        group_code=group.code if group else None,
        group_limit=group.credit_limit if group else None,
        group_exposure=position.group_exposure if group else None,
    )


# ---------------------------------------------------------------- credit checks


# The configuration a check reads (its steps, the categories counted in the limit) changes
# rarely: each process keeps it by stamp, a random number the database changes with every
# change of those tables (migration 0030's triggers), read by every check in its locked read.
# Keyed by stamp rather than held once: one process may serve several databases (tests).
@dataclass(frozen=True)
class CheckConfig:
    """The check's configuration as of one stamp."""

    stamp: int
    rules: tuple[Rule, ...]
    categories: tuple[str, ...]
    counted: tuple[str, ...]


_configs: dict[int, CheckConfig] = {}
_configs_lock = threading.Lock()
_MAX_CONFIGS = 16


def check_config(session: Session, stamp: int | None = None) -> CheckConfig:
    """The configuration of the given stamp (or the current one), from the process's cache."""
    if stamp is None:
        stamp = repo.config_stamp(session)
    found = _configs.get(stamp)
    if found is not None:
        return found
    # The stamp was read before the content: a change committed in between leaves the content
    # newer than its stamp, and the next check, seeing the new stamp, loads it again.
    categories = repo.categories(session)
    config = CheckConfig(
        stamp=stamp,
        rules=tuple(
            Rule(r.code, r.reaction, dict(r.params or {}), r.enabled) for r in repo.rules(session)
        ),
        categories=tuple(c.code for c in categories),
        counted=tuple(c.code for c in categories if c.counts_in_limit),
    )
    with _configs_lock:
        while len(_configs) >= _MAX_CONFIGS:
            _configs.pop(next(iter(_configs)))
        _configs[stamp] = config
    return config


def _counted(session: Session) -> list[str]:
    return list(check_config(session).counted)


def _position_of(
    session: Session,
    customer: Any,
    profile: Any,
    amount: Decimal,
    currency: str,
    method: str,
    *,
    counted: list[str] | None = None,
    amounts: dict[str, Decimal] | None = None,
) -> Position:
    """The position of a loaded customer (exposure pages, rechecks of held orders)."""
    counted = counted if counted is not None else _counted(session)
    if amounts is None:
        amounts = repo.exposures(session, [customer.id]).get(customer.id, {})
    group = customer_repo.get_group(session, customer.group_id) if customer.group_id else None
    business_day = today()
    oldest, overdue, open_amount = repo.overdue_position(session, customer.id, business_day)
    return Position(
        amount=amount,
        currency=currency,
        payment_method=method,
        today=business_day,
        credit_limit=profile.credit_limit,
        limit_currency=profile.limit_currency,
        limit_valid_from=profile.limit_valid_from,
        limit_valid_to=profile.limit_valid_to,
        exposure=sum((amounts.get(c, ZERO) for c in counted), ZERO),
        blocked=profile.blocked,
        blocked_reason=profile.blocked_reason,
        prepayment_required=profile.prepayment_required,
        risk_tier=profile.risk_tier,
        oldest_overdue_days=(business_day - oldest).days if oldest else 0,
        overdue_amount=overdue,
        open_amount=open_amount,
        group_code=group.code if group else None,
        group_limit=group.credit_limit if group else None,
        group_exposure=repo.group_exposure(session, group.id, counted) if group else ZERO,
    )


def _locked_exposure(
    session: Session, customer_id: int, group_id: int | None
) -> tuple[dict[str, Decimal], list[str]]:
    """The customer's exposure, locked, and the categories counted in the limit."""
    config = check_config(session)
    amounts = repo.lock_exposure(session, customer_id, group_id)
    if len(amounts) < len(config.categories):  # the customer's first check: create the rows
        repo.ensure_rows(session, [customer_id], config.categories)
        amounts = repo.lock_exposure(session, customer_id, group_id)
    return amounts, list(config.counted)


def _rules(session: Session) -> list[Rule]:
    return list(check_config(session).rules)


def _unknown_customer(body: CreditCheckIn) -> NotFound:
    if body.customer_code:
        return NotFound(
            f"no customer {customer_code(int(body.customer_code[1:]))}",
            field="customer_code",
            code="unknown_customer",
        )
    source = body.customer_source or body.source
    return NotFound(
        f"no customer {body.customer_external_id!r} from source {source!r}",
        field="customer_external_id",
        code="unknown_customer",
    )


def _position(
    inputs: repo.CheckInputs,
    locked: repo.LockedExposure,
    config: CheckConfig,
    body: CreditCheckIn,
    business_day: dt.date,
) -> Position:
    """The position a check decides on: the customer as read first, its exposure as locked."""
    exposure = sum((locked.amounts.get(c, ZERO) for c in config.counted), ZERO)
    grouped = inputs.group_code is not None
    return Position(
        amount=body.amount,
        currency=body.currency,
        payment_method=body.payment_method,
        today=business_day,
        credit_limit=inputs.credit_limit,
        limit_currency=inputs.limit_currency,
        limit_valid_from=inputs.limit_valid_from,
        limit_valid_to=inputs.limit_valid_to,
        exposure=exposure,
        blocked=inputs.blocked,
        blocked_reason=inputs.blocked_reason,
        prepayment_required=inputs.prepayment_required,
        risk_tier=inputs.risk_tier,
        oldest_overdue_days=(
            (business_day - inputs.oldest_overdue).days if inputs.oldest_overdue else 0
        ),
        overdue_amount=inputs.overdue_amount,
        open_amount=inputs.open_amount,
        group_code=inputs.group_code,
        group_limit=inputs.group_limit,
        group_exposure=locked.others_in_group + exposure if grouped else ZERO,
    )


def _duplicate(
    session: Session, decision_id: int, customer_id: int, body: CreditCheckIn
) -> tuple[CreditDecision, Decimal, bool]:
    existing = repo.get_decision(session, decision_id)
    assert existing is not None
    same = (
        existing.customer_id == customer_id
        and existing.amount == body.amount
        and existing.currency == body.currency
    )
    if not same:
        raise Conflict(
            "this order was already checked with other figures",
            field="order_external_id",
            code="idempotency_conflict",
        )
    return existing, Decimal(existing.inputs.get("available", "0")), True


def _read_inputs(
    session: Session, principal: Principal, body: CreditCheckIn, business_day: dt.date
) -> repo.CheckInputs:
    """The customer's credit file as the check needs it (one statement), or the error."""
    order_key = (body.source, body.order_external_id)
    if body.customer_code:
        inputs = repo.check_inputs(
            session,
            order_key=order_key,
            today=business_day,
            customer_id=int(body.customer_code[1:]),
        )
    else:
        assert body.customer_external_id is not None
        source = body.customer_source or body.source
        inputs = repo.check_inputs(
            session,
            order_key=order_key,
            today=business_day,
            ref=(source, body.customer_external_id),
        )
    owner_ids = customer_service.visible_owner_ids(principal)
    if inputs is None or (owner_ids is not None and inputs.owner_id not in owner_ids):
        raise _unknown_customer(body)
    return inputs


def _ensure_live(customer_id: int, status: str) -> None:
    if status in ("closed", "merged"):
        raise ValidationFailed(
            f"{customer_code(customer_id)} is {status}",
            field="customer_code",
            code="customer_inactive",
        )


def check_order(
    session: Session, principal: Principal, body: CreditCheckIn
) -> tuple[CreditDecision, Decimal, bool]:
    """Decide an order at once and record the decision; (decision, available before, dup).

    Reads the customer's credit file in one statement holding no lock, then takes the lock
    (SQLite: the write lock; PostgreSQL: the group's row and the exposure rows) and reads in
    one more statement what concurrent checks change, decides, and writes the decision and its
    reservation. The caller's transaction must not have begun writing (the route reads first).
    """
    business_day = today()
    inputs = _read_inputs(session, principal, body, business_day)
    cid = inputs.customer_id
    if inputs.decision_id is not None:
        return _duplicate(session, inputs.decision_id, cid, body)
    _ensure_live(cid, inputs.status)
    if inputs.kind == "individual":
        consent.require_consent_of(session, cid, inputs.kind, "credit_assessment")
    order_key = (body.source, body.order_external_id)
    config = check_config(session, inputs.stamp)
    start_writing(session)
    if inputs.group_id is not None:
        repo.lock_group(session, inputs.group_id)
    locked = repo.locked_exposure(session, cid, config.counted, order_key)
    if locked is None:  # the customer's first check: create the rows, then lock them
        repo.ensure_rows(session, [cid], config.categories)
        locked = repo.locked_exposure(session, cid, config.counted, order_key)
        assert locked is not None
    if locked.stamp != config.stamp:  # the configuration changed meanwhile: read with the new
        config = check_config(session, locked.stamp)
        locked = repo.locked_exposure(session, cid, config.counted, order_key)
        assert locked is not None
    if locked.decision_id is not None:  # the same order, checked meanwhile
        return _duplicate(session, locked.decision_id, cid, body)
    if locked.status != inputs.status or locked.group_id != inputs.group_id:
        # Merged, closed or regrouped meanwhile: read it all again, under the lock.
        inputs = _read_inputs(session, principal, body, business_day)
        _ensure_live(inputs.customer_id, inputs.status)
        if inputs.customer_id != cid or inputs.group_id != locked.group_id:
            raise Conflict(
                "the customer changed during the check; send it again", code="customer_changed"
            )
    position = _position(inputs, locked, config, body, business_day)
    outcome, steps = evaluate(list(config.rules), position)
    status = {"approve": "approved", "hold": "held", "reject": "rejected"}[outcome]
    reserve = (
        body.amount
        if status == "approved" and body.payment_method not in NON_CREDIT_METHODS
        else ZERO
    )
    now = utcnow()
    values: dict[str, Any] = {
        "customer_id": cid,
        "source": body.source,
        "order_external_id": body.order_external_id,
        "amount": body.amount,
        "currency": body.currency,
        "outcome": outcome,
        "status": status,
        "reserved": reserve,
        "checks": [s.as_dict() for s in steps],
        "inputs": position.as_dict(),
        "requested_by_id": principal.user_id,
        "decided_by": "rules",
        "recheck_count": 0,
        "resolved_by_id": None,
        "resolution_reason": None,
        "created_at": now,
        "updated_at": now,
    }
    decision = CreditDecision(id=repo.insert_decision(session, values), **values)
    if reserve:
        repo.add_deltas(session, {(cid, "reserved"): reserve})
    return decision, position.available, False


def reasons(decision: CreditDecision) -> tuple[list[str], list[str]]:
    """The reasons of the steps that did not pass, in English and Chinese."""
    failed = [c for c in decision.checks if c["result"] != "pass"]
    return [c["en"] for c in failed], [c["zh"] for c in failed]


def _held_or_raise(session: Session, principal: Principal, decision_id: int) -> CreditDecision:
    decision = repo.get_decision(session, decision_id, lock=True)
    missing = NotFound(f"no credit decision {decision_id}", field="decision_id")
    if decision is None:
        raise missing
    customer_service.ensure_visible(session, principal, decision.customer_id, missing)
    if decision.status != "held":
        raise Conflict(f"decision {decision_id} is {decision.status}, not held", code="not_held")
    return decision


def release(
    session: Session, principal: Principal, decision_id: int, reason: str
) -> CreditDecision:
    """Let a held order through; never by the person who asked for the check."""
    if not principal.can(Permission.CREDIT_DECISIONS_RESOLVE):
        raise PermissionDenied("releasing orders needs 'credit_decisions:resolve'")
    decision = _held_or_raise(session, principal, decision_id)
    ensure_second_person(
        principal, decision.requested_by_id, "nobody releases an order they placed"
    )
    repo.ensure_rows(session, [decision.customer_id])
    decision.status = "released"
    decision.resolved_by_id = principal.user_id
    decision.resolution_reason = reason
    decision.updated_at = utcnow()
    decision.reserved = decision.amount
    repo.add_deltas(session, {(decision.customer_id, "reserved"): decision.amount})
    session.flush()
    return decision


def reject(session: Session, principal: Principal, decision_id: int, reason: str) -> CreditDecision:
    """Turn a held order down."""
    if not principal.can(Permission.CREDIT_DECISIONS_RESOLVE):
        raise PermissionDenied("rejecting orders needs 'credit_decisions:resolve'")
    decision = _held_or_raise(session, principal, decision_id)
    decision.status = "rejected"
    decision.resolved_by_id = principal.user_id
    decision.resolution_reason = reason
    decision.updated_at = utcnow()
    session.flush()
    return decision


def _recheck(session: Session, decision: CreditDecision, by: str) -> CreditDecision:
    customer = customer_repo.get_customer(session, decision.customer_id)
    profile = customer_repo.get_profile(session, decision.customer_id)
    assert customer is not None and profile is not None
    if consent.without_consent(session, "credit_assessment", [customer.id]):
        return decision  # consent withdrawn since: the order stays held for a person to decide
    amounts, counted = _locked_exposure(session, customer.id, customer.group_id)
    method = decision.inputs.get("payment_method", "credit")
    position = _position_of(
        session,
        customer,
        profile,
        decision.amount,
        decision.currency,
        method,
        counted=counted,
        amounts=amounts,
    )
    outcome, steps = evaluate(_rules(session), position)
    decision.recheck_count += 1
    decision.checks = [s.as_dict() for s in steps]
    decision.inputs = position.as_dict()
    decision.outcome = outcome
    decision.decided_by = by
    decision.updated_at = utcnow()
    if outcome == "approve":
        decision.status = "approved"
        if method not in NON_CREDIT_METHODS:
            decision.reserved = decision.amount
            repo.add_deltas(session, {(customer.id, "reserved"): decision.amount})
    elif outcome == "reject":
        decision.status = "rejected"
    session.flush()
    return decision


def recheck(session: Session, principal: Principal, decision_id: int) -> CreditDecision:
    """Run the checks again on a held order."""
    if not principal.can(Permission.CREDIT_DECISIONS_RESOLVE):
        raise PermissionDenied("rechecking orders needs 'credit_decisions:resolve'")
    return _recheck(
        session,
        _held_or_raise(session, principal, decision_id),
        f"recheck:{principal.user.username}",
    )


def recheck_held(session: Session, customer_ids: Sequence[int], *, why: str) -> int:
    """Recheck every held order of these customers (a payment came in, a limit changed)."""
    changed = 0
    for decision in repo.held_for(session, customer_ids):
        if _recheck(session, decision, f"auto:{why}").status != "held":
            changed += 1
    return changed


def _on_profile_changed(session: Session, customer_id: int, fields: Sequence[str]) -> None:
    if set(fields) & {
        "credit_limit",
        "limit_currency",
        "blocked",
        "limit_valid_from",
        "limit_valid_to",
        "prepayment_required",
    }:
        recheck_held(session, [customer_id], why="limit_change")


signals.subscribe(signals.CREDIT_PROFILE_CHANGED, _on_profile_changed)


def _on_customers_merged(session: Session, survivor_id: int, duplicate_id: int, **_: Any) -> None:
    """The duplicate's debt becomes the survivor's: its decisions (reservations, held orders and
    their history) and special exposure move over, and its stored exposure is added to the
    survivor's (its own rows end at zero), so stored still equals what the events say. The
    survivor's held orders, its own and the moved ones, are rechecked against the new total."""
    survivor = customer_repo.get_customer(session, survivor_id)
    assert survivor is not None
    repo.ensure_rows(session, [survivor_id, duplicate_id])
    # Checks on either customer wait until the merge commits (group first, as a check locks).
    repo.lock_exposure(session, survivor_id, survivor.group_id)
    repo.lock_exposure(session, duplicate_id, None)
    customer_repo.reassign_customer(
        session, (CreditDecision, SpecialExposure), from_id=duplicate_id, to_id=survivor_id
    )
    carried = repo.exposures(session, [duplicate_id]).get(duplicate_id, {})
    deltas = {(survivor_id, cat): amount for cat, amount in carried.items() if amount}
    deltas.update({(duplicate_id, cat): -amount for cat, amount in carried.items() if amount})
    repo.add_deltas(session, deltas)
    recheck_held(session, [survivor_id], why="merge")


signals.subscribe(signals.CUSTOMERS_MERGED, _on_customers_merged)


def list_decisions(
    session: Session,
    principal: Principal,
    *,
    status: str | None = None,
    customer_id: int | None = None,
) -> list[CreditDecision]:
    """Decisions the caller may see (a customer's, when given); pages of the worklist come
    from page_decisions."""
    return repo.list_decisions(
        session,
        status=status,
        customer_id=customer_id,
        owner_ids=customer_service.visible_owner_ids(principal),
    )


def page_decisions(
    session: Session,
    principal: Principal,
    *,
    status: str | None,
    within: Any,
    page: PageParams,
    sort: str,
) -> tuple[list[CreditDecision], int]:
    """One page of the decisions the caller may see, sorted by one of ``repo.DECISION_SORTS``
    (``-`` in front: descending), with how many match in all."""
    if sort.removeprefix("-") not in repo.DECISION_SORTS:
        raise ValidationFailed(f"unknown sort {sort!r}", field="sort")
    owners = customer_service.visible_owner_ids(principal)
    total = repo.count_decisions(
        session, status=status, customer_id=None, owner_ids=owners, within=within
    )
    rows = repo.list_decisions(session, status=status, owner_ids=owners, within=within,
                               offset=page.offset, limit=page.size, sort=sort)  # fmt: skip
    return rows, total


def count_decisions(
    session: Session,
    principal: Principal,
    *,
    status: str | None,
    customer_id: int | None,
    within: Any = None,
) -> int:
    """How many decisions the caller may see match (the list without its limit)."""
    return repo.count_decisions(
        session,
        status=status,
        customer_id=customer_id,
        owner_ids=customer_service.visible_owner_ids(principal),
        within=within,
    )


def export_decisions(
    session: Session,
    principal: Principal,
    *,
    status: str | None,
    customer_id: int | None,
    chunk: int,
    within: Any = None,
) -> Iterator[dict[str, Any]]:
    """The decision list's rows for a file (newest first; ``within``: a SELECT of the customer
    ids to keep to), streamed."""
    rows = repo.decisions_for_export(
        session,
        status=status,
        customer_id=customer_id,
        owner_ids=customer_service.visible_owner_ids(principal),
        chunk=chunk,
        within=within,
    )
    for d, kind, company_name, person_name, requested_by in rows:
        reasons_en, reasons_zh = reasons(d)
        yield {
            "id": d.id,
            "customer_code": customer_repo.customer_code(d.customer_id),
            "customer_name": customer_service.shown_name(kind, company_name, person_name),
            "source": d.source,
            "order": d.order_external_id,
            "amount": d.amount,
            "currency": d.currency,
            "status": d.status,
            "reasons_en": "; ".join(reasons_en),
            "reasons_zh": "；".join(reasons_zh),
            "requested_by": requested_by or d.decided_by,
            "created_at": d.created_at,
            "updated_at": d.updated_at,
            "resolution_reason": d.resolution_reason,
        }


def export_exposure(
    session: Session, principal: Principal, *, flt: CustomerFilter, chunk: int
) -> Iterator[dict[str, Any]]:
    """Every filtered customer's exposure against its limit in force (zero outside its
    validity dates, as the credit check counts it), streamed by customer id."""
    flt = CustomerFilter(
        **{**flt.__dict__, "owner_ids": customer_service.visible_owner_ids(principal)}
    )
    day = today()
    for r in repo.exposure_for_export(session, flt, chunk=chunk):
        valid = not (
            (r.limit_valid_from and day < r.limit_valid_from)
            or (r.limit_valid_to and day > r.limit_valid_to)
        )
        limit = r.credit_limit if valid else ZERO
        counted = quantize(Decimal(r.counted or 0))
        yield {
            "customer_code": customer_repo.customer_code(r.id),
            "customer_name": customer_service.shown_name(r.kind, r.company_name, r.person_name),
            "risk_tier": r.risk_tier,
            "credit_limit": r.credit_limit,
            "limit_in_force": limit,
            "currency": r.limit_currency,
            "limit_valid_to": r.limit_valid_to,
            "counted": counted,
            "information_only": quantize(Decimal(r.information_only or 0)),
            "available": limit - counted,
            "utilisation": float(counted / limit) if limit > 0 else None,
            "blocked": r.blocked,
        }


def get_decision_or_raise(
    session: Session, principal: Principal, decision_id: int
) -> CreditDecision:
    """A decision the caller may see."""
    decision = repo.get_decision(session, decision_id)
    missing = NotFound(f"no credit decision {decision_id}", field="decision_id")
    if decision is None:
        raise missing
    customer_service.ensure_visible(session, principal, decision.customer_id, missing)
    return decision


# ---------------------------------------------------------------- special exposure and policy


def add_special(
    session: Session, principal: Principal, customer_id: int, body: SpecialExposureIn
) -> SpecialExposure:
    """Record exposure that no event shows."""
    customer = customer_service.get_customer_or_raise(session, principal, customer_id)
    category = repo.get_category(session, body.category)
    if category is None or body.category in ("open_orders", "open_receivables", "reserved"):
        raise ValidationFailed(
            "use a manual category such as 'special' or 'consignment'",
            field="category",
            code="unknown_category",
        )
    entry = SpecialExposure(
        customer_id=customer.id,
        category=body.category,
        amount=body.amount,
        description=body.description,
        created_by_id=principal.user_id,
    )
    session.add(entry)
    session.flush()
    repo.ensure_rows(session, [customer.id])
    repo.add_deltas(session, {(customer.id, body.category): body.amount})
    customer_service.record_version(
        session,
        customer=customer,
        actor_id=principal.user_id,
        action="special_exposure",
        channel="api",
        reason=body.description,
        changes=[(f"exposure.{body.category}", None, f"{body.amount:.2f}")],
    )
    if body.amount < 0:
        recheck_held(session, [customer.id], why="exposure_change")
    return entry


def release_special(
    session: Session, principal: Principal, customer_id: int, entry_id: int
) -> SpecialExposure:
    """End a special exposure entry."""
    customer = customer_service.get_customer_or_raise(session, principal, customer_id)
    entry = repo.get_special(session, entry_id)
    if entry is None or entry.customer_id != customer.id:
        raise NotFound(f"no special exposure {entry_id} on {customer.code}", field="entry_id")
    if entry.released_at is not None:
        raise Conflict("already released", code="already_released")
    entry.released_at = utcnow()
    repo.add_deltas(session, {(customer.id, entry.category): -entry.amount})
    customer_service.record_version(
        session,
        customer=customer,
        actor_id=principal.user_id,
        action="special_exposure_released",
        channel="api",
        reason=entry.description,
        changes=[(f"exposure.{entry.category}", f"{entry.amount:.2f}", None)],
    )
    recheck_held(session, [customer.id], why="exposure_change")
    return entry


def update_rule(session: Session, principal: Principal, code: str, body: CheckRuleUpdate) -> Any:
    """Change a check step's reaction, parameters or whether it runs."""
    rule = repo.get_rule(session, code)
    if rule is None:
        raise NotFound(f"no credit check {code!r}", field="code")
    if body.enabled is not None:
        rule.enabled = body.enabled
    if body.reaction is not None:
        rule.reaction = body.reaction
    if body.params is not None:
        allowed = RULE_PARAMS.get(code, {})
        for key, value in body.params.items():
            kind = allowed.get(key)
            if kind is None:
                raise ValidationFailed(
                    f"{code} takes no parameter {key!r}; it takes {', '.join(allowed) or 'none'}",
                    field=f"params.{key}",
                )
            if kind == "tiers":
                ok = isinstance(value, list) and all(v in RISK_TIERS for v in value)
            elif kind == "optional_number":
                ok = value is None or (isinstance(value, int | float) and value >= 0)
            else:
                ok = isinstance(value, int | float) and not isinstance(value, bool) and value >= 0
            if not ok:
                raise ValidationFailed(
                    f"{key} must be {RULE_PARAM_HELP[kind]}", field=f"params.{key}"
                )
        rule.params = {**(rule.params or {}), **body.params}
    rule.updated_at = utcnow()
    rule.updated_by_id = principal.user_id
    session.flush()
    return rule


def set_category(session: Session, code: str, counts_in_limit: bool) -> Any:
    """Count a category in the limit check, or show it for information only."""
    category = repo.get_category(session, code)
    if category is None:
        raise NotFound(f"no exposure category {code!r}", field="code")
    category.counts_in_limit = counts_in_limit
    session.flush()
    return category


# ---------------------------------------------------------------- group limits (four eyes)


def list_groups(session: Session) -> list[tuple[Any, int, Decimal]]:
    """Groups with their member count and counted exposure."""
    counted = _counted(session)
    return [
        (g, n, repo.group_exposure(session, g.id, counted))
        for g, n in repo.groups_with_members(session)
    ]


def get_group_or_raise(session: Session, code: str) -> Any:
    """A customer group by code, or NotFound."""
    group = customer_repo.groups_by_code(session, {code}).get(code)
    if group is None:
        raise NotFound(f"no customer group {code!r}", field="code")
    return group


def group_members(
    session: Session, principal: Principal, group_id: int
) -> tuple[list[tuple[Any, Any, Decimal]], int]:
    """The live members of a group the caller may see, each with its credit profile and
    counted exposure, by code; and how many live members the group has in all."""
    member_ids = repo.group_member_ids(session, group_id)
    shown = sorted(customer_service.visible_among(session, principal, member_ids))
    counted = set(_counted(session))
    amounts = repo.exposures(session, shown)
    loaded = customer_repo.customers_with_profiles(session, shown)
    rows = []
    for cid, (customer, profile) in loaded.items():
        exposure = sum((v for k, v in amounts.get(cid, {}).items() if k in counted), Decimal(0))
        rows.append((customer, profile, quantize(exposure)))
    rows.sort(key=lambda r: r[0].code)
    return rows, len(member_ids)


def group_limit_history(session: Session, group_id: int) -> list[Any]:
    """A group's limit changes, waiting and decided, newest first."""
    return repo.group_changes(session, group_id)


def pending_group_limits(session: Session) -> list[Any]:
    """Group limit changes waiting for a second person, oldest first."""
    return repo.pending_group_changes(session)


def request_group_limit(
    session: Session,
    principal: Principal,
    code: str,
    new_limit: Decimal | None,
    currency: str,
    reason: str,
) -> Any:
    """Ask for a new group limit; a second person must approve it."""
    if not principal.can(Permission.CREDIT_POLICY_MANAGE):
        raise PermissionDenied("changing group limits needs 'credit_policy:manage'")
    group = customer_repo.groups_by_code(session, {code}).get(code)
    if group is None:
        raise NotFound(f"no customer group {code!r}", field="code")
    for waiting in repo.pending_group_changes(session, group.id):
        if waiting.new_limit == new_limit and waiting.currency == currency:
            return waiting  # the same request again: nothing new
    change = GroupLimitChange(
        group_id=group.id,
        old_limit=group.credit_limit,
        new_limit=new_limit,
        currency=currency,
        status="pending",
        reason=reason,
        requested_by_id=principal.user_id,
    )
    session.add(change)
    session.flush()
    return change


def decide_group_limit(
    session: Session,
    principal: Principal,
    change_id: int,
    approve: bool,
    comment: str | None = None,
) -> Any:
    """Approve (applies it and rechecks the members' held orders) or reject a group limit,
    with the decider's comment."""
    if not principal.can(Permission.CHANGES_APPROVE):
        raise PermissionDenied("deciding group limits needs 'changes:approve'")
    change = repo.get_group_change(session, change_id)
    if change is None:
        raise NotFound(f"no group limit change {change_id}", field="change_id")
    if change.status != "pending":
        raise Conflict(f"change {change_id} is already {change.status}", code="already_decided")
    ensure_second_person(principal, change.requested_by_id)
    group = customer_repo.get_group(session, change.group_id)
    assert group is not None
    change.decided_by_id = principal.user_id
    change.decided_at = utcnow()
    change.decision_comment = (comment or "").strip() or None
    if not approve:
        change.status = "rejected"
        session.flush()
        return change
    if group.credit_limit != change.old_limit:
        raise Conflict(
            "the group limit changed since this was requested; reject it", code="stale_change"
        )
    group.credit_limit = change.new_limit
    group.limit_currency = change.currency
    change.status = "approved"
    session.flush()
    recheck_held(session, repo.group_member_ids(session, group.id), why="group_limit_change")
    return change

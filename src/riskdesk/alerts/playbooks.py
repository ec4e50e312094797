"""Playbooks: what to do about an alert.

Each step is an action, run automatically when the alert is raised or offered to whoever works
the alert. Tasks (contact the customer, start collection with dunning steps, a retention offer)
are recorded on the alert; escalation moves it up a level; actions that change credit (hold new
orders, reduce the limit, require prepayment, shorten terms) go to the approval queue like any
critical change, so a second person decides. Automatic actions are done by Riskdesk's own
system user, which may propose but never approve, and every action is logged.

The alerts service starts playbooks on the alerts it raises; this module never imports the
service (visibility comes from ``alerts.visibility``), so the two import in one direction.
"""

from __future__ import annotations

import datetime as dt
import secrets
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy.orm import Session

from riskdesk.alerts import repository as repo
from riskdesk.alerts.visibility import check_visible
from riskdesk.customers import repository as customer_repo
from riskdesk.customers import service as customer_service
from riskdesk.customers.schemas import CustomerUpdate
from riskdesk.kit.errors import Conflict, NotFound, ValidationFailed
from riskdesk.kit.timeutil import utcnow
from riskdesk.models import Alert, AlertAction, Playbook, User
from riskdesk.security import passwords
from riskdesk.security import repository as users_repo
from riskdesk.security.permissions import Role
from riskdesk.security.service import SYSTEM_USERNAME, Principal, principal_for

TASKS = ("contact_customer", "start_collection", "retention_offer")
CREDIT = ("hold_orders", "reduce_limit", "require_prepayment", "shorten_terms")
ACTIONS = (*TASKS, *CREDIT, "escalate")
SYSTEM_USER = SYSTEM_USERNAME
DUNNING = (
    {"day": 0, "step": "reminder"},
    {"day": 7, "step": "call"},
    {"day": 14, "step": "formal letter"},
    {"day": 30, "step": "stop deliveries"},
)
SEVERITY_RANK = {"low": 0, "medium": 1, "high": 2, "critical": 3}


def system_principal(session: Session) -> Principal:
    """Riskdesk acting on its own: a risk-analyst user that cannot sign in."""
    user = users_repo.get_user_by_username(session, SYSTEM_USER)
    if user is None:
        user = User(
            username=SYSTEM_USER,
            display_name="Riskdesk (automatic)",
            role=Role.RISK_ANALYST.value,
            password_hash=passwords.hash_password(secrets.token_urlsafe(48)),
            is_active=False,
            failed_logins=0,
        )
        session.add(user)
        session.flush()
    return principal_for(session, user, via="system")


def install_defaults(session: Session) -> int:
    """Add the shipped playbooks that are missing; how many."""
    specs = yaml.safe_load(
        (Path(__file__).parent / "default_playbooks.yaml").read_text(encoding="utf-8")
    )
    added = 0
    for spec in specs:
        if repo.playbook_by_code(session, spec["code"]) is None:
            check_steps(spec["steps"])
            session.add(Playbook(**spec))
            added += 1
    session.flush()
    return added


# The parameters an action takes, with their allowed range; checked when a playbook is saved,
# because an automatic step runs inside an event intake, where a bad value must not surface.
PARAMS: dict[str, dict[str, tuple[float, float]]] = {
    "reduce_limit": {"percent": (1, 100)},
    "shorten_terms": {"days": (1, 365)},
}


def check_steps(steps: list[dict[str, Any]]) -> None:
    """Every step names a known action, with parameters it takes, in range."""
    for i, step in enumerate(steps):
        action = step.get("action")
        if action not in ACTIONS:
            raise ValidationFailed(
                f"steps[{i}]: unknown action {action!r}; there are " + ", ".join(ACTIONS),
                field="steps",
            )
        allowed = PARAMS.get(action, {})
        for name, value in (step.get("params") or {}).items():
            if name not in allowed:
                raise ValidationFailed(
                    f"steps[{i}]: {action} takes no parameter {name!r}", field="steps"
                )
            low, high = allowed[name]
            if not isinstance(value, int | float) or not low <= value <= high:
                raise ValidationFailed(
                    f"steps[{i}]: {name} must be between {low:g} and {high:g}", field="steps"
                )


def playbook_for(playbooks: list[Playbook], alert: Alert) -> Playbook | None:
    """The playbook of the alert's rule, else the first by severity."""
    active = [p for p in playbooks if p.active]
    for p in active:
        if p.rule_code == alert.rule_code:
            return p
    rank = SEVERITY_RANK[alert.severity]
    for p in active:
        if p.rule_code is None and p.min_severity and rank >= SEVERITY_RANK[p.min_severity]:
            return p
    return None


def start(session: Session, alerts: list[Alert]) -> int:
    """Offer each new alert its playbook's steps and run the automatic ones; how many ran."""
    playbooks = repo.playbooks(session)
    if not playbooks or not alerts:
        return 0
    ran = 0
    system: Principal | None = None
    for alert in alerts:  # new alerts only
        playbook = playbook_for(playbooks, alert)
        if playbook is None:
            continue
        for step in playbook.steps:
            if step.get("auto"):
                system = system or system_principal(session)
                perform(session, system, alert, step["action"], step.get("params") or {},
                        playbook=playbook, auto=True)  # fmt: skip
                ran += 1
            else:
                session.add(
                    AlertAction(
                        alert_id=alert.id,
                        playbook_id=playbook.id,
                        action=step["action"],
                        auto=False,
                        status="offered",
                        detail={"params": step.get("params") or {}},
                        assigned_to_id=alert.assigned_to_id,
                    )
                )
    session.flush()
    return ran


def perform(
    session: Session,
    principal: Principal,
    alert: Alert,
    action: str,
    params: dict[str, Any],
    *,
    playbook: Playbook | None = None,
    auto: bool = False,
) -> AlertAction:
    """Do one action for an alert and log it."""
    if action not in ACTIONS:
        raise ValidationFailed(f"unknown action {action!r}", field="action")
    if alert.customer_id is None and action in CREDIT:
        raise ValidationFailed(
            f"{action} changes a customer's credit; a product alert has no customer",
            field="action",
        )
    now = utcnow()
    entry = AlertAction(
        alert_id=alert.id,
        playbook_id=playbook.id if playbook else None,
        action=action,
        auto=auto,
        assigned_to_id=alert.assigned_to_id,
        performed_by_id=None if auto else principal.user_id,
        created_at=now,
    )
    if action in TASKS:
        entry.status = "open"
        entry.due_at = now + dt.timedelta(days=2)
        entry.detail = {"steps": list(DUNNING)} if action == "start_collection" else {}
    elif action == "escalate":
        alert.escalation_level += 1
        alert.escalated_at = now
        entry.status = "done"
        entry.completed_at = now
        entry.detail = {"level": alert.escalation_level}
    else:
        entry.detail = _credit_change(session, principal, alert, action, params)
        entry.status = "awaiting_approval" if entry.detail.get("pending_change_id") else "done"
    session.add(entry)
    session.flush()
    return entry


def _credit_change(
    session: Session, principal: Principal, alert: Alert, action: str, params: dict[str, Any]
) -> dict[str, Any]:
    assert alert.customer_id is not None  # perform refuses credit actions on product alerts
    profile = customer_repo.get_profile(session, alert.customer_id)
    if profile is None:
        raise NotFound(f"no customer {alert.customer_id}", field="customer_id")
    why = f"alert {alert.id} ({alert.rule_code}): {action}"
    change: dict[str, Any]
    if action == "hold_orders":
        change = {"blocked": True, "blocked_reason": why}
    elif action == "require_prepayment":
        change = {"prepayment_required": True}
    elif action == "reduce_limit":
        share = Decimal(str(params.get("percent", 30))) / 100
        change = {"credit_limit": (profile.credit_limit * (1 - share)).quantize(Decimal("1"))}
    else:  # shorten_terms
        change = {
            "payment_terms_days": max(0, profile.payment_terms_days - int(params.get("days", 15)))
        }
    outcome = customer_service.update_customer(
        session,
        principal,
        alert.customer_id,
        CustomerUpdate.model_validate({**change, "reason": why}),
        channel="playbook",
    )
    return {
        "change": {k: str(v) for k, v in change.items()},
        "pending_change_id": outcome.pending.id if outcome.pending else None,
    }


def cancel_unfinished(
    session: Session, system: Principal, reasons: dict[int, str], now: dt.datetime
) -> int:
    """Cancel the steps of alerts that cleared themselves (alert id -> reason code) that
    nobody carried out; how many.

    Automatic tasks still open and offers nobody took become "cancelled". A credit change an
    automatic step proposed that still waits in the approval queue is withdrawn there by its
    author, Riskdesk's system user (``customer_service.reject_change``), so nobody approves a
    block or a cut for a condition that is gone; one a person already decided stays decided.
    What people did themselves (tasks they took, changes they asked for) stays as it is."""
    cancelled = 0
    for step in repo.unfinished_steps(session, sorted(reasons)):  # the few steps of those alerts
        why = f"alert {step.alert_id} cleared itself: {reasons[step.alert_id]}"
        change_id = step.detail.get("pending_change_id")
        if step.status == "awaiting_approval" and change_id is not None:
            try:
                customer_service.reject_change(session, system, int(change_id), why)
            except (Conflict, NotFound):
                continue  # a person decided it already (or it is gone): that stands
        step.status = "cancelled"
        step.completed_at = now
        step.detail = {**step.detail, "cancelled": reasons[step.alert_id]}
        cancelled += 1
    session.flush()
    return cancelled


def run_offered(session: Session, principal: Principal, action_id: int) -> AlertAction:
    """Carry out an offered step as the caller."""
    offered = repo.get_action(session, action_id)
    missing = NotFound(f"no offered action {action_id}", field="action_id")
    if offered is None or offered.status != "offered":
        raise missing
    alert = repo.get_alert(session, offered.alert_id)
    assert alert is not None
    check_visible(session, principal, alert, missing)
    playbook = repo.get_playbook(session, offered.playbook_id) if offered.playbook_id else None
    done = perform(
        session, principal, alert, offered.action, offered.detail.get("params") or {},
        playbook=playbook,
    )  # fmt: skip
    offered.status = "taken"
    offered.completed_at = done.created_at
    session.flush()
    return done


def complete_task(session: Session, principal: Principal, action_id: int) -> AlertAction:
    """Mark a task done."""
    task = repo.get_action(session, action_id)
    missing = NotFound(f"no open task {action_id}", field="action_id")
    if task is None or task.status != "open":
        raise missing
    alert = repo.get_alert(session, task.alert_id)
    assert alert is not None
    check_visible(session, principal, alert, missing)
    task.status = "done"
    task.completed_at = utcnow()
    task.performed_by_id = principal.user_id
    session.flush()
    return task


def actions_of(session: Session, principal: Principal, alert_id: int) -> list[AlertAction]:
    """An alert's actions, oldest first."""
    alert = repo.get_alert(session, alert_id)
    if alert is None:
        raise NotFound(f"no alert {alert_id}", field="alert_id")
    check_visible(session, principal, alert)
    return repo.actions_of(session, alert_id)


def add(session: Session, spec: dict[str, Any]) -> Playbook:
    """A new playbook (its code must be free)."""
    check_steps(spec["steps"])
    if repo.playbook_by_code(session, spec["code"]) is not None:
        raise Conflict(f"playbook {spec['code']!r} exists", field="code", code="already_exists")
    playbook = Playbook(**spec)
    session.add(playbook)
    session.flush()
    return playbook


def update(session: Session, code: str, spec: dict[str, Any]) -> Playbook:
    """Change a playbook: names, what it applies to, its steps, whether it is active. Alerts
    already raised keep the steps they were offered."""
    playbook = repo.playbook_by_code(session, code)
    if playbook is None:
        raise NotFound(f"no playbook {code!r}", field="code")
    check_steps(spec["steps"])
    for key in ("name_en", "name_zh", "rule_code", "min_severity", "steps"):
        setattr(playbook, key, spec[key])
    playbook.active = spec.get("active", playbook.active)
    session.flush()
    return playbook

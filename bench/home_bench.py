"""The role home pages on a large book: how long each role's home answer takes.

    PYTHONPATH=src:. .venv/bin/python bench/home_bench.py [--customers 100000]
        [--invoices 3] [--rounds 3] [--backend sqlite|postgresql]
        [--db-url postgresql+psycopg://postgres@127.0.0.1:5432/test] [--per-statement]

A fresh database, migrated, filled with plain INSERTs: the book of ``portfolio_bench.fill``
(companies, credit profiles, exposure, invoices, payments, held orders, limit requests), then
what the other homes read, in volumes that scale with ``--customers`` (figures for 100,000):

- alerts: 50,000 over the last 90 days, 6 rule codes and warning types, a fifth assigned to the
  analyst, half of them closed (resolved or dismissed, with an outcome, some late or escalated);
- complaints and survey responses: 30,000 each (complaints over 180 days, some past their
  response or resolution SLA; surveys CSAT and NPS over 12 months);
- audit log: 500,000 entries over 30 days, 16 chains, 24 actors, writes, views, reveals (1 %),
  exports; the entries' hashes are placeholders and ``audit_head`` is not advanced, so the
  chains would not verify: no home reads the hashes;
- four-eyes decisions: 2,000 credit-file changes, 1,000 limit requests, 200 group limit changes
  and 40 rule versions decided over 30 days by two credit managers; 200 held orders
  and 100 pending limit requests of the sales person's customers;
- background jobs and outbox deliveries: 3,000 each over 7 days; 200 rows waiting in the event
  queue and 20 dead letters;
- a champion and a challenger model with 100,000 scores each on their latest day (the
  champion one more day before), a churn fit, 3 orders a customer over a year and an indicator
  snapshot a customer (for the churn risks of customer service's own customers).

The month-end job (``portfolio.month_ends.refresh``) is run once, as in production: the sales
home reads the portfolio's stored month ends.

Users: the demo's usernames (analyst, sales, service, auditor, admin; the fill's ``manager``);
sales and service share a team and so see the same 1/20 of the book. Each home is called as
its user through ``security_service.system_principal``; the median of ``--rounds`` (after one
warm-up) is printed, wall and CPU time, with the statements' count; ``--per-statement`` prints
the slowest statements of the last round.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from bench import databases
from bench.portfolio_bench import _insert, fill
from sqlalchemy import func, insert, select, update

from riskdesk import bootstrap
from riskdesk.home import service
from riskdesk.kit.timeutil import today, utcnow
from riskdesk.models import (
    Alert,
    AuditEntry,
    AuditHead,
    ChurnFit,
    Complaint,
    CreditDecision,
    Customer,
    DeadLetter,
    Delivery,
    GroupLimitChange,
    IndicatorSnapshot,
    Job,
    LimitRequest,
    ModelScore,
    ModelVersion,
    Order,
    PendingChange,
    QueuedWork,
    RuleVersion,
    SurveyResponse,
    WarningRule,
)
from riskdesk.portfolio import month_ends
from riskdesk.security import service as security_service
from riskdesk.security.permissions import Role

PASSWORD = "Bench-pass-2026"
RULES = (
    ("OVERDUE_NEW", "new_overdue", "payment"),
    ("LIMIT_BREACH", "limit_breach", "exposure"),
    ("PAY_SLOWDOWN", "payment_delay", "payment"),
    ("ORDER_DROP", "order_drop", "behaviour"),
    ("COMPLAINT_SPIKE", "complaint_spike", "service"),
    ("RATING_DOWN", "rating_downgrade", "rating"),
)
# Audit actions in proportion: 60 % views, 30 % writes, 5 % exports, 5 % reveals (thinned
# to 1 % below).
ACTIONS = ("view",) * 12 + ("write",) * 6 + ("export", "reveal")


def _users(factory: Any) -> dict[str, int]:
    """The demo's other users (the fill made ``manager`` and ``sales``); username -> id."""
    with factory.begin() as session:
        for username, role, team in (
            ("manager2", Role.CREDIT_MANAGER, None),
            ("analyst", Role.RISK_ANALYST, None),
            ("service", Role.CUSTOMER_SERVICE, "bench"),  # sales' team, as in the demo
            ("auditor", Role.AUDITOR, None),
            ("admin", Role.ADMIN, None),
        ):
            security_service.create_user(
                session, username=username, display_name=username, role=role,
                password=PASSWORD, team=team,
            )  # fmt: skip
    with factory() as session:
        from riskdesk.models import User

        return {u: int(i) for i, u in session.execute(select(User.id, User.username))}


def fill_homes(factory: Any, customers: int) -> dict[str, int]:
    """What the analyst, service, auditor and admin homes read; the users' ids."""
    users = _users(factory)
    day, now = today(), utcnow()
    scale = customers / 100_000
    analyst, manager, manager2, admin = (
        users[u] for u in ("analyst", "manager", "manager2", "admin")
    )
    with factory.begin() as session:
        _insert(session, WarningRule, [
            {"id": n + 1, "code": code, "name_en": code.title(), "name_zh": code,
             "category": cat, "warning_type": kind, "created_at": now}
            for n, (code, kind, cat) in enumerate(RULES)
        ])  # fmt: skip
        _insert(session, RuleVersion, [
            {"rule_id": r % len(RULES) + 1, "version": r // len(RULES) + 1,
             "status": "retired" if r < 34 else "active", "expression": "dpd > 30",
             "severity": "high", "scope": {}, "dedup_days": 7, "actions": [],
             "created_by_id": analyst, "created_at": now - dt.timedelta(days=40),
             "approved_by_id": (manager, manager2)[r % 2],
             "approved_at": now - dt.timedelta(days=r % 30, hours=r % 24)}
            for r in range(40)
        ])  # fmt: skip

        n_alerts = int(50_000 * scale)
        alerts = []
        for a in range(n_alerts):
            code, kind, cat = RULES[a % len(RULES)]
            raised = now - dt.timedelta(minutes=(a * 2_591) % (90 * 24 * 60))
            closed = a % 2 == 0
            due = raised + dt.timedelta(days=2)
            alerts.append(
                {"customer_id": (a * 7_919) % customers + 1, "source": "rule", "rule_code": code,
                 "rule_version_id": None, "category": cat, "warning_type": kind,
                 "severity": ("low", "medium", "high", "critical")[a % 4],
                 "status": ("resolved", "dismissed")[a % 4 // 2] if closed
                 else ("open", "acknowledged", "in_progress")[a % 3],
                 "title_en": code, "title_zh": code, "evidence": {"dpd": a % 90}, "hits": 1,
                 "observed_on": raised.date(), "raised_at": raised, "last_hit_at": raised,
                 "assigned_to_id": analyst if a % 5 == 0 else (manager if a % 5 == 1 else None),
                 "outcome": ("confirmed", "false_alarm")[a % 3 % 2] if closed else None,
                 "notified": True,
                 "closed_at": raised + dt.timedelta(hours=(a % 7) * 12) if closed else None,
                 "closed_by_id": analyst if closed else None, "due_at": due,
                 "escalation_level": 1 if a % 11 == 0 else 0}
            )  # fmt: skip
        _insert(session, Alert, alerts)
        del alerts

        n_complaints = int(30_000 * scale)
        complaints = []
        for c in range(n_complaints):
            status = ("open", "in_progress", "resolved", "closed", "closed", "resolved")[c % 6]
            closed = status in ("resolved", "closed")
            # Open ones from the last 14 days (about half past their SLA), closed ones from 180.
            days = 180 if closed else 14
            opened = now - dt.timedelta(minutes=(c * 4_327) % (days * 24 * 60))
            complaints.append(
                {"customer_id": (c * 6_151) % customers + 1, "source": "bench",
                 "external_id": f"c{c}", "content_hash": "x", "received_at": opened,
                 "category": ("delivery", "billing", "quality", "service")[c % 4],
                 "product": None if c % 10 == 0 else f"P{c % 20}",
                 "severity": ("low", "medium", "high")[c % 3], "status": status,
                 "opened_at": opened,
                 "resolved_at": opened + dt.timedelta(days=c % 10) if closed else None,
                 "classified": "given", "assigned_to_id": users["service"],
                 "respond_by": opened + dt.timedelta(days=1),
                 "resolve_by": opened + dt.timedelta(days=7),
                 "responded_at": opened + dt.timedelta(hours=c % 40) if c % 4 else None}
            )  # fmt: skip
        _insert(session, Complaint, complaints)
        del complaints
        _insert(session, SurveyResponse, [
            {"customer_id": (s * 3_989) % customers + 1, "source": "bench",
             "external_id": f"s{s}", "content_hash": "x",
             "received_at": now - dt.timedelta(minutes=(s * 1_733) % (365 * 24 * 60)),
             "survey_type": "csat" if s % 3 else "nps",
             "score": s % 5 + 1 if s % 3 else s % 11,
             "responded_at": now - dt.timedelta(minutes=(s * 1_733) % (365 * 24 * 60))}
            for s in range(int(30_000 * scale))
        ])  # fmt: skip

        # Held orders and pending limit requests of the sales person's own customers (the
        # portfolio fill puts its own on customers nobody owns).
        own = [i for i in range(20, customers + 1, 20)]
        _insert(session, CreditDecision, [
            {"customer_id": i, "source": "bench-sales", "order_external_id": str(i),
             "amount": Decimal(2_000), "currency": "CNY", "outcome": "hold", "status": "held",
             "reserved": Decimal(0), "checks": [], "inputs": {}, "decided_by": "system",
             "created_at": now - dt.timedelta(hours=i % 72), "updated_at": now,
             "recheck_count": 0}
            for i in own[::25]
        ])  # fmt: skip
        _insert(session, LimitRequest, [
            {"customer_id": i, "current_limit": Decimal(10_000),
             "requested_limit": Decimal(20_000), "currency": "CNY", "reason": "r",
             "origin": "sales", "status": "pending", "requested_by_id": users["sales"],
             "requested_at": now - dt.timedelta(hours=i % 96),
             "expires_at": now + dt.timedelta(days=5)}
            for i in own[::50]
        ])  # fmt: skip

        # Four-eyes decisions over the last 30 days, by the two credit managers.
        _insert(session, PendingChange, [
            {"customer_id": (p * 37) % customers + 1,
             "status": "rejected" if p % 7 == 0 else "approved", "requested_by_id": analyst,
             "requested_at": now - dt.timedelta(days=p % 30, hours=2), "channel": "ui",
             "decided_by_id": (manager, manager2)[p % 2],
             "decided_at": now - dt.timedelta(days=p % 30, hours=1)}
            for p in range(int(2_000 * scale))
        ])  # fmt: skip
        _insert(session, LimitRequest, [
            {"customer_id": (r * 53) % customers + 1, "current_limit": Decimal(10_000),
             "requested_limit": Decimal(15_000), "currency": "CNY", "reason": "r",
             "origin": "sales", "status": "rejected" if r % 5 == 0 else "approved",
             "requested_by_id": users["sales"],
             "requested_at": now - dt.timedelta(days=r % 30, hours=3),
             "expires_at": now + dt.timedelta(days=5),
             "decided_by_id": (manager, manager2)[r % 2],
             "decided_at": now - dt.timedelta(days=r % 30, hours=1)}
            for r in range(int(1_000 * scale))
        ])  # fmt: skip
        _insert(session, GroupLimitChange, [
            {"group_id": g % 500 + 1, "old_limit": Decimal(1_000_000),
             "new_limit": Decimal(1_200_000), "currency": "CNY",
             "status": "rejected" if g % 4 == 0 else "approved", "reason": "r",
             "requested_by_id": analyst, "requested_at": now - dt.timedelta(days=g % 30, hours=2),
             "decided_by_id": (manager2, manager)[g % 2],
             "decided_at": now - dt.timedelta(days=g % 30, hours=1)}
            for g in range(200)
        ])  # fmt: skip

        # Background jobs, outbox deliveries and the event queue, for the admin.
        n_jobs = max(int(3_000 * scale), 20)
        jobs = []
        for j in range(n_jobs):
            created = now - dt.timedelta(minutes=(j * 211) % (7 * 24 * 60))
            status = "queued" if j < 5 else "running" if j < 7 else (
                ("done",) * 17 + ("failed", "cancelled", "done"))[j % 20]  # fmt: skip
            ended = status not in ("queued", "running")
            jobs.append(
                {"kind": ("import", "scoring_run", "export", "report")[j % 4],
                 "permission": "imports:run", "parameters": {}, "status": status,
                 "phase": status, "progress_done": 10, "progress_total": 10,
                 "result": {} if ended else None, "cancel_requested": False, "attempts": 1,
                 "worker": "w1", "created_by_id": admin, "created_at": created,
                 "started_at": None if status == "queued" else created,
                 "heartbeat_at": created + dt.timedelta(minutes=1) if status != "queued"
                 else None,
                 "finished_at": created + dt.timedelta(minutes=3) if ended else None}
            )  # fmt: skip
        _insert(session, Job, jobs)
        deliveries = []
        for d in range(max(int(3_000 * scale), 20)):
            created = now - dt.timedelta(minutes=(d * 173) % (7 * 24 * 60))
            status = ("delivered",) * 17 + ("failed", "pending", "dead")
            st = status[d % len(status)]
            deliveries.append(
                {"channel": ("email", "webhook")[d % 2], "event": "alert.raised",
                 "user_id": analyst, "payload": {"alert": d}, "status": st,
                 "attempts": 1 if st == "delivered" else 3, "next_attempt_at": now,
                 "created_at": created,
                 "delivered_at": created + dt.timedelta(seconds=5) if st == "delivered"
                 else None}
            )  # fmt: skip
        _insert(session, Delivery, deliveries)
        _insert(session, QueuedWork, [
            {"partition_no": q % 8, "customer_id": q * 97 % customers + 1, "kind": "events",
             "enqueued_at": now - dt.timedelta(seconds=q), "attempts": 0}
            for q in range(200)
        ])  # fmt: skip
        _insert(session, DeadLetter, [
            {"queue_id": q, "partition_no": q % 8, "customer_id": q + 1, "kind": "events",
             "enqueued_at": now, "failed_at": now, "attempts": 5, "error": "boom"}
            for q in range(20)
        ])  # fmt: skip

        # Models (the analyst's model health) and churn (customer service's churn risks).
        edges = [300 + 55 * k for k in range(1, 10)]
        reference = {"score": {"edges": edges, "shares": [0.1] * 10 + [0.0]}}
        for vid, (name, status) in enumerate((("pd", "champion"), ("pd_gbm", "challenger")), 1):
            session.execute(
                ModelVersion.__table__.insert(),
                {"id": vid, "name": name, "version": 1, "family": "logistic",
                 "status": status, "data_source": "bench", "target": "bad_90",
                 "rows": 10_000, "bad_rate": 0.05, "features": [], "monotone": {},
                 "metrics": {"auc": 0.78}, "artifact": {}, "points_table": None,
                 "reference": reference, "created_at": now},
            )  # fmt: skip
        scored = [(1, day), (1, day - dt.timedelta(days=1)), (2, day)]
        for vid, as_of in scored:
            _insert(session, ModelScore, [
                {"model_version_id": vid, "customer_id": i, "as_of": as_of, "scored_at": now,
                 "bad_probability": (i % 100) / 200, "score": 300 + (i * 7) % 550,
                 "run_id": None}
                for i in range(1, customers + 1)
            ])  # fmt: skip
        session.execute(
            ChurnFit.__table__.insert(),
            {"as_of": day, "r": 0.8, "alpha": 20.0, "a": 0.6, "b": 2.5,
             "customers": customers, "fitted_at": now},
        )  # fmt: skip
        _insert(session, Order, [
            {"customer_id": i, "source": "bench", "external_id": f"o{i}-{n}",
             "content_hash": "x", "received_at": now,
             "ordered_at": now - dt.timedelta(days=(i * 13 + n * 97) % 365),
             "amount": Decimal(3_000), "currency": "CNY", "channel": "erp",
             "payment_method": "credit"}
            for i in range(1, customers + 1)
            for n in range(3)
        ])  # fmt: skip
        _insert(session, IndicatorSnapshot, [
            {"customer_id": i, "as_of": day, "computed_at": now,
             "values": {"order_frequency_trend": (i % 20) / 10,
                        "interaction_trend": (i % 15) / 10,
                        "satisfaction_trend": (i % 9) - 4.0}}
            for i in range(1, customers + 1)
        ])  # fmt: skip
    _fill_audit(factory, users, customers, now, scale)
    return users


def _fill_audit(
    factory: Any, users: dict[str, int], customers: int, now: dt.datetime, scale: float
) -> None:
    """30 days of the audit log, on a plain connection: the session's audit trail would append
    its own entry at commit with the sequence numbers taken here. The chains' heads are moved
    past the rows (their hashes are placeholders: the chains do not verify)."""
    table = AuditEntry.__table__
    with factory.kw["bind"].begin() as conn:
        # The audit log: 30 days of what people and the system did.
        actors = [(users[u], u) for u in users] + [(None, f"svc-{n}") for n in range(16)]
        actors += [(None, "system")] * (24 - len(actors))
        n_audit = int(500_000 * scale)
        span = 30 * 24 * 3600
        # After what creating the users logged (those entries stay chained).
        first_seq = int(conn.scalar(select(func.max(AuditEntry.seq))) or 0) + 1
        rows = []
        for e in range(n_audit):
            actor_id, actor = actors[e % len(actors)]
            action = ACTIONS[e % len(ACTIONS)]
            if action == "reveal" and (e // 20) % 5:  # thin reveals to about 1 %
                action = "view"
            rows.append(
                {"chain": e % 16, "seq": first_seq + e // 16,
                 "at": now - dt.timedelta(seconds=span - e * span // n_audit),
                 "actor_id": actor_id, "actor": actor, "channel": ("ui", "api", "system")[e % 3],
                 "ip": "10.0.0.1", "action": action, "request": "GET /api/v1/customers/1",
                 "object_type": "customer", "object_id": str(e % customers + 1),
                 "detail": {}, "prev_hash": "0" * 64, "hash": "0" * 64}
            )  # fmt: skip
            if len(rows) == 100_000 or e == n_audit - 1:
                conn.execute(insert(table), rows)
                rows = []
        del rows

        conn.execute(
            update(AuditHead.__table__).values(
                seq=select(func.max(table.c.seq))
                .where(table.c.chain == AuditHead.__table__.c.chain)
                .scalar_subquery()
            )
        )


HOMES: dict[str, tuple[str, Callable[..., Any]]] = {
    "analyst": ("analyst", service.analyst_home),
    "sales": ("sales", service.sales_home),
    "service": ("service", service.service_home),
    "auditor": ("auditor", service.auditor_home),
    "admin": ("admin", service.admin_home),
}


def _describe(home: str, answer: Any) -> str:
    """A line of what the answer holds, to see that the data reached it."""
    if home == "analyst":
        q, sla = answer.queue, answer.sla
        return (
            f"queue {q.open} open, {q.overdue} overdue; SLA {sla.on_time} on time, "
            f"{sla.late} late; {len(answer.by_code.codes)} codes; {len(answer.models)} models"
        )
    if home == "sales":
        return (
            f"{answer.customers:,} customers, {answer.held_orders} held, "
            f"{answer.limit_requests} requests"
        )
    if home == "service":
        c = answer.complaints
        return (
            f"complaints {c.open_within} open within, {c.open_breached} breached; "
            f"{len(answer.satisfaction)} monthly scores; {len(answer.churn)} churn risks"
        )
    if home == "auditor":
        total = sum(sum(v) for v in answer.activity.actions.values())
        reveals = sum(r.reveals for r in answer.reveals)
        return f"{total:,} entries; {len(answer.approvers)} approvers; {reveals:,} reveals"
    jobs = sum(c.count for c in answer.jobs)
    deliveries = sum(c.count for c in answer.deliveries)
    return f"jobs {jobs:,}, deliveries {deliveries:,}, queue {answer.system.queue.rows}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--invoices", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--backend", default="sqlite", choices=("sqlite", "postgresql"))
    parser.add_argument("--db-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument(
        "--per-statement", action="store_true", help="print where the last round's time went"
    )
    parser.add_argument("--homes", default=",".join(HOMES), help="comma-separated subset")
    args = parser.parse_args()
    bootstrap.install()
    databases.throwaway_keyring()
    db = databases.open_database(args.backend, args.db_url, "home")
    try:
        started = time.perf_counter()
        fill(db.factory, args.customers, args.invoices)
        fill_homes(db.factory, args.customers)
        # The steady state: the month-end job has stored the past month ends, which the sales
        # home's portfolio figures read (bench/portfolio_bench.py times both states).
        month_ends.refresh(db.factory)
        if args.backend == "postgresql":
            with db.engine.begin() as conn:
                conn.exec_driver_sql("ANALYZE")
        with db.factory() as session:
            sizes = {
                model.__tablename__: session.scalar(select(func.count()).select_from(model))
                for model in (Customer, Alert, Complaint, SurveyResponse, AuditEntry, Job,
                              Delivery, ModelScore, Order)
            }  # fmt: skip
        print(f"{args.backend}: written in {time.perf_counter() - started:.1f} s: "
              + ", ".join(f"{n:,} {t}" for t, n in sizes.items()))  # fmt: skip

        clock = databases.StatementClock(db.engine, per_statement=args.per_statement)

        for home in args.homes.split(","):
            username, function = HOMES[home]
            times, cpu = [], []
            for _ in range(args.rounds + 1):
                with db.factory() as session:
                    user = security_service.get_user_by_username_or_raise(session, username)
                    principal = security_service.system_principal(session, user)
                    clock.reset()
                    t0, c0 = time.perf_counter(), time.process_time()
                    answer = function(session, principal)
                    times.append(time.perf_counter() - t0)
                    cpu.append(time.process_time() - c0)
            print(
                f"  {home:<8} as {username:<8} {statistics.median(times[1:]) * 1000:7.0f} ms "
                f"wall, {statistics.median(cpu[1:]) * 1000:6.0f} ms CPU ({clock.count} "
                f"statements; {_describe(home, answer)})"
            )
            clock.slowest(6)
    finally:
        db.drop()


if __name__ == "__main__":
    main()

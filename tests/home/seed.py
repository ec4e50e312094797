"""A small book for the home pages, on top of the portfolio's (tests/portfolio/seed.py):
alerts assigned to the analyst, complaints and surveys, four-eyes decisions, views and reveals of
personal data, jobs and deliveries. Every figure the tests check is worked out by hand here."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from riskdesk.audit import repository as audit_repo
from riskdesk.kit.timeutil import today, utcnow
from riskdesk.models import (
    Alert,
    Complaint,
    CustomerGroup,
    Delivery,
    GroupLimitChange,
    Job,
    LimitRequest,
    ModelScore,
    ModelVersion,
    PendingChange,
    SurveyResponse,
    WarningRule,
)
from riskdesk.security import service as security_service
from tests.portfolio.seed import Book, seed

HOUR = dt.timedelta(hours=1)
RULE = "utilisation_high"  # a shipped rule: the chart shows its name
DAY = dt.timedelta(days=1)


@dataclass(frozen=True)
class HomeBook:
    """The portfolio's customers, and when the surveys were answered."""

    book: Book
    recent_survey: dt.datetime
    older_survey: dt.datetime


_seq = iter(range(1, 1_000_000))


def _key() -> str:
    return f"home-{next(_seq)}"


def _alert(session: Session, cid: int, code: str, status: str, **extra: object) -> None:
    session.add(
        Alert(
            customer_id=cid,
            source="rule",
            rule_code=code,
            category="exposure",
            warning_type="limit_exposure",
            severity="medium",
            status=status,
            title_en="Limit",
            title_zh="额度",
            evidence={},
            **{"observed_on": today(), **extra},
        )
    )


def _complaint(
    session: Session, cid: int, product: str | None, status: str, **extra: object
) -> None:
    now = utcnow()
    values: dict[str, object] = {
        "opened_at": now - 10 * DAY,
        "respond_by": now + DAY,
        "resolve_by": now + 5 * DAY,
    } | extra
    session.add(
        Complaint(
            customer_id=cid,
            source="crm",
            external_id=_key(),
            content_hash="x",
            category="quality",
            product=product,
            severity="medium",
            status=status,
            **values,
        )
    )


def _survey(session: Session, cid: int, kind: str, score: int, at: dt.datetime) -> None:
    session.add(
        SurveyResponse(
            customer_id=cid,
            source="crm",
            external_id=_key(),
            content_hash="x",
            survey_type=kind,
            score=score,
            responded_at=at,
        )
    )


def seed_home(session: Session) -> HomeBook:
    """Write the book (the caller commits)."""
    book = seed(session)
    now = utcnow()
    day = today()
    user = {
        name: security_service.get_user_by_username_or_raise(session, name).id
        for name in ("manager", "manager2", "analyst", "sales", "admin")
    }
    analyst = user["analyst"]
    if session.scalar(select(WarningRule.id).where(WarningRule.code == RULE)) is None:
        session.add(
            WarningRule(
                code=RULE, name_en="Credit limit nearly used up while paying worse",
                name_zh="额度接近用尽且付款变差", category="exposure",
                warning_type="limit_exposure",
            )
        )  # fmt: skip
    end_of_day = dt.datetime.combine(day + DAY, dt.time(), tzinfo=dt.UTC)
    # The analyst's queue: three open (two due today, one of them past due), and closed ones.
    _alert(session, book.a, RULE, "open", assigned_to_id=analyst, due_at=now - HOUR)
    _alert(
        session, book.b, RULE, "acknowledged", assigned_to_id=analyst,
        due_at=end_of_day - dt.timedelta(minutes=1),
    )  # fmt: skip
    _alert(
        session, book.c, RULE, "in_progress", assigned_to_id=analyst,
        due_at=now + 3 * DAY,
    )  # fmt: skip
    _alert(session, book.c, RULE, "open", assigned_to_id=user["manager"], due_at=now)
    # Closed in the last 30 days: one on time, one after its due time, one escalated.
    _alert(
        session, book.a, RULE, "resolved", assigned_to_id=analyst,
        closed_at=now - 2 * DAY, due_at=now - DAY,
    )  # fmt: skip
    _alert(
        session, book.b, RULE, "resolved", assigned_to_id=analyst,
        closed_at=now - 2 * DAY, due_at=now - 3 * DAY,
    )  # fmt: skip
    _alert(
        session, book.c, RULE, "dismissed", assigned_to_id=analyst,
        closed_at=now - 2 * DAY, due_at=now, escalation_level=1,
    )  # fmt: skip
    # Closed 40 days ago, observed 100 days ago: outside the SLA period and the 12 weeks.
    _alert(
        session, book.a, RULE, "resolved", assigned_to_id=analyst,
        closed_at=now - 40 * DAY, due_at=now - 41 * DAY, observed_on=day - dt.timedelta(days=100),
    )  # fmt: skip

    # Models: the champion's latest scores fall 2/3 below its training median, 1/3 above
    # (training: half and half), PSI = (1/6) ln(4/3) + (1/6) ln(3/2) = 0.1155; a challenger
    # that scored nobody yet; a retired version (not shown).
    versions = []
    for version, status, auc in (
        (1, "retired", 0.7),
        (2, "champion", 0.812),
        (3, "challenger", 0.79),
    ):
        found = ModelVersion(
            name="pd_home", version=version, family="logistic", status=status,
            data_source="history", target="default_90", rows=100, bad_rate=0.1,
            features=["dpd_max"], metrics={"auc": auc}, artifact={},
            reference={"score": {"edges": [500.0], "shares": [0.5, 0.5, 0.0]}},
        )  # fmt: skip
        session.add(found)
        versions.append(found)
    # The champion's kept matured performance: the newest month with an AUC is 2025-10
    # (2025-11 had no bad customer), 0.740, more than 0.05 below validation: flagged.
    versions[1].matured_as_of = day
    versions[1].matured_performance = [
        {"month": month, "out_of_time": True, "customers": 3, "bad_rate": rate, "auc": auc,
         "ks": ks}
        for month, rate, auc, ks in (("2025-09", 1 / 3, 0.9, 0.8), ("2025-10", 1 / 3, 0.74, 0.5),
                                     ("2025-11", 0.0, None, None))
    ]  # fmt: skip
    session.flush()
    for cid, score in ((book.a, 400), (book.b, 450), (book.c, 600)):
        session.add(
            ModelScore(
                model_version_id=versions[1].id, customer_id=cid, as_of=day,
                bad_probability=0.1, score=score,
            )
        )  # fmt: skip

    # Complaints: a is the east team's (sales'), b the north team's.
    _complaint(session, book.a, "P-A", "open")  # within SLA
    _complaint(
        session, book.a, "P-A", "in_progress", responded_at=now - 9 * DAY,
        respond_by=now - 8 * DAY, resolve_by=now - HOUR,
    )  # fmt: skip  # past its resolve-by
    _complaint(session, book.a, "P-B", "open", respond_by=now - HOUR)  # not answered in time
    _complaint(
        session, book.a, "P-B", "resolved", responded_at=now - 9 * DAY,
        respond_by=now - 8 * DAY, resolved_at=now - 2 * DAY, resolve_by=now - DAY,
    )  # fmt: skip  # on time
    _complaint(
        session, book.a, None, "resolved", resolved_at=now - DAY, resolve_by=now - 3 * DAY
    )  # late
    _complaint(
        session, book.a, "P-A", "resolved", opened_at=now - 210 * DAY,
        resolved_at=now - 200 * DAY, resolve_by=now - 205 * DAY,
    )  # fmt: skip  # before the period
    _complaint(session, book.b, "P-A", "open")  # not the east team's

    # Surveys: this month CSAT 4 and 2 (3.0) and NPS 8; CSAT 5 forty days ago; b's not ours.
    recent, older = now - HOUR, now - 40 * DAY
    _survey(session, book.a, "csat", 4, recent)
    _survey(session, book.a, "csat", 2, recent)
    _survey(session, book.a, "nps", 8, recent)
    _survey(session, book.a, "csat", 5, older)
    _survey(session, book.b, "csat", 1, recent)

    # Four-eyes decisions: manager approved two, manager2 rejected one; one is too old and
    # one (the portfolio's) has no decider recorded.
    session.add_all(
        [
            LimitRequest(
                customer_id=book.a, current_limit=Decimal("1"), requested_limit=Decimal("2"),
                currency="CNY", reason="t", origin="sales", status="approved",
                requested_by_id=user["sales"], expires_at=now + DAY,
                decided_by_id=user["manager"], decided_at=now - DAY,
            ),
            LimitRequest(
                customer_id=book.a, current_limit=Decimal("1"), requested_limit=Decimal("2"),
                currency="CNY", reason="t", origin="sales", status="approved",
                requested_by_id=user["sales"], expires_at=now - 39 * DAY,
                decided_by_id=user["manager2"], decided_at=now - 40 * DAY,
            ),
            PendingChange(
                customer_id=book.b, status="rejected", requested_by_id=user["analyst"],
                channel="ui", decided_by_id=user["manager2"], decided_at=now - 2 * DAY,
            ),
        ]
    )  # fmt: skip
    session.flush()
    group = session.query(CustomerGroup).filter_by(code="HY").one()
    session.add(
        GroupLimitChange(
            group_id=group.id, new_limit=Decimal("500000"), currency="CNY", status="approved",
            requested_by_id=user["analyst"], decided_by_id=user["manager"],
            decided_at=now - 3 * DAY,
        )
    )  # fmt: skip

    # Personal data revealed: sales twice, service once; shown in full on a page: the
    # analyst three times, sales twice.
    audit_repo.append(
        session,
        [
            {
                "actor_id": None, "actor": actor, "channel": "ui", "ip": None,
                "action": action, "request": None, "object_type": "customer",
                "object_id": str(book.d), "detail": {},
            }
            for actor, action in (
                ("sales", "reveal"), ("sales", "reveal"), ("service", "reveal"),
                ("analyst", "view"), ("analyst", "view"), ("analyst", "view"),
                ("sales", "view"), ("sales", "view"),
            )
        ],
    )  # fmt: skip

    # Jobs: one queued, one running with a heartbeat, one failed today, one failed two days
    # ago (not counted); deliveries: pending 2, failed 1, delivered today 1, dead long ago.
    heartbeat = now - dt.timedelta(seconds=30)
    for status, created, finished, beat in (
        ("queued", now, None, None),
        ("running", now - HOUR, None, heartbeat),
        ("failed", now - 2 * HOUR, now - HOUR, None),
        ("failed", now - 3 * DAY, now - 2 * DAY, None),
    ):
        session.add(
            Job(
                kind="scoring_run", permission="scoring:manage", status=status,
                created_by_id=user["admin"], created_at=created, finished_at=finished,
                heartbeat_at=beat,
            )
        )  # fmt: skip
    for status, created, delivered in (
        ("pending", now, None),
        ("pending", now - 3 * DAY, None),
        ("failed", now - 3 * DAY, None),
        ("delivered", now - HOUR, now - HOUR),
        ("dead", now - 5 * DAY, None),
    ):
        session.add(
            Delivery(
                channel="email", event="alert.raised", payload={}, status=status,
                created_at=created, delivered_at=delivered,
            )
        )  # fmt: skip
    session.flush()
    return HomeBook(book=book, recent_survey=recent, older_survey=older)

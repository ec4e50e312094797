"""Report subscriptions: the caller's own through the API (PUT idempotent), and the scheduled
step that queues one e-mail per subscription and period in the notification outbox, in the
subscription's language with the period's figures; nothing for a disabled user or one who lost
portfolio:read; the CLI."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from riskdesk.alerts import delivery
from riskdesk.kit.timeutil import today
from riskdesk.models import Delivery, ReportSubscription
from riskdesk.reports import subscriptions
from riskdesk.security import service as security_service
from tests.portfolio.scores import seed_scores
from tests.portfolio.seed import Book, seed
from tests.reports.pack_seed import seed_pack

URL = "/api/v1/me/subscriptions"
PUBLIC = "https://riskdesk.example"
FIRST = dt.datetime(today().year, today().month, 1, 8, tzinfo=dt.UTC)  # this month's 1st
MONDAY = dt.datetime.combine(
    today() - dt.timedelta(days=today().weekday()), dt.time(8), tzinfo=dt.UTC
)


@pytest.fixture
def packed(db) -> Book:  # type: ignore[no-untyped-def]
    book = seed(db)
    seed_scores(db, book)
    seed_pack(db, book)
    db.commit()
    return book


def _mails(db) -> list[Delivery]:  # type: ignore[no-untyped-def]
    return list(db.scalars(select(Delivery).where(Delivery.event.like("report.%"))))


def test_the_callers_own_subscriptions(client_for) -> None:  # type: ignore[no-untyped-def]
    manager = client_for("manager")
    body = {"language": "en", "filters": {"region": "East"}}
    first = manager.put(f"{URL}/committee_pack", json=body)
    assert first.status_code == 200, first.text
    again = manager.put(f"{URL}/committee_pack", json=body)
    assert again.json() == first.json()  # idempotent: nothing changed, not even updated_at
    assert first.json()["filters"] == {"region": "East"} and first.json()["active"] is True
    paused = manager.put(f"{URL}/committee_pack", json=body | {"active": False}).json()
    assert paused["active"] is False and paused["updated_at"] >= first.json()["updated_at"]
    assert [s["kind"] for s in manager.get(URL).json()] == ["committee_pack"]
    assert client_for("manager2").get(URL).json() == []  # each sees their own only
    assert manager.delete(f"{URL}/committee_pack").status_code == 204
    assert manager.delete(f"{URL}/committee_pack").status_code == 204  # again: still gone
    assert manager.get(f"{URL}/committee_pack").status_code == 404
    for path, bad, field in (
        ("weekly_summary", {"language": "fr"}, "language"),
        ("weekly_summary", {"filters": {"colour": "red"}}, "colour"),
        ("monthly_poem", {}, "kind"),
    ):
        answer = manager.put(f"{URL}/{path}", json=bad)
        assert answer.status_code == 422, (path, bad)
        assert field in answer.text, (path, answer.text)
    assert client_for("service").put(f"{URL}/weekly_summary", json={}).status_code == 403


def test_due_reports_queue_one_mail_per_period(packed: Book, db, factory, client_for) -> None:  # type: ignore[no-untyped-def]
    client_for("manager").put(f"{URL}/committee_pack", json={"language": "zh-CN"})
    client_for("sales").put(f"{URL}/weekly_summary", json={"language": "en"})
    client_for("analyst").put(f"{URL}/committee_pack", json={"language": "en"})
    client_for("auditor").put(f"{URL}/committee_pack", json={"language": "en"})
    # The analyst is disabled; the auditor became customer service (no portfolio:read).
    analyst = security_service.get_user_by_username_or_raise(db, "analyst")
    auditor = security_service.get_user_by_username_or_raise(db, "auditor")
    analyst.is_active = False
    auditor.role = "customer_service"
    db.commit()

    first = subscriptions.due_reports(factory, now=FIRST, public_url=PUBLIC)
    again = subscriptions.due_reports(factory, now=FIRST + dt.timedelta(hours=1), public_url=PUBLIC)
    db.commit()
    month = (FIRST.date() - dt.timedelta(days=1)).strftime("%Y-%m")
    assert first.periods["committee_pack"] == month
    # The disabled user is not even read; the one who lost portfolio:read is skipped; sales'
    # weekly summary is due on any day (the week before the 1st).
    assert (first.queued, first.not_permitted, again.queued) == (2, 1, 0)
    packs = [m for m in _mails(db) if m.event == "report.committee_pack"]
    assert len(packs) == 1  # the manager's; twice run, once queued
    mail = packs[0]
    manager = security_service.get_user_by_username_or_raise(db, "manager")
    assert mail.user_id == manager.id and mail.status == "pending" and mail.channel == "email"
    assert mail.subject == f"[Riskdesk] 授信委员会月度报告 {month}"
    text = delivery.email_text(mail.payload, PUBLIC, "en")  # the subscription's language wins
    assert "信用敞口：191,000.00 CNY" in text  # the book's exposure
    assert "客户数" in text or "客户" in text
    assert f"{PUBLIC}/api/v1/reports/committee-pack.pdf?month={month}&lang=zh-CN" in text
    assert f"committee-pack.xlsx?month={month}" in text
    sub = db.scalars(
        select(ReportSubscription).where(ReportSubscription.user_id == manager.id)
    ).one()
    assert sub.last_period == month

    # Mondays: last week's summary for sales, in English, over their own customers only.
    weekly = subscriptions.due_reports(factory, now=MONDAY, public_url=PUBLIC)
    subscriptions.due_reports(factory, now=MONDAY, public_url=PUBLIC)
    db.commit()
    summaries = [m for m in _mails(db) if m.event == "report.weekly_summary"]
    assert weekly.periods["weekly_summary"].startswith(
        str((MONDAY.date() - dt.timedelta(days=7)).isocalendar()[0])
    )
    # The 1st's pass sent the week before it; Monday's sends last week's when that is later.
    sent_first, on_monday = first.periods["weekly_summary"], weekly.periods["weekly_summary"]
    expected = [sent_first] + ([on_monday] if on_monday > sent_first else [])
    assert [m.payload["period"] for m in summaries] == expected
    body = delivery.email_text(summaries[0].payload, PUBLIC, None)
    assert "Credit exposure: 80,000.00 CNY" in body  # sales see customer a only
    assert "Alerts: " in body
    assert "Weekly portfolio summary" in summaries[0].subject
    assert f"{PUBLIC}/portfolio" in body


def test_replaying_an_older_day_sends_nothing_again(packed: Book, db, factory, client_for) -> None:  # type: ignore[no-untyped-def]
    client_for("manager").put(f"{URL}/committee_pack", json={"language": "en"})
    december = dt.datetime(2026, 12, 1, 8, tzinfo=dt.UTC)
    assert subscriptions.due_reports(factory, now=december, public_url=PUBLIC).queued == 1
    # send-due --now 2026-11-01 after December's pass: October's pack is older than what was
    # sent, so nothing is queued and the record stays at November.
    november = dt.datetime(2026, 11, 1, 8, tzinfo=dt.UTC)
    old = subscriptions.due_reports(factory, now=november, public_url=PUBLIC)
    assert old.queued == 0
    again = subscriptions.due_reports(factory, now=december, public_url=PUBLIC)
    assert again.queued == 0
    db.commit()
    assert [m.payload["period"] for m in _mails(db)] == ["2026-11"]


def test_the_latest_completed_periods_on_any_day() -> None:
    tuesday = dt.datetime(2026, 12, 8, 8, tzinfo=dt.UTC)
    # 2026-12-08 is in ISO week 50; last week is 49 (Nov 30 to Dec 6); last month November.
    assert subscriptions.periods_due(tuesday) == {
        "committee_pack": "2026-11",
        "weekly_summary": "2026-W49",
    }
    assert subscriptions.periods_due(dt.datetime(2026, 6, 1, tzinfo=dt.UTC)) == {
        "committee_pack": "2026-05",
        "weekly_summary": "2026-W22",
    }
    # Sunday 2026-12-06 is still in week 49: last week is 48.
    sunday = dt.datetime(2026, 12, 6, 23, tzinfo=dt.UTC)
    assert subscriptions.periods_due(sunday)["weekly_summary"] == "2026-W48"
    # January the 3rd: last month is last year's December; last week crosses the year too.
    january = dt.datetime(2027, 1, 3, 8, tzinfo=dt.UTC)
    assert subscriptions.periods_due(january) == {
        "committee_pack": "2026-12",
        "weekly_summary": "2026-W52",
    }


def test_a_period_missed_while_down_goes_out_at_the_next_tick(
    packed: Book, db, factory, client_for
) -> None:  # type: ignore[no-untyped-def]
    client_for("manager").put(f"{URL}/committee_pack", json={"language": "en"})
    november = dt.datetime(2026, 11, 1, 8, tzinfo=dt.UTC)
    assert subscriptions.due_reports(factory, now=november, public_url=PUBLIC).queued == 1
    # Down all of the 1st of December (and the 2nd): the tick on the 3rd sends November's
    # pack, once; the next ticks that day and on the 4th send nothing.
    third = dt.datetime(2026, 12, 3, 9, 30, tzinfo=dt.UTC)
    caught_up = subscriptions.due_reports(factory, now=third, public_url=PUBLIC)
    assert (caught_up.periods["committee_pack"], caught_up.queued) == ("2026-11", 1)
    for later in (third + dt.timedelta(hours=1), third + dt.timedelta(days=1)):
        again = subscriptions.due_reports(factory, now=later, public_url=PUBLIC)
        assert again.queued == 0
    db.commit()
    assert [m.payload["period"] for m in _mails(db)] == ["2026-10", "2026-11"]
    sub = db.scalars(select(ReportSubscription)).one()
    assert sub.last_period == "2026-11"


def test_only_the_latest_missed_period_is_sent(packed: Book, db, factory, client_for) -> None:  # type: ignore[no-untyped-def]
    client_for("sales").put(f"{URL}/weekly_summary", json={"language": "en"})
    client_for("manager").put(f"{URL}/committee_pack", json={"language": "en"})
    october = dt.datetime(2026, 10, 5, 8, tzinfo=dt.UTC)  # a Monday: week 40, September
    first = subscriptions.due_reports(factory, now=october, public_url=PUBLIC)
    assert first.queued == 2 and first.periods["weekly_summary"] == "2026-W40"
    # Down from then until Wednesday 2 December: one summary (week 48) and one pack
    # (November), not each week and month missed.
    back = dt.datetime(2026, 12, 2, 8, tzinfo=dt.UTC)
    caught_up = subscriptions.due_reports(factory, now=back, public_url=PUBLIC)
    assert caught_up.queued == 2
    assert caught_up.periods == {"committee_pack": "2026-11", "weekly_summary": "2026-W48"}
    # Replaying an old day (send-due --now in October) sends nothing again.
    assert subscriptions.due_reports(factory, now=october, public_url=PUBLIC).queued == 0
    db.commit()
    sent = sorted((m.event, m.payload["period"]) for m in _mails(db))
    assert sent == [
        ("report.committee_pack", "2026-09"),
        ("report.committee_pack", "2026-11"),
        ("report.weekly_summary", "2026-W40"),
        ("report.weekly_summary", "2026-W48"),
    ]


def test_the_cli(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from riskdesk.cli.main import app
    from riskdesk.reports import tasks
    from riskdesk.reports.subscription_schemas import DueResult

    seen: list[dt.datetime | None] = []

    def fake(factory, settings, *, now=None):  # type: ignore[no-untyped-def]
        seen.append(now)
        return DueResult(queued=2, periods={"committee_pack": "2026-11"})

    monkeypatch.setattr(tasks, "send_due", fake)
    result = CliRunner().invoke(app, ["reports", "send-due", "--now", "2026-12-01"])
    assert result.exit_code == 0, result.output
    assert "committee_pack 2026-11: 2 e-mail(s) queued" in result.output
    assert seen == [dt.datetime(2026, 12, 1, tzinfo=dt.UTC)]
    bad = CliRunner().invoke(app, ["reports", "send-due", "--now", "someday"])
    assert bad.exit_code == 2

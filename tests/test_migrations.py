"""The migrations build exactly the schema the models describe, on every backend."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from riskdesk.db import Base


def test_models_match_migrations(backend) -> None:  # type: ignore[no-untyped-def]
    with backend.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []


def test_a_database_with_worked_alerts_upgrades_and_downgrades(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Migrations run on databases that hold data: on SQLite, changing a column copies the
    table, which must not trip the foreign keys of the rows that point at it."""
    import datetime as dt

    from sqlalchemy import text

    from riskdesk.db import make_engine
    from riskdesk.migrations import runner

    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    runner.upgrade(engine, "0013")
    opened = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=30)).replace(tzinfo=None)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO users (id, username, display_name, role, password_hash, is_active,"
                " failed_logins, created_at) VALUES (1, 'u', 'u', 'risk_analyst', 'x', 1, 0, :t)"
            ),
            {"t": opened},
        )
        conn.execute(
            text(
                "INSERT INTO customers (id, kind, company_name, status, version, created_at,"
                " updated_at) VALUES (1, 'company', 'C', 'active', 1, :t, :t)"
            ),
            {"t": opened},
        )
        conn.execute(
            text(
                "INSERT INTO alerts (id, customer_id, source, rule_code, category, severity,"
                " status, title_en, title_zh, evidence, hits, raised_at, last_hit_at,"
                " assigned_to_id, escalation_level)"
                " VALUES (1, 1, 'rule', 'r', 'payment', 'high', 'open', 't', 't',"
                " '{}', 1, :t, :t, 1, 0)"
            ),
            {"t": opened},
        )
        conn.execute(
            text(
                "INSERT INTO notifications (user_id, kind, alert_id, title_en, title_zh,"
                " created_at) VALUES (1, 'alert_assigned', 1, 't', 't', :t)"
            ),
            {"t": opened},
        )
        conn.execute(
            text(
                "INSERT INTO complaints (customer_id, source, external_id, content_hash,"
                " received_at, category, severity, status, opened_at)"
                " VALUES (1, 's', 'k', 'h', :t, 'service', 'high', 'open', :t)"
            ),
            {"t": opened},
        )
    runner.upgrade(engine)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM notifications")).scalar() == 1
        respond_by = conn.execute(text("SELECT respond_by FROM complaints")).scalar()
        assert respond_by is not None and str(respond_by).startswith(
            str(opened + dt.timedelta(hours=24))[:16]
        )
        conn.execute(
            text(
                "INSERT INTO alerts (customer_id, product, source, rule_code, category, severity,"
                " status, title_en, title_zh, evidence, hits, observed_on, raised_at,"
                " last_hit_at, escalation_level, warning_type) VALUES (NULL, 'P', 'detector',"
                " 'complaint_surge_product', 'complaints', 'high', 'open', 't', 't', '{}', 1,"
                " :d, :t, :t, 0, 'complaint_wave')"
            ),
            {"t": opened, "d": opened.date()},
        )
        conn.commit()
    # Back to before product alerts: those go, the customer's alert and its notification stay.
    runner.downgrade(engine, "0013")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM alerts")).scalar() == 1
        assert conn.execute(text("SELECT count(*) FROM notifications")).scalar() == 1
    engine.dispose()


def test_plaintext_personal_data_is_encrypted_by_0017_and_restored_by_its_downgrade(
    tmp_path,
) -> None:  # type: ignore[no-untyped-def]
    import datetime as dt

    from sqlalchemy import text

    from riskdesk.db import make_engine
    from riskdesk.migrations import runner
    from riskdesk.security import keys

    engine = make_engine(f"sqlite:///{tmp_path / 'pd.db'}")
    runner.upgrade(engine, "0016")
    now = dt.datetime(2026, 1, 1)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO customers (id, kind, person_name, phone, national_id, status,"
                " version, created_at, updated_at) VALUES (1, 'individual', '李四', "
                "'+8613800138000', '11010119800101001X', 'active', 1, :t, :t)"
            ),
            {"t": now},
        )
        conn.execute(
            text(
                "INSERT INTO contacts (customer_id, name, is_primary, created_at)"
                " VALUES (1, '王五', 0, :t)"
            ),
            {"t": now},
        )
        conn.execute(
            text(
                "INSERT INTO credit_reports (customer_id, source, external_id, content_hash,"
                " report_date, payload, created_at) VALUES (1, 'bureau', 'R1', 'h',"
                " '2026-01-01', :p, :t)"
            ),
            {"p": '{"name": "李四", "score": 700}', "t": now},
        )  # fmt: skip
    runner.upgrade(engine)
    with engine.connect() as conn:
        payload = conn.execute(text("SELECT payload FROM credit_reports")).scalar_one()
        assert "李四" not in payload
        opened = keys.open_sealed(payload, "credit_reports.payload")
        assert opened == '{"name": "李四", "score": 700}'
        row = conn.execute(text("SELECT person_name, phone, phone_bidx FROM customers")).one()
        assert row[0].startswith("v1:") and row[1].startswith("v1:")
        assert keys.open_sealed(row[0], "customers.person_name") == "李四"
        assert row[2] == keys.blind_index("phone", "13800138000")
        name, bidx = conn.execute(text("SELECT name, name_bidx FROM contacts")).one()
        assert keys.open_sealed(name, "contacts.name") == "王五"
        assert bidx == keys.blind_index("name", "王五")
    runner.downgrade(engine, "0016")
    with engine.connect() as conn:
        restored = conn.execute(text("SELECT payload FROM credit_reports")).scalar_one()
        assert '"李四"' in restored
        assert conn.execute(text("SELECT person_name, phone FROM customers")).one() == (
            "李四",
            "+8613800138000",
        )
    engine.dispose()


def test_0023_dates_old_alerts_by_the_utc_day_and_0024_types_them(
    backend, tmp_path, worker_id
) -> None:  # type: ignore[no-untyped-def]
    """Alerts written before observed_on existed are observed on raised_at's date (UTC); the
    downgrade drops the column and keeps the alerts."""
    import datetime as dt

    from sqlalchemy import inspect, text

    from riskdesk.db import make_engine
    from riskdesk.migrations import runner
    from tests.conftest import PG_URL, _make_pg

    schema = None
    if backend.name == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'observed.db'}")
    else:
        engine, schema = _make_pg(f"{worker_id}_0023")
    try:
        runner.upgrade(engine, "0022")
        late = dt.datetime(2026, 3, 31, 23, 30, tzinfo=dt.UTC)  # 1 April in Shanghai
        stamp = late.replace(tzinfo=None) if backend.name == "sqlite" else late
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO customers (id, kind, company_name, status, version, created_at,"
                    " updated_at) VALUES (1, 'company', 'C', 'active', 1, :t, :t)"
                ),
                {"t": stamp},
            )
            conn.execute(
                text(
                    "INSERT INTO alerts (id, customer_id, source, rule_code, category, severity,"
                    " status, title_en, title_zh, evidence, hits, raised_at, last_hit_at,"
                    " escalation_level) VALUES (1, 1, 'rule', 'r', 'payment', 'high', 'open',"
                    " 't', 't', '{}', 1, :t, :t, 0)"
                ),
                {"t": stamp},
            )
        runner.upgrade(engine, "0023")
        with engine.connect() as conn:
            observed = conn.execute(text("SELECT observed_on FROM alerts")).scalar()
            assert str(observed)[:10] == "2026-03-31"
            column = next(
                c for c in inspect(conn).get_columns("alerts") if c["name"] == "observed_on"
            )
            assert column["nullable"] is False
        # 0024 gives old alerts the type of their category ("r" is no shipped rule).
        runner.upgrade(engine, "0024")
        with engine.connect() as conn:
            kind = conn.execute(text("SELECT warning_type FROM alerts")).scalar()
            assert kind == "payment_deterioration"
        runner.downgrade(engine, "0022")
        with engine.connect() as conn:
            assert "observed_on" not in {c["name"] for c in inspect(conn).get_columns("alerts")}
            assert conn.execute(text("SELECT count(*) FROM alerts")).scalar() == 1
    finally:
        engine.dispose()
        if schema is not None:
            admin = make_engine(PG_URL or "")
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()

"""The BI views: the portfolio without personal data, a role that reads only them, and a
Parquet copy that equals them."""

from __future__ import annotations

import uuid
from pathlib import Path

import polars as pl
import pytest
import yaml
from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from riskdesk import demo
from riskdesk.bi import repository as bi_repo
from riskdesk.bi import service as bi_service
from riskdesk.bi.schemas import VIEWS
from riskdesk.cli.main import app as cli
from riskdesk.kit.errors import ValidationFailed
from riskdesk.kit.timeutil import today
from riskdesk.models import CustomerScore, ScoringRun
from riskdesk.scoring import service as scoring_service
from riskdesk.scoring.schemas import ScorecardCreate
from tests.conftest import Backend, ingest, principal
from tests.factories import company, invoice, order, person


def _portfolio(db: Session) -> None:
    p = principal(db, "manager")
    ingest(db, p, "customers", [company("BI-C1", industry="制造业"), person("BI-P1")])
    ingest(db, p, "orders", [order("BI-O1", "BI-C1", amount="1200.50")])
    ingest(
        db, p, "invoices", [invoice("BI-I1", "BI-C1", amount="1200.50", order_external_id="BI-O1")]
    )
    db.flush()


def test_the_views_hold_the_portfolio_and_no_personal_data(
    db: Session, connection: Connection
) -> None:
    _portfolio(db)
    customers = {
        r.customer_no: r._mapping
        for r in connection.execute(text("SELECT * FROM bi_customers")).fetchall()
    }
    assert set(VIEWS["bi_customers"]) == set(next(iter(customers.values())).keys())
    rows = list(customers.values())
    companies = [r for r in rows if r["kind"] == "company" and r["industry"] == "制造业"]
    people = [r for r in rows if r["kind"] == "individual"]
    assert companies and companies[0]["company_name"].startswith("测试贸易有限公司")
    assert people and all(r["company_name"] is None and r["tax_id"] is None for r in people)
    # No value of any view carries an individual's name, identity number, phone or e-mail.
    secrets = ("张三", "13812345678", "zhang.san@example.com", person("x")["national_id"])
    for view in VIEWS:
        for row in connection.execute(text(f"SELECT * FROM {view}")):
            assert not any(str(v) in secrets for v in row if v is not None), view
    company_id = companies[0]["customer_id"]
    exposure = dict(
        connection.execute(
            text("SELECT category, amount FROM bi_exposure WHERE customer_id = :c"),
            {"c": company_id},
        ).fetchall()
    )
    assert float(exposure["open_receivables"]) == pytest.approx(1200.50)
    ageing = connection.execute(
        text("SELECT ar_current, ar_open_total FROM bi_ageing WHERE customer_id = :c"),
        {"c": company_id},
    ).one()
    assert float(ageing.ar_open_total) == pytest.approx(1200.50)
    assert customers[f"C{company_id:07d}"]["credit_limit"] is not None


def test_a_scoring_run_still_being_stored_is_not_in_bi_scores(
    db: Session, connection: Connection
) -> None:
    _portfolio(db)
    cid = connection.execute(text("SELECT min(customer_id) FROM bi_customers")).scalar_one()
    spec = yaml.safe_load((Path(demo.__file__).parent / "scorecard.yaml").read_text("utf-8"))
    _, draft, _ = scoring_service.create_scorecard(
        db, principal(db, "manager"), ScorecardCreate.model_validate(spec)
    )
    version = draft.id
    staged = ScoringRun(trigger="manual", as_of=today(), status="storing", versions=[])
    db.add(staged)
    db.flush()
    run = staged.id
    db.add(
        CustomerScore(
            customer_id=cid,
            scorecard_version_id=version,
            run_id=run,
            as_of=today(),
            score=601,
            rating="B",
            risk_tier="medium",
            factors={},
            reasons=[],
        )
    )
    db.flush()
    seen = connection.execute(text("SELECT count(*) FROM bi_scores WHERE run_id = :r"), {"r": run})
    assert seen.scalar_one() == 0
    staged.status = "done"
    db.flush()
    seen = connection.execute(text("SELECT count(*) FROM bi_scores WHERE run_id = :r"), {"r": run})
    assert seen.scalar_one() == 1


def test_the_parquet_copy_equals_the_views(own_backend: Backend, tmp_path: Path) -> None:
    factory = sessionmaker(bind=own_backend.engine, expire_on_commit=False)
    with factory() as session:
        _portfolio(session)
        session.commit()
    bi_service.BATCH_ROWS = 1  # several parts per view
    try:
        done = bi_service.export_parquet(own_backend.engine, tmp_path / "lake")
    finally:
        bi_service.BATCH_ROWS = 50_000
    assert {d.view for d in done} == set(VIEWS)
    with own_backend.engine.connect() as connection:
        for item in done:
            frame = pl.read_parquet(item.directory / "*.parquet")
            assert frame.schema == pl.Schema(VIEWS[item.view]), item.view
            count = connection.execute(text(f"SELECT count(*) FROM {item.view}")).scalar_one()
            assert frame.height == item.rows == count, item.view
    customers = pl.read_parquet(tmp_path / "lake" / "bi_customers" / "*.parquet")
    assert customers["credit_limit"].drop_nulls().cast(pl.Float64).max() == pytest.approx(100000)
    assert customers.filter(pl.col("kind") == "individual")["company_name"].null_count() >= 1
    with pytest.raises(ValidationFailed):
        bi_service.export_parquet(own_backend.engine, tmp_path / "x", ["customers"])


def test_the_cli_lists_the_views() -> None:
    listed = CliRunner().invoke(cli, ["bi", "views"])
    assert listed.exit_code == 0 and "bi_exposure" in listed.output


def test_a_bi_role_reads_the_views_and_nothing_else(
    backend: Backend, connection: Connection
) -> None:
    if backend.name != "postgresql":
        with pytest.raises(ValidationFailed):
            bi_repo.grant_reader(connection, "riskdesk_bi")
        return
    with pytest.raises(ValidationFailed):
        bi_repo.grant_reader(connection, 'bi"; DROP TABLE customers; --')
    role = f"rd_bi_{uuid.uuid4().hex[:8]}"  # created in the test's transaction, rolled back
    statements = bi_repo.grant_reader(connection, role)
    assert statements[0] == f'CREATE ROLE "{role}" NOLOGIN'
    connection.execute(text(f'SET LOCAL ROLE "{role}"'))
    for view in VIEWS:
        connection.execute(text(f"SELECT count(*) FROM {view}"))
    for table in ("customers", "credit_profiles", "users", "audit_log"):
        nested = connection.begin_nested()
        with pytest.raises(DBAPIError, match="permission denied"):
            connection.execute(text(f"SELECT 1 FROM {table} LIMIT 1"))
        nested.rollback()
    connection.execute(text("RESET ROLE"))

"""Consents in customer files and batches: a column per purpose or JSON, recorded as the consent
API records them, idempotent, never withdrawn by omission; and a consumer onboarded by file with
behaviour-monitoring consent is watched."""

from __future__ import annotations

import datetime as dt
import io
import json

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from riskdesk.customers import repository as customer_repo
from riskdesk.customers.schemas import CONSENT_FILE_FIELDS, consents_from_columns
from riskdesk.kit.tabular import ColumnMapping
from riskdesk.kit.timeutil import today
from riskdesk.models import Alert, AuditEntry, Consent, IndicatorSnapshot
from riskdesk.pipeline import intake
from riskdesk.privacy import repository as privacy_repo
from riskdesk.security import service as security_service
from tests.conftest import principal, processed_import
from tests.factories import resident_id

CONSUMERS = """external_id,name,national_id,consent_credit_assessment,consent_behaviour_monitoring,consent_marketing,consent_notice_version,consent_evidence
C-1,张一,{n1},是,yes,否,2026-03,sign-up form 17
C-2,李二,{n2},1,,,2026-03,
"""  # noqa: E501
DEFAULTS = "defaults: {source: shop, kind: individual, segment: consumer}"


def consumers_csv() -> bytes:
    return CONSUMERS.format(n1=resident_id(101), n2=resident_id(102)).encode()


def run(factory, kind: str, content: bytes, mapping: str = DEFAULTS, filename: str = "f.csv"):  # type: ignore[no-untyped-def]
    result = intake.import_file(
        factory,
        lambda s: principal(s, "manager"),
        kind=kind,
        content=content,
        filename=filename,
        mapping=ColumnMapping.from_yaml(mapping),
        skip_invalid=False,
    )
    return processed_import(factory, result)


def ids(db, *external_ids: str) -> list[int]:  # type: ignore[no-untyped-def]
    refs = customer_repo.customer_ids_by_ref(db, {("shop", x) for x in external_ids})
    return [refs[("shop", x)] for x in external_ids]


def in_force(db, cid: int) -> dict[str, bool]:  # type: ignore[no-untyped-def]
    latest = privacy_repo.latest_consents(db, [cid])
    return {purpose: c.granted for (_, purpose), c in latest.items()}


def consent_rows(db) -> int:  # type: ignore[no-untyped-def]
    return int(db.scalar(select(func.count()).select_from(Consent)) or 0)


def test_a_column_per_purpose_is_recorded_like_the_consent_api(factory, db) -> None:  # type: ignore[no-untyped-def]
    audited = db.scalar(select(func.max(AuditEntry.id))) or 0
    same = consumers_csv()
    result = run(factory, "customers", same)
    assert result.job.status == "done", result.job.errors
    c1, c2 = ids(db, "C-1", "C-2")
    assert in_force(db, c1) == {
        "credit_assessment": True,
        "behaviour_monitoring": True,
        "marketing": False,
    }
    assert in_force(db, c2) == {"credit_assessment": True}  # empty cells give nothing
    manager_id = security_service.get_user_by_username_or_raise(db, "manager").id
    records = db.scalars(select(Consent).where(Consent.customer_id == c1)).all()
    assert {(r.channel, r.recorded_by_id, r.notice_version) for r in records} == {
        ("import", manager_id, "2026-03")
    }
    assert {r.evidence for r in records} == {"sign-up form 17"}
    assert privacy_repo.individuals_without(db, "behaviour_monitoring", [c1, c2]) == {c2}
    # The same audit as every write: the import's entry names the consents it inserted.
    entries = db.scalars(select(AuditEntry).where(AuditEntry.id > audited)).all()
    assert any(
        change["table"] == "consents" and change["op"] == "insert"
        for entry in entries
        for change in entry.detail.get("changes", [])
    )

    # The same file again changes nothing.
    before = consent_rows(db)
    again = run(factory, "customers", same)
    assert again.job.status == "done", again.job.errors
    assert consent_rows(db) == before


def test_updates_never_withdraw_by_omission_and_no_withdraws(factory, db) -> None:  # type: ignore[no-untyped-def]
    n1, n2 = resident_id(111), resident_id(112)
    first = CONSUMERS.format(n1=n1, n2=n2).encode()
    assert run(factory, "customers", first).job.status == "done"
    c1, c2 = ids(db, "C-1", "C-2")
    before = consent_rows(db)
    # A later file without consent columns (a new phone number) leaves consents as they are.
    phones = f"external_id,name,national_id,phone\nC-1,张一,{n1},13800000001\n".encode()
    updated = run(factory, "customers", phones)
    assert updated.job.status == "done", updated.job.errors
    assert updated.job.updated_count == 1
    assert consent_rows(db) == before
    assert in_force(db, c1)["behaviour_monitoring"] is True
    # An explicit "no" withdraws, as POST /customers/{id}/consents with granted false does.
    withdrawn = (
        "external_id,name,national_id,consent_behaviour_monitoring,consent_notice_version\n"
        f"C-1,张一,{n1},否,2026-03\n"
    ).encode()
    assert run(factory, "customers", withdrawn).job.status == "done"
    assert in_force(db, c1)["behaviour_monitoring"] is False
    assert privacy_repo.individuals_without(db, "behaviour_monitoring", [c1, c2]) == {c1, c2}
    assert consent_rows(db) == before + 1
    assert run(factory, "customers", withdrawn).job.updated_count == 0  # idempotent
    assert consent_rows(db) == before + 1


def test_json_in_a_consents_column_from_excel(factory, db) -> None:  # type: ignore[no-untyped-def]
    frame = pl.DataFrame(
        {
            "客户编号": ["J-1", "J-2"],
            "姓名": ["王三", "赵四"],
            "身份证": [resident_id(121), resident_id(122)],
            "同意": ['["credit_assessment", "behaviour_monitoring"]', '{"marketing": false}'],
            "告知版本": ["2026-04", "2026-04"],
            "同意时间": ["2026-04-01", "2026-04-02T09:30:00+08:00"],
        }
    )
    buffer = io.BytesIO()
    frame.write_excel(buffer)
    mapping = (
        "columns: {external_id: 客户编号, name: 姓名, national_id: 身份证, consents: 同意,\n"
        "          consent_notice_version: 告知版本, consent_given_at: 同意时间}\n" + DEFAULTS
    )
    result = run(factory, "customers", buffer.getvalue(), mapping=mapping, filename="c.xlsx")
    assert result.job.status == "done", result.job.errors
    j1, j2 = ids(db, "J-1", "J-2")
    assert in_force(db, j1) == {"credit_assessment": True, "behaviour_monitoring": True}
    assert in_force(db, j2) == {"marketing": False}
    latest = privacy_repo.latest_consents(db, [j1, j2])
    assert latest[(j1, "credit_assessment")].given_at == dt.datetime(2026, 4, 1, tzinfo=dt.UTC)
    assert latest[(j2, "marketing")].given_at == dt.datetime(2026, 4, 2, 1, 30, tzinfo=dt.UTC)


def test_bad_consents_are_row_errors_naming_the_field(factory, db) -> None:  # type: ignore[no-untyped-def]
    content = (
        "external_id,name,national_id,kind,tax_id,consent_behaviour_monitoring,consent_profiling,"
        "consents,consent_notice_version\n"
        f"B-1,钱五,{resident_id(131)},individual,,maybe,,,2026-03\n"
        f"B-2,孙六,{resident_id(132)},individual,,,yes,,2026-03\n"
        f'B-3,周七,{resident_id(133)},individual,,,,["spam"],2026-03\n'
        f"B-4,吴八,{resident_id(134)},individual,,yes,,,\n"
        f'B-5,郑九,{resident_id(135)},individual,,yes,,{{"behaviour_monitoring": 0}},2026-03\n'
        f"B-6,某某有限公司,,company,,no,,,2026-03\n"
        f"B-7,冯十,{resident_id(137)},individual,,,,not json,2026-03\n"
    ).encode()
    before = consent_rows(db)
    result = run(factory, "customers", content, mapping="defaults: {source: shop}")
    assert result.job.status == "rejected"
    assert consent_rows(db) == before
    errors = {(e["row"], e["field"]): e for e in result.job.errors}
    assert "cannot read 'maybe'" in errors[(2, "consent_behaviour_monitoring")]["reason"]
    assert "unknown consent purpose 'profiling'" in errors[(3, "consent_profiling")]["reason"]
    assert "unknown consent purpose 'spam'" in errors[(4, "consents")]["reason"]
    assert errors[(5, "consent_notice_version")]["code"] == "missing"
    assert errors[(6, "consent_behaviour_monitoring")]["code"] == "conflicting_consent"
    assert errors[(7, "consent_behaviour_monitoring")]["code"] == "not_an_individual"
    assert "is not JSON" in errors[(8, "consents")]["reason"]
    assert result.job.invalid_rows == 7


def test_the_api_batch_takes_the_same_columns(manager, db) -> None:  # type: ignore[no-untyped-def]
    records = [
        {
            "source": "shop",
            "external_id": "A-1",
            "kind": "individual",
            "name": "陈一",
            "national_id": resident_id(141),
            "consent_behaviour_monitoring": True,
            "consent_credit_assessment": "是",
            "consent_notice_version": "2026-05",
        },
        {
            "source": "shop",
            "external_id": "A-2",
            "kind": "individual",
            "name": "陈二",
            "national_id": resident_id(142),
            "consents": json.dumps({"behaviour_monitoring": "yes"}),
            "consent_notice_version": "2026-05",
        },
    ]
    sent = manager.post("/api/v1/customers/batch", json={"records": records})
    assert sent.status_code == 200, sent.text
    a1, a2 = ids(db, "A-1", "A-2")
    assert in_force(db, a1) == {"behaviour_monitoring": True, "credit_assessment": True}
    assert in_force(db, a2) == {"behaviour_monitoring": True}
    assert {c.channel for c in db.scalars(select(Consent).where(Consent.customer_id == a1))} == {
        "api"
    }
    assert (
        manager.post("/api/v1/customers/batch", json={"records": records}).json()["duplicates"] == 2
    )
    bad = manager.post(
        "/api/v1/customers/batch",
        json={"records": [{**records[0], "external_id": "A-3", "consent_behaviour_monitoring": 7}]},
    )
    assert bad.status_code == 422
    assert bad.json()["error"]["details"][0]["field"] == "consent_behaviour_monitoring"


def test_a_consumer_onboarded_by_file_with_consent_is_watched(factory, db, client_for) -> None:  # type: ignore[no-untyped-def]
    # A rule over the claims-without-goods indicator, for individuals only.
    analyst, manager = client_for("analyst"), client_for("manager")
    created = analyst.post(
        "/api/v1/rules",
        json={
            "code": "parcels_never_arrive",
            "name_en": "Refunds claimed for parcels never received",
            "name_zh": "多次以未收到货为由退款",
            "category": "returns",
            "severity": "medium",
            "expression": "returns_unreceived_claims_count_90d >= 2",
            "scope": {"kinds": ["individual"]},
            "dedup_days": 7,
        },
    )
    assert created.status_code == 201, created.text
    version = created.json()["versions"][0]["id"]
    assert manager.post(f"/api/v1/rule-versions/{version}/approve").status_code == 200
    assert analyst.post(f"/api/v1/rule-versions/{version}/activate").status_code == 200

    # C-1 consents to behaviour monitoring, C-2 (credit assessment only) does not.
    assert run(factory, "customers", consumers_csv()).job.status == "done"
    c1, c2 = ids(db, "C-1", "C-2")
    ordered = (today() - dt.timedelta(days=20)).isoformat()
    returned = (today() - dt.timedelta(days=5)).isoformat()
    orders = "external_id,customer_external_id,ordered_at,amount,category,line_amount\n" + "".join(
        f"O-{c}{n},{c},{ordered} 10:00:00,300.00,electronics,300.00\n"
        for c in ("C-1", "C-2")
        for n in (1, 2)
    )
    shop = "defaults: {source: shop, currency: CNY, payment_method: prepaid}"
    assert run(factory, "orders", orders.encode(), mapping=shop).job.status == "done"
    returns = "external_id,order_external_id,amount,returned_on,reason\n" + "".join(
        f"R-{c}{n},O-{c}{n},300.00,{returned},{reason}\n"
        for c in ("C-1", "C-2")
        for n, reason in ((1, "item_not_received"), (2, "empty_package"))
    )
    result = run(
        factory, "returns", returns.encode(), mapping="defaults: {source: shop, currency: CNY}"
    )
    assert result.job.status == "done", result.job.errors
    alerted = set(
        db.scalars(
            select(Alert.customer_id).where(
                Alert.rule_code == "parcels_never_arrive", Alert.customer_id.in_([c1, c2])
            )
        )
    )
    assert alerted == {c1}  # watched with consent; never without it
    # C-2's indicators show the same claims: only the missing consent kept it unwatched.
    snapshot = db.get(IndicatorSnapshot, c2)
    assert snapshot is not None and snapshot.values["returns_unreceived_claims_count_90d"] == 2
    # Consent given later, by file, and C-2 is watched from that import on.
    n2 = consumers_csv().decode().splitlines()[2].split(",")[2]
    later = (
        "external_id,name,national_id,consent_behaviour_monitoring,consent_notice_version\n"
        f"C-2,李二,{n2},yes,2026-06\n"
    )
    granted = run(factory, "customers", later.encode())
    assert granted.job.status == "done" and granted.job.updated_count == 1
    assert set(
        db.scalars(select(Alert.customer_id).where(Alert.rule_code == "parcels_never_arrive"))
    ) == {c1, c2}


def test_the_import_page_lists_the_consent_columns(client_for) -> None:  # type: ignore[no-untyped-def]
    analyst = client_for("analyst")
    chinese = analyst.get("/imports", headers={"accept-language": "zh-CN"})
    assert chinese.status_code == 200
    assert "consent_behaviour_monitoring" in chinese.text and "行为监控" in chinese.text
    english = analyst.get("/imports", headers={"accept-language": "en"})
    assert "consent_notice_version" in english.text and "withdraws" in english.text


def test_mapping_defaults_and_unknown_consent_columns_reach_the_handler() -> None:
    from riskdesk.customers.intake import CustomerHandler
    from riskdesk.kit.tabular import apply_mapping

    handler = CustomerHandler()
    frame = pl.DataFrame({"Consent_Marketing": ["否"], "consent_sms": ["yes"], "other": ["x"]})
    mapping = ColumnMapping.from_yaml("defaults: {consent_notice_version: '2026-07'}")
    rows, problems = apply_mapping(frame, mapping, handler.file_fields, handler.file_prefixes)
    assert problems == []
    assert rows == [
        {"consent_notice_version": "2026-07", "consent_marketing": "否", "consent_sms": "yes"}
    ]
    record, errors = handler.prepare({**rows[0], "kind": "individual"})
    assert [(e.field, e.code) for e in errors] == [("consent_sms", "unknown_purpose")]
    record, errors = handler.prepare({**rows[0], "consent_sms": None, "kind": "individual"})
    assert errors == [] and record["consents"] == [
        {"purpose": "marketing", "granted": False, "notice_version": "2026-07"}
    ]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(
            ["consents", "kind", "consent_marketing", "consent_x", *CONSENT_FILE_FIELDS]
        ),
        json_values,
    )
)
def test_reading_consents_never_fails_whatever_is_sent(raw: dict[str, object]) -> None:
    record, errors = consents_from_columns(raw)
    assert not any(k.startswith("consent_") for k in record)
    assert all(e.field for e in errors)
    if errors:
        assert record.get("consents") is None

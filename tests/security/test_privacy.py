"""Consent per purpose, its checks, data-subject export, erasure under legal hold, retention."""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import select, text

from riskdesk.kit.timeutil import utcnow
from riskdesk.models import Alert, Contact, CreditFileChange, CreditFileVersion, Customer, Order
from riskdesk.privacy import service as privacy_service
from tests.factories import order, person

NO_CONSENT: dict[str, list[object]] = {"consents": []}


def _make(manager, external_id: str, **extra) -> int:  # type: ignore[no-untyped-def]
    made = manager.post("/api/v1/customers", json=person(external_id, **extra))
    assert made.status_code == 201, made.text
    return int(made.json()["id"])


def _consent(client, cid: int, purpose: str, granted: bool = True):  # type: ignore[no-untyped-def]
    return client.post(
        f"/api/v1/customers/{cid}/consents",
        json={"purpose": purpose, "granted": granted, "notice_version": "2026-03"},
    )


def test_consent_is_recorded_per_purpose_and_sending_it_twice_adds_nothing(client_for) -> None:  # type: ignore[no-untyped-def]
    manager = client_for("manager")
    cid = _make(manager, "PV-1", **NO_CONSENT)
    status = manager.get(f"/api/v1/customers/{cid}/consents").json()
    assert status["applies"] is True
    assert status["allowed"] == {
        "credit_assessment": False,
        "behaviour_monitoring": False,
        "marketing": True,  # nothing here processes for marketing unless configured to check
    }
    first = _consent(manager, cid, "credit_assessment")
    assert first.status_code == 201, first.text
    again = _consent(manager, cid, "credit_assessment")
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    assert _consent(manager, cid, "credit_assessment", granted=False).status_code == 201
    status = manager.get(f"/api/v1/customers/{cid}/consents").json()
    assert status["current"]["credit_assessment"]["granted"] is False
    assert [h["granted"] for h in status["history"]] == [False, True]
    bad = manager.post(
        f"/api/v1/customers/{cid}/consents",
        json={"purpose": "profiling", "granted": True, "notice_version": "1"},
    )
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "purpose"
    future = manager.post(
        f"/api/v1/customers/{cid}/consents",
        json={
            "purpose": "marketing",
            "granted": True,
            "notice_version": "1",
            "given_at": (utcnow() + dt.timedelta(days=2)).isoformat(),
        },
    )
    assert future.status_code == 422 and future.json()["error"]["field"] == "given_at"
    company = manager.post(
        "/api/v1/customers",
        json={"source": "erp", "external_id": "PV-CO", "kind": "company", "name": "某某有限公司"},
    )
    assert company.status_code == 201, company.text
    refused = _consent(manager, company.json()["id"], "marketing")
    assert refused.status_code == 422 and refused.json()["error"]["field"] == "customer_id"


def test_processing_checks_the_consent_it_needs(db, client_for) -> None:  # type: ignore[no-untyped-def]
    from riskdesk.alerts import service as alert_service
    from riskdesk.scoring import service as scoring_service

    manager = client_for("manager")
    without = _make(manager, "PV-2", **NO_CONSENT)
    withc = _make(manager, "PV-3")
    check = {
        "source": "shop",
        "order_external_id": "PV-ORD-1",
        "customer_external_id": "PV-2",
        "customer_source": "shop",
        "amount": "100.00",
        "currency": "CNY",
    }
    refused = manager.post("/api/v1/credit-checks", json=check)
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"]["code"] == "consent_missing"
    assert "credit assessment" in refused.json()["error"]["message"]
    _consent(manager, without, "credit_assessment")
    allowed = manager.post("/api/v1/credit-checks", json=check)
    assert allowed.status_code in (200, 201), allowed.text

    gate = privacy_service.repo.individuals_without(db, "behaviour_monitoring", [without, withc])
    assert gate == {without}
    # Rules look only at the consenting customer.
    alert_service.install_default_pack(db)
    db.flush()
    summary = alert_service.evaluate(db, [without, withc])
    alerted = set(
        db.scalars(select(Alert.customer_id).where(Alert.customer_id.in_([without, withc])))
    )
    assert without not in alerted
    assert summary.customers == 1
    # An individuals' scorecard scores the consenting customer, not the one who withdrew.
    from tests.scoring.test_service import card

    created = manager.post(
        "/api/v1/scorecards", json=card("consumer", customer_kind="individual", name="B2C")
    )
    assert created.status_code == 201, created.text
    version = created.json()["versions"][0]["id"]
    approved = client_for("manager2").post(f"/api/v1/scorecard-versions/{version}/approve", json={})
    assert approved.status_code == 200, approved.text
    withdrawn = _make(manager, "PV-4")
    _consent(manager, withdrawn, "credit_assessment", granted=False)
    scored = scoring_service.score_customers(db, [withdrawn, withc], trigger="test")
    assert (scored.scored, scored.unscored) == (1, 1)
    assert manager.get(f"/api/v1/customers/{withc}").json()["profile"]["score"] is not None
    profile = manager.get(f"/api/v1/customers/{withdrawn}").json()["profile"]
    assert profile["score"] is None


def test_subject_export_holds_everything_about_the_person(db, client_for) -> None:  # type: ignore[no-untyped-def]
    manager = client_for("manager")
    cid = _make(manager, "PV-5", phone="13912345678")
    assert (
        manager.post(
            f"/api/v1/customers/{cid}/contacts", json={"name": "联系人甲", "phone": "13912345679"}
        ).status_code
        == 201
    )
    made = manager.post("/api/v1/orders", json=order("PV-ORD-5", "PV-5", customer_source="shop"))
    assert made.status_code in (200, 201), made.text
    exported = manager.get(f"/api/v1/customers/{cid}/personal-data")
    assert exported.status_code == 200, exported.text
    tables = exported.json()["tables"]
    assert tables["customers"][0]["phone"] == "+8613912345678"
    assert tables["contacts"][0]["name"] == "联系人甲"
    assert {c["purpose"] for c in tables["consents"]} == {
        "credit_assessment",
        "behaviour_monitoring",
    }
    assert tables["orders"][0]["external_id"] == "PV-ORD-5"
    assert tables["order_lines"][0]["product"] == "E-1"  # reached through the order
    assert "credit_file_versions" in tables and "credit_file_changes" in tables
    assert not any(k.endswith("_bidx") for row in tables["customers"] for k in row)
    entry = db.execute(
        text("SELECT action, detail FROM audit_log WHERE object_id = :c AND action = 'export'"),
        {"c": str(cid)},
    ).one()
    detail = entry[1] if isinstance(entry[1], dict) else json.loads(entry[1])
    assert "customers" in detail["fields"]
    assert client_for("analyst").get(f"/api/v1/customers/{cid}/personal-data").status_code == 403


def test_erasure_removes_personal_data_keeps_aggregates_and_respects_a_legal_hold(
    db, client_for
) -> None:  # type: ignore[no-untyped-def]
    manager = client_for("manager")
    cid = _make(manager, "PV-6", phone="13912340006", address="北京市朝阳区某路1号")
    assert (
        manager.post(
            f"/api/v1/customers/{cid}/contacts", json={"name": "联系人乙", "phone": "13912340007"}
        ).status_code
        == 201
    )
    assert (
        manager.patch(
            f"/api/v1/customers/{cid}", json={"email": "new.mail@example.org", "reason": "moved"}
        ).status_code
        == 200
    )
    made = manager.post(
        "/api/v1/orders", json=order("PV-ORD-6", "PV-6", amount="2500.00", customer_source="shop")
    )
    assert made.status_code in (200, 201), made.text

    hold = manager.post(f"/api/v1/customers/{cid}/legal-holds", json={"reason": "court case 12"})
    assert hold.status_code == 201
    same = manager.post(f"/api/v1/customers/{cid}/legal-holds", json={"reason": "court case 12"})
    assert same.json()["id"] == hold.json()["id"]
    blocked = manager.post(f"/api/v1/customers/{cid}/erasure", json={"reason": "asked by email"})
    assert blocked.status_code == 409 and blocked.json()["error"]["code"] == "legal_hold"
    assert db.get(Customer, cid).phone == "+8613912340006"  # nothing changed
    release = f"/api/v1/customers/{cid}/legal-holds/{hold.json()['id']}/release"
    own = manager.post(release)  # whoever placed it cannot lift it alone
    assert own.status_code == 403 and own.json()["error"]["code"] == "four_eyes"
    released = client_for("manager2").post(release)
    assert released.status_code == 200 and released.json()["released_at"]

    erased = manager.post(f"/api/v1/customers/{cid}/erasure", json={"reason": "asked by email"})
    assert erased.status_code == 200, erased.text
    db.expire_all()
    customer = db.get(Customer, cid)
    assert customer.person_name == privacy_service.ERASED_NAME and customer.erased_at
    assert (customer.phone, customer.email, customer.address, customer.national_id) == (None,) * 4
    assert customer.phone_bidx is None and customer.person_name_bidx is None
    assert db.scalars(select(Contact).where(Contact.customer_id == cid)).all() == []
    changes = db.scalars(
        select(CreditFileChange)
        .join(CreditFileVersion, CreditFileVersion.id == CreditFileChange.version_id)
        .where(CreditFileVersion.customer_id == cid, CreditFileChange.field == "email")
    ).all()
    assert changes and all(c.old_value is None and c.new_value is None for c in changes)
    # The anonymous credit history stays.
    amounts = db.scalars(select(Order.amount).where(Order.customer_id == cid)).all()
    assert [str(a) for a in amounts] == ["2500.00"]
    again = manager.post(f"/api/v1/customers/{cid}/erasure", json={"reason": "asked by email"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "customer_erased"
    assert manager.get("/api/v1/customers", params={"q": "13912340006"}).json()["total"] == 0
    erase_entry = db.execute(
        text("SELECT count(*) FROM audit_log WHERE object_id = :c AND action = 'erase'"),
        {"c": str(cid)},
    ).scalar()
    assert erase_entry == 1


def test_retention_erases_long_inactive_individuals_unless_held(db, client_for) -> None:  # type: ignore[no-untyped-def]
    manager = client_for("manager")
    old, held, fresh = (_make(manager, f"PV-R{n}") for n in range(3))
    long_ago = utcnow() - dt.timedelta(days=6 * 365)
    for cid in (old, held):
        db.execute(
            text("UPDATE customers SET created_at = :t, updated_at = :t WHERE id = :c"),
            {"t": long_ago if db.bind.dialect.name != "sqlite" else long_ago.replace(tzinfo=None),
             "c": cid},
        )  # fmt: skip
    manager.post(f"/api/v1/customers/{held}/legal-holds", json={"reason": "regulator"})
    dry = manager.post("/api/v1/privacy/retention-runs").json()
    assert dry["dry_run"] is True and old in dry["erased_customers"]
    assert held not in dry["erased_customers"] and fresh not in dry["erased_customers"]
    assert dry["held_back"] >= 1
    db.expire_all()
    assert db.get(Customer, old).erased_at is None  # a dry run changes nothing
    done = manager.post("/api/v1/privacy/retention-runs", params={"dry_run": "false"}).json()
    assert old in done["erased_customers"]
    db.expire_all()
    assert db.get(Customer, old).erased_at is not None
    assert db.get(Customer, held).erased_at is None
    assert db.get(Customer, fresh).erased_at is None


def test_a_late_record_with_an_older_date_does_not_undo_a_withdrawal(client_for) -> None:  # type: ignore[no-untyped-def]
    manager = client_for("manager")
    cid = _make(manager, "PV-7")  # consented at sign-up (the factory's records)
    assert _consent(manager, cid, "credit_assessment", granted=False).status_code == 201
    # The shop sends its usual record again, dated from the sign-up a year ago.
    again = person(
        "PV-7",
        consents=[
            {
                "purpose": "credit_assessment",
                "granted": True,
                "notice_version": "2026-01",
                "given_at": "2025-11-01T00:00:00Z",
            }
        ],
    )
    assert manager.post("/api/v1/customers", json=again).status_code in (200, 201)
    status = manager.get(f"/api/v1/customers/{cid}/consents").json()
    assert status["current"]["credit_assessment"]["granted"] is False
    assert status["allowed"]["credit_assessment"] is False


def test_erasure_in_the_ui_needs_the_customer_code_typed(app, db, client_for) -> None:  # type: ignore[no-untyped-def]
    """One click must not erase: the privacy panel's form needs the customer's code, checked
    on the server (a browser dialog can be clicked through or skipped by a script)."""
    import re

    from tests.security.test_auth import login

    manager = client_for("manager")
    cid = _make(manager, "PV-UI-1", phone="13912340011")
    code = manager.get(f"/api/v1/customers/{cid}").json()["code"]
    browser = login(app, "manager")
    page = browser.get(f"/customers/{cid}")
    assert 'id="erasure-confirm"' in page.text and code in page.text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf is not None
    url = f"/customers/{cid}/erasure"
    form = {"csrf_token": csrf.group(1), "reason": "the person asked"}
    for confirm in (None, "", "C9999999", code + "X"):
        sent = form if confirm is None else {**form, "confirm_code": confirm}
        refused = browser.post(url, data=sent, headers={"accept-language": "zh-CN"})
        assert refused.status_code == 422, (confirm, refused.text[:300])
        assert "客户编号（确认）" in refused.text  # the field, named in the user's language
        db.expire_all()
        assert db.get(Customer, cid).erased_at is None
        assert db.get(Customer, cid).phone == "+8613912340011"
    done = browser.post(
        url, data={**form, "confirm_code": f" {code.lower()} "}, follow_redirects=False
    )
    assert done.status_code == 303, done.text[:300]
    db.expire_all()
    assert db.get(Customer, cid).erased_at is not None and db.get(Customer, cid).phone is None

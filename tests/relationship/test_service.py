"""The relationship view's service: a customer's timeline, notes searched within what the
caller may see, contracts with their term, notes erased with the person, later fields kept
out of the content hash of records stored before them."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import pytest
from sqlalchemy import select

from riskdesk.customers import repository as customer_repo
from riskdesk.events.schemas import ContractIn, InteractionIn
from riskdesk.kit.errors import NotFound, ValidationFailed
from riskdesk.kit.intake import content_hash
from riskdesk.kit.pagination import PageParams
from riskdesk.kit.timeutil import utcnow
from riskdesk.models import Contract, Interaction
from riskdesk.privacy import service as privacy_service
from riskdesk.relationship import service
from riskdesk.relationship.service import contract_term
from tests.conftest import ingest, principal
from tests.factories import company, person


def _customers(db) -> dict[str, int]:  # type: ignore[no-untyped-def]
    ingest(
        db,
        principal(db, "manager"),
        "customers",
        [
            company("RS-E", owner="sales"),
            company("RS-N", owner="sales2"),
            person("RS-P", owner="sales"),
        ],
    )
    refs = customer_repo.customer_ids_by_ref(
        db, {("erp", "RS-E"), ("erp", "RS-N"), ("shop", "RS-P")}
    )
    return {
        "east": refs[("erp", "RS-E")],
        "north": refs[("erp", "RS-N")],
        "person": refs[("shop", "RS-P")],
    }


def _said(
    ext: str, customer: str, note: str | None, hours_ago: float = 1, **extra: Any
) -> dict[str, Any]:
    when = utcnow() - dt.timedelta(hours=hours_ago)
    return {
        "source": "crm",
        "external_id": ext,
        "customer_external_id": customer,
        "customer_source": "shop" if customer == "RS-P" else "erp",
        "occurred_at": when.isoformat(),
        "channel": "phone",
        "kind": "collection",
        "note": note,
        **extra,
    }


def test_the_timeline_is_newest_first_with_notes_next_step_and_who(db) -> None:  # type: ignore[no-untyped-def]
    ids = _customers(db)
    sales = principal(db, "sales")
    due = (utcnow() + dt.timedelta(days=3)).date().isoformat()
    ingest(db, sales, "interactions", [
        _said("T1", "RS-E", "第一次电话：答应月底付款", hours_ago=48),
        _said("T2", "RS-E", "上门拜访，见了财务总监", hours_ago=2, channel="visit",
              next_step="寄送对账单", next_step_on=due),
        _said("T3", "RS-E", None, hours_ago=24),
    ])  # fmt: skip
    page = service.timeline(db, sales, ids["east"])
    assert [i.external_id for i in page.items] == ["T2", "T3", "T1"] and page.total == 3
    newest = page.items[0]
    assert newest.note == "上门拜访，见了财务总监" and newest.next_step == "寄送对账单"
    assert newest.next_step_on is not None
    user = db.scalar(select(Interaction.recorded_by_id).where(Interaction.external_id == "T2"))
    assert user == sales.user_id and newest.recorded_by == sales.user.display_name
    second = service.timeline(db, sales, ids["east"], page=PageParams(2, 2))
    assert [i.external_id for i in second.items] == ["T1"] and second.total == 3
    words = service.timeline(db, sales, ids["east"], q="财务")
    assert [i.external_id for i in words.items] == ["T2"]
    # Someone else's customer: as missing as one that does not exist.
    with pytest.raises(NotFound):
        service.timeline(db, sales, ids["north"])


def test_notes_are_searched_only_among_the_customers_the_caller_may_see(db) -> None:  # type: ignore[no-untyped-def]
    _customers(db)
    manager = principal(db, "manager")
    ingest(db, manager, "interactions", [
        _said("S1", "RS-E", "客户说 Cash flow 紧张，下周再谈"),
        _said("S2", "RS-N", "北区客户 cash FLOW 紧张"),
        _said("S3", "RS-E", "一切正常", next_step="下周跟进 cash flow 计划"),
        _said("S4", "RS-E", "100% 付清_已确认"),
    ])  # fmt: skip
    found = service.search(db, manager, q="cash flow")
    assert {i.external_id for i in found.items} == {"S1", "S2", "S3"}
    assert all(i.customer_code == customer_repo.customer_code(i.customer_id) for i in found.items)
    east = service.search(db, principal(db, "sales"), q="cash flow")
    assert {i.external_id for i in east.items} == {"S1", "S3"} and east.total == 2
    north = service.search(db, principal(db, "sales2"), q="紧张")
    assert {i.external_id for i in north.items} == {"S2"}
    # Every word must be there; % and _ are taken as typed, not as wildcards.
    assert service.search(db, manager, q="cash 北区").total == 1
    assert {i.external_id for i in service.search(db, manager, q="%").items} == {"S4"}
    assert service.search(db, manager, q="付清_").total == 1
    assert service.search(db, manager, q="付_").total == 0
    with pytest.raises(ValidationFailed):
        service.search(db, manager, q="   ")


def test_contract_terms_and_their_state_today() -> None:
    day = dt.date(2026, 6, 1)

    def k(
        start: dt.date | None, end: dt.date | None, signed: dt.date = dt.date(2026, 1, 1)
    ) -> Contract:
        return Contract(signed_on=signed, start_date=start, end_date=end)

    assert contract_term(k(dt.date(2026, 7, 1), None), day) == "upcoming"
    assert contract_term(k(dt.date(2026, 1, 1), dt.date(2026, 6, 1)), day) == "active"
    assert contract_term(k(dt.date(2025, 1, 1), dt.date(2026, 5, 31)), day) == "expired"
    assert contract_term(k(None, None), day) == "active"  # from its signing, open-ended
    assert contract_term(k(None, None, signed=dt.date(2026, 6, 2)), day) == "upcoming"


def test_contracts_with_their_terms(db) -> None:  # type: ignore[no-untyped-def]
    ids = _customers(db)
    manager = principal(db, "manager")
    ingest(db, manager, "contracts", [
        {"source": "erp", "external_id": "K-1", "customer_external_id": "RS-E",
         "signed_on": "2025-01-01", "start_date": "2025-01-01", "end_date": "2025-12-31",
         "value": "1200000.00", "currency": "CNY", "payment_terms_days": 60,
         "fulfilment_status": "fulfilled"},
        {"source": "erp", "external_id": "K-2", "customer_external_id": "RS-E",
         "signed_on": "2026-01-01", "fulfilment_status": "in_progress"},
    ])  # fmt: skip
    rows = service.contracts(db, principal(db, "sales"), ids["east"], day=dt.date(2026, 3, 1))
    assert [(r.external_id, r.term) for r in rows] == [("K-2", "active"), ("K-1", "expired")]
    first = rows[1]
    assert (str(first.value), first.currency, first.payment_terms_days) == ("1200000.00", "CNY", 60)
    with pytest.raises(NotFound):
        service.contracts(db, principal(db, "sales2"), ids["east"])


def test_an_interaction_is_checked_field_by_field() -> None:
    base = _said("V1", "RS-E", "x")
    with pytest.raises(Exception) as missing:
        InteractionIn.model_validate({**base, "next_step_on": "2026-12-31"})
    assert "next_step_missing" in str(missing.value) and "next_step_on" in str(missing.value)
    yesterday = (utcnow() - dt.timedelta(days=2)).date().isoformat()
    with pytest.raises(Exception) as early:
        InteractionIn.model_validate({**base, "next_step": "回访", "next_step_on": yesterday})
    assert "next_step_before_contact" in str(early.value)


def test_records_stored_before_the_new_fields_hash_as_they_did() -> None:
    """A CRM resending an interaction (or an ERP a contract) stored before the next step and
    the payment terms existed is still a duplicate, not an idempotency conflict."""
    import hashlib
    import json

    record = _said("H1", "RS-E", "旧记录")
    old_fields = ("source", "external_id", "customer_code", "customer_external_id",
                  "customer_source", "occurred_at", "channel", "kind", "note")  # fmt: skip
    model = InteractionIn.model_validate(record)
    before = {k: v for k, v in model.model_dump(mode="json").items() if k in old_fields}
    digest = hashlib.sha256(
        json.dumps(before, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()
    ).hexdigest()
    assert content_hash(model) == digest
    with_step = InteractionIn.model_validate({**record, "next_step": "回访"})
    assert content_hash(with_step) != digest
    contract = ContractIn.model_validate(
        {"source": "erp", "external_id": "K", "customer_code": "C1", "signed_on": "2026-01-01"}
    )
    assert content_hash(contract) != content_hash(
        ContractIn.model_validate({**contract.model_dump(mode="json"), "payment_terms_days": 30})
    )


def test_erasure_clears_notes_and_next_steps_and_nothing_logs_them(db, caplog) -> None:  # type: ignore[no-untyped-def]
    ids = _customers(db)
    caplog.set_level(logging.DEBUG)
    secret = "张三说他母亲住院了"
    ingest(db, principal(db, "sales"), "interactions", [
        _said("E1", "RS-P", secret, next_step="致电张三本人 13812345678"),
        _said("E2", "RS-E", "公司客户的记录保留"),
    ])  # fmt: skip
    assert secret not in caplog.text and "13812345678" not in caplog.text
    privacy_service.erase(db, principal(db, "manager"), ids["person"], "asked to")
    db.expire_all()
    erased = db.scalars(select(Interaction).where(Interaction.customer_id == ids["person"])).all()
    assert [(i.note, i.next_step) for i in erased] == [(None, None)]
    assert erased[0].channel == "phone" and erased[0].kind == "collection"  # the contact stays
    kept = db.scalars(select(Interaction).where(Interaction.customer_id == ids["east"])).all()
    assert [i.note for i in kept] == ["公司客户的记录保留"]
    assert service.search(db, principal(db, "manager"), q="张三").total == 0

"""The demo generator: deterministic, consistent, and hiding the behaviours it claims."""

from __future__ import annotations

import datetime as dt
import importlib
import re
import time
from collections import Counter, defaultdict
from decimal import Decimal
from typing import Any

import pytest

from riskdesk.demo.generator import BEHAVIOURS, DemoData, generate

END = dt.date(2025, 6, 30)
START = dt.date(2023, 6, 30)
OWNERS = {"East": ["sales"], "North": ["sales2", "sales3"]}

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
RESIDENT_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
KINDS = (
    "customers", "orders", "invoices", "payments", "returns", "complaints", "surveys",
    "interactions", "contracts", "credit_reports",
)  # fmt: skip


@pytest.fixture(scope="module")
def data() -> DemoData:
    return generate(customers=600, months=24, seed=7, end_date=END, owners=OWNERS)


def by_id(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["external_id"]: r for r in records}


def behaviour_of(data: DemoData) -> dict[str, dict[str, Any]]:
    return {b["customer_external_id"]: b for b in data.behaviours if b["customer_external_id"]}


def valid_uscc(code: str) -> bool:
    if not re.fullmatch(r"[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}", code):
        return False
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(code[:17], USCC_WEIGHTS, strict=True))
    if code[17] != USCC_ALPHABET[(31 - total % 31) % 31]:
        return False
    org = code[8:17]
    org_total = sum(
        (int(c) if c.isdigit() else ord(c) - 55) * w for c, w in zip(org[:8], ORG_WEIGHTS)
    )
    check = 11 - org_total % 11
    return org[8] == ("X" if check == 10 else "0" if check == 11 else str(check))


def valid_resident_id(number: str) -> bool:
    if not re.fullmatch(r"\d{17}[\dX]", number):
        return False
    if number[:2] not in {
        "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36",
        "37", "41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62",
        "63", "64", "65",
    }:  # fmt: skip
        return False
    try:
        birth = dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return False
    if not dt.date(1950, 1, 1) <= birth <= dt.date(2003, 12, 31):
        return False
    total = sum(int(c) * w for c, w in zip(number[:17], RESIDENT_WEIGHTS, strict=True))
    return number[17] == "10X98765432"[total % 11]


def test_same_arguments_same_data_other_seed_other_data() -> None:
    kwargs: dict[str, Any] = {"customers": 120, "months": 12, "end_date": END, "owners": OWNERS}
    first = generate(seed=3, **kwargs)
    assert first == generate(seed=3, **kwargs)
    assert first.orders != generate(seed=4, **kwargs).orders


def test_arguments_are_checked() -> None:
    with pytest.raises(ValueError):
        generate(customers=0, months=12, seed=1, end_date=END, owners=OWNERS)
    with pytest.raises(ValueError):
        generate(customers=10, months=12, seed=1, end_date=END, owners={"East": []})


def test_small_runs_work() -> None:
    small = generate(customers=5, months=2, seed=1, end_date=END, owners=OWNERS)
    assert len(small.customers) == 5
    assert len(small.behaviours) == 6


def test_nothing_dated_after_end_date_or_before_history(data: DemoData) -> None:
    # Due dates and contract end dates are terms, not events: they may lie ahead.
    exempt = {("invoices", "due_date"), ("contracts", "end_date")}
    seen = 0
    for kind in (*KINDS, "statements", "behaviours"):
        for record in getattr(data, kind):
            for key, value in record.items():
                if isinstance(value, dt.datetime):
                    assert value.tzinfo is not None and value.utcoffset() == dt.timedelta(0)
                    day = value.date()
                elif isinstance(value, dt.date):
                    day = value
                else:
                    continue
                seen += 1
                if (kind, key) in exempt:
                    continue
                assert day <= END, (kind, key, record)
                if kind != "statements":
                    assert day >= START, (kind, key, record)
    assert seen > 50_000
    assert any(r["due_date"] > END for r in data.invoices)


def test_external_ids_unique_per_kind_and_sources(data: DemoData) -> None:
    for kind in KINDS:
        ids = [r["external_id"] for r in getattr(data, kind)]
        assert len(ids) == len(set(ids)), kind
        assert ids, kind
        source = "demo_bureau" if kind == "credit_reports" else "demo"
        assert {r["source"] for r in getattr(data, kind)} == {source}
    prefixes = {"customers": "C0", "orders": "O", "invoices": "I", "payments": "P",
                "returns": "R", "complaints": "CP", "surveys": "S", "interactions": "IA",
                "contracts": "K"}  # fmt: skip
    for kind, prefix in prefixes.items():
        assert all(r["external_id"].startswith(prefix) for r in getattr(data, kind))


def test_references_point_to_records_of_the_same_customer(data: DemoData) -> None:
    customers = by_id(data.customers)
    orders, invoices = by_id(data.orders), by_id(data.invoices)
    groups = {g["code"] for g in data.groups}
    for kind in (*KINDS[1:], "statements"):
        for r in getattr(data, kind):
            assert r["customer_external_id"] in customers, kind
    for inv in data.invoices:
        order = orders[inv["order_external_id"]]
        assert order["customer_external_id"] == inv["customer_external_id"]
    for pay in data.payments:
        inv = invoices[pay["invoice_external_id"]]
        assert inv["customer_external_id"] == pay["customer_external_id"]
    for ret in data.returns:
        order = orders[ret["order_external_id"]]
        assert order["customer_external_id"] == ret["customer_external_id"]
        assert ret["returned_on"] >= order["ordered_at"].date()
    for c in data.customers:
        assert c["group_code"] is None or c["group_code"] in groups
        assert c["region"] in OWNERS and c["owner"] in OWNERS[c["region"]]
    assert len({o["order_external_id"] for o in data.invoices}) == len(data.orders)
    grouped = [c for c in data.customers if c["group_code"]]
    companies = [c for c in data.customers if c["kind"] == "company"]
    assert all(c["kind"] == "company" for c in grouped)
    assert 0.05 < len(grouped) / len(companies) < 0.15


def test_money_and_amount_invariants(data: DemoData) -> None:
    def cents(value: Decimal) -> Decimal:
        assert isinstance(value, Decimal) and value.as_tuple().exponent == -2
        return value

    for o in data.orders:
        assert cents(o["amount"]) == sum(cents(line["amount"]) for line in o["lines"])
        assert o["amount"] > 0 and o["currency"] == "CNY"
        assert all(
            isinstance(line["quantity"], int) and line["quantity"] > 0 for line in o["lines"]
        )
    paid: dict[str, Decimal] = defaultdict(Decimal)
    for p in data.payments:
        assert cents(p["amount"]) > 0 and p["overpayment"] is False
        paid[p["invoice_external_id"]] += p["amount"]
    invoices = by_id(data.invoices)
    for inv_id, total in paid.items():
        assert total <= invoices[inv_id]["amount"]
    for inv in data.invoices:
        assert inv["due_date"] > inv["issue_date"]
        assert cents(inv["amount"]) > 0
    returned: dict[str, Decimal] = defaultdict(Decimal)
    for r in data.returns:
        returned[r["order_external_id"]] += cents(r["amount"])
    orders = by_id(data.orders)
    assert all(total <= orders[o]["amount"] for o, total in returned.items())
    for c in data.customers:
        assert cents(c["credit_limit"]) > 0
    partial = [i for i, total in paid.items() if total < invoices[i]["amount"]]
    assert partial, "some invoices are paid only in part"


def test_prepaid_and_card_orders_are_paid_at_once(data: DemoData) -> None:
    orders = by_id(data.orders)
    payments = defaultdict(list)
    for p in data.payments:
        payments[p["invoice_external_id"]].append(p)
    for inv in data.invoices:
        if orders[inv["order_external_id"]]["payment_method"] in {"prepaid", "card"}:
            assert inv["due_date"] == inv["issue_date"] + dt.timedelta(days=1)
            [pay] = payments[inv["external_id"]]
            assert pay["paid_on"] == inv["issue_date"] and pay["amount"] == inv["amount"]


def test_identifiers_and_contact_details_are_valid(data: DemoData) -> None:
    try:
        kit: Any = importlib.import_module("riskdesk.kit.identifiers")
    except ImportError:
        kit = None
    phone = re.compile(r"\+861[3-9]\d{9}")
    for c in data.customers:
        assert phone.fullmatch(c["phone"])
        assert c["email"] == f"{c['external_id'].lower()}@example.com"
        assert c["bank_account"].isdigit() and 16 <= len(c["bank_account"]) <= 19
        assert re.search(r"[\u4e00-\u9fff]", c["address"]) and c["address"].endswith("号")
        if c["kind"] == "company":
            assert valid_uscc(c["tax_id"]) and c["national_id"] is None
            assert c["name"].endswith("公司") and c["industry"] and c["segment"] != "consumer"
            assert c["payment_terms_days"] in {30, 45, 60}
        else:
            assert valid_resident_id(c["national_id"]) and c["tax_id"] is None
            assert re.fullmatch(r"[\u4e00-\u9fff]{2,3}", c["name"])
            assert c["industry"] is None and c["segment"] == "consumer"
            assert c["payment_terms_days"] in {0, 15}
        if kit is not None and hasattr(kit, "validate_uscc") and c["tax_id"]:
            assert kit.validate_uscc(c["tax_id"]) not in (False, None)
        if kit is not None and hasattr(kit, "validate_resident_id") and c["national_id"]:
            assert kit.validate_resident_id(c["national_id"]) not in (False, None)
    names = [c["name"] for c in data.customers if c["kind"] == "company"]
    assert len(names) == len(set(names))
    phonenumbers = pytest.importorskip("phonenumbers")
    for c in data.customers[:200]:
        assert phonenumbers.is_valid_number(phonenumbers.parse(c["phone"]))


def test_behaviour_proportions(data: DemoData) -> None:
    rows = [b for b in data.behaviours if b["customer_external_id"]]
    assert sorted(b["customer_external_id"] for b in rows) == sorted(
        c["external_id"] for c in data.customers
    )
    share = Counter(b["behaviour"] for b in rows)
    expected = dict(zip(BEHAVIOURS, (0.55, 0.15, 0.06, 0.05, 0.04, 0.08, 0.07), strict=True))
    assert set(share) == set(BEHAVIOURS)
    for name, target in expected.items():
        assert abs(share[name] / len(rows) - target) < 0.02, name
    for b in rows:
        needs_onset = b["behaviour"] not in {"good_payer", "slow_payer"}
        assert (b["onset_date"] is not None) == needs_onset


def test_volumes_are_modest(data: DemoData) -> None:
    per_customer_month = len(data.orders) / 600 / 24
    assert 0.6 < per_customer_month < 2.0
    assert len(data.invoices) == len(data.orders)


def days_past_due(data: DemoData) -> dict[str, int]:
    """Worst days past due of an open invoice per customer, at the end date."""
    paid: dict[str, Decimal] = defaultdict(Decimal)
    for p in data.payments:
        paid[p["invoice_external_id"]] += p["amount"]
    worst: dict[str, int] = defaultdict(int)
    for inv in data.invoices:
        if paid[inv["external_id"]] < inv["amount"]:
            dpd = (END - inv["due_date"]).days
            worst[inv["customer_external_id"]] = max(worst[inv["customer_external_id"]], dpd)
    return worst


def test_deteriorating_customers_default_and_good_payers_do_not(data: DemoData) -> None:
    worst = days_past_due(data)
    behaviours = behaviour_of(data)
    deteriorating = [c for c, b in behaviours.items() if b["behaviour"] == "deteriorating"]
    good = [c for c, b in behaviours.items() if b["behaviour"] == "good_payer"]
    assert deteriorating and good
    assert all(worst[c] >= 90 for c in deteriorating)
    assert all(worst[c] < 90 for c in good)
    assert max(worst[c] for c in good) <= 10
    slow = [c for c, b in behaviours.items() if b["behaviour"] == "slow_payer"]
    assert all(worst[c] < 90 for c in slow)
    for c in deteriorating:
        assert END - dt.timedelta(days=300) <= behaviours[c]["onset_date"] <= END


def test_slow_payers_pay_late(data: DemoData) -> None:
    behaviours = behaviour_of(data)
    invoices = by_id(data.invoices)
    lateness: dict[str, list[int]] = defaultdict(list)
    for p in data.payments:
        inv = invoices[p["invoice_external_id"]]
        if inv["due_date"] > inv["issue_date"] + dt.timedelta(days=1):
            days = (p["paid_on"] - inv["due_date"]).days
            lateness[behaviours[p["customer_external_id"]]["behaviour"]].append(days)
    slow = sorted(lateness["slow_payer"])
    good = sorted(lateness["good_payer"])
    assert 10 <= slow[len(slow) // 2] <= 40
    assert good[len(good) // 2] <= 0


def test_return_abusers_return_far_more(data: DemoData) -> None:
    behaviours = behaviour_of(data)
    orders = Counter(behaviours[o["customer_external_id"]]["behaviour"] for o in data.orders)
    returns = Counter(behaviours[r["customer_external_id"]]["behaviour"] for r in data.returns)
    abuser_rate = returns["return_abuser"] / orders["return_abuser"]
    good_rate = returns["good_payer"] / orders["good_payer"]
    assert abuser_rate > 4 * good_rate
    reasons = Counter(
        r["reason"] for r in data.returns
        if behaviours[r["customer_external_id"]]["behaviour"] == "return_abuser"
    )  # fmt: skip
    soft = reasons["no_reason"] + reasons["changed_mind"] + reasons["not_as_described"]
    assert soft > 0.6 * sum(reasons.values())


def test_resellers_order_several_times_more_after_onset(data: DemoData) -> None:
    behaviours = behaviour_of(data)
    before = after = 0.0
    days_before = days_after = 0
    for c, b in behaviours.items():
        if b["behaviour"] != "reseller":
            continue
        onset = b["onset_date"]
        days_before += (onset - START).days
        days_after += (END - onset).days + 1
    for o in data.orders:
        b = behaviours[o["customer_external_id"]]
        if b["behaviour"] == "reseller":
            if o["ordered_at"].date() >= b["onset_date"]:
                after += 1
            else:
                before += 1
    assert (after / days_after) > 2.5 * (before / days_before)


def test_churners_fade_and_new_customers_start_late(data: DemoData) -> None:
    behaviours = behaviour_of(data)
    first_order: dict[str, dt.date] = {}
    for o in data.orders:
        first_order.setdefault(o["customer_external_id"], o["ordered_at"].date())
    for c, b in behaviours.items():
        if b["behaviour"] == "new_customer" and c in first_order:
            assert first_order[c] >= b["onset_date"] >= END - dt.timedelta(days=200)
    counts: Counter[str] = Counter()
    for o in data.orders:
        b = behaviours[o["customer_external_id"]]
        if b["behaviour"] == "churner":
            last_90 = o["ordered_at"].date() > END - dt.timedelta(days=90)
            counts["late" if last_90 else "early"] += 1
    assert counts["late"] < 0.05 * counts["early"]


def test_complaint_wave(data: DemoData) -> None:
    [wave] = [b for b in data.behaviours if b["behaviour"] == "complaint_wave"]
    assert wave["customer_external_id"] is None
    assert END - dt.timedelta(days=183) <= wave["onset_date"] <= END
    window_end = wave["onset_date"] + dt.timedelta(days=42)
    about = [c for c in data.complaints if c["product"] == wave["detail"]]
    inside = [c for c in about if wave["onset_date"] <= c["opened_at"].date() <= window_end]
    assert len({c["customer_external_id"] for c in inside}) >= 20
    days_inside = (min(window_end, END) - wave["onset_date"]).days + 1
    outside_rate = (len(about) - len(inside)) / ((END - START).days + 1 - days_inside)
    assert len(inside) / days_inside > 10 * outside_rate


def test_complaints_surveys_interactions_are_well_formed(data: DemoData) -> None:
    for c in data.complaints:
        if c["status"] in {"resolved", "closed"}:
            assert c["resolved_at"] > c["opened_at"]
        else:
            assert c["resolved_at"] is None
    for s in data.surveys:
        low, high = (1, 5) if s["survey_type"] == "csat" else (0, 10)
        assert low <= s["score"] <= high
    kinds = Counter(i["kind"] for i in data.interactions)
    assert kinds["collection"] > 0 and len(kinds) == 5


def test_contracts_statements_and_reports(data: DemoData) -> None:
    customers = by_id(data.customers)
    per_customer = Counter(k["customer_external_id"] for k in data.contracts)
    assert max(per_customer.values()) <= 3
    for k in data.contracts:
        assert customers[k["customer_external_id"]]["kind"] == "company"
        assert k["end_date"] > k["start_date"] >= k["signed_on"]
    behaviours = behaviour_of(data)
    statements: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for s in data.statements:
        assert s["period_end"].month == 12 and s["period_end"].day == 31 and s["period_end"] < END
        assert s["equity"] == s["total_assets"] - s["total_liabilities"]
        assert s["current_assets"] <= s["total_assets"]
        assert s["current_liabilities"] <= s["total_liabilities"]
        assert 0 <= s["cash"] <= s["current_assets"]
        statements[s["customer_external_id"]].append(s)
    for c, rows in statements.items():
        assert 2 <= len(rows) <= 3
        if behaviours[c]["behaviour"] == "deteriorating":
            first, last = rows[0], rows[-1]
            ratio_first = first["current_assets"] / first["current_liabilities"]
            ratio_last = last["current_assets"] / last["current_liabilities"]
            assert ratio_last < ratio_first
            assert last["net_income"] < first["net_income"]
    reports: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in data.credit_reports:
        assert 300 <= r["score"] <= 850
        reports[r["customer_external_id"]].append(r)
    assert set(reports) == set(customers)
    drops = [
        rows[0]["score"] - rows[-1]["score"]
        for c, rows in reports.items()
        if behaviours[c]["behaviour"] == "deteriorating"
    ]
    assert min(drops) > 0 and sorted(drops)[len(drops) // 2] > 60


def test_full_size_is_fast_enough() -> None:
    started = time.perf_counter()
    big = generate(customers=2000, months=24, seed=11, end_date=END, owners=OWNERS)
    assert time.perf_counter() - started < 15
    assert 40_000 <= len(big.orders) <= 80_000

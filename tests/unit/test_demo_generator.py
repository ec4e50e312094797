"""The demo generator: deterministic, consistent, and hiding the behaviours it claims."""

from __future__ import annotations

import datetime as dt
import importlib
import itertools
import re
import time
from collections import Counter, defaultdict
from decimal import Decimal
from typing import Any

import pytest

from riskdesk.demo.generator import (
    BEHAVIOUR_SHARES,
    BEHAVIOURS,
    DECOY_OF,
    LEGITIMATE_RETURN_REASONS,
    DemoData,
    generate,
)

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
    expected = {**BEHAVIOUR_SHARES, "good_payer": 1 - sum(BEHAVIOUR_SHARES.values())}
    assert set(share) == set(BEHAVIOURS) == set(expected)
    added_decoys = ("busy_b2b", "seasonal", "light_returner", "tight_limit")
    assert all(0.03 <= BEHAVIOUR_SHARES[name] <= 0.06 for name in added_decoys)
    for name, target in expected.items():
        assert abs(share[name] / len(rows) - target) < 0.02, name
    with_onset = {"deteriorating", "return_abuser", "reseller", "churner", "new_customer"}
    for b in rows:
        assert (b["onset_date"] is not None) == (b["behaviour"] in with_onset)
        assert len(b["behaviour"]) <= 32  # demo_behaviours.behaviour is String(32)


def test_decoys_name_the_behaviour_they_resemble(data: DemoData) -> None:
    assert set(DECOY_OF) <= set(BEHAVIOURS) and set(DECOY_OF.values()) <= set(BEHAVIOURS)
    assert not set(DECOY_OF) & set(DECOY_OF.values())  # a decoy is never itself a problem
    for b in data.behaviours:
        resembled = DECOY_OF.get(b["behaviour"])
        assert b["decoy_of"] == resembled
        if resembled:
            assert b["detail"].startswith(f"decoy of {resembled}: "), b
        else:
            assert b["detail"] is None or "decoy" not in b["detail"]
    customers = by_id(data.customers)
    segments: dict[str, set[str]] = defaultdict(set)
    for c, b in behaviour_of(data).items():
        segments[b["behaviour"]].add(customers[c]["segment"])
    assert segments["busy_b2b"] <= {"b2b_enterprise", "b2b_sme"}
    assert segments["tight_limit"] <= {"b2b_enterprise", "b2b_sme"}
    assert segments["light_returner"] == {"consumer"}


def test_volumes_are_modest(data: DemoData) -> None:
    # About 1.4 orders a customer-month, and busy B2B buyers' 10-20 (3% of customers).
    per_customer_month = len(data.orders) / 600 / 24
    assert 1.0 < per_customer_month < 2.5
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
    after_onset = [
        r for r in data.returns
        if behaviours[r["customer_external_id"]]["behaviour"] == "return_abuser"
        and r["returned_on"] >= behaviours[r["customer_external_id"]]["onset_date"]
    ]  # fmt: skip
    reasons = Counter(r["reason"] for r in after_onset)
    assert reasons["item_not_received"] > 0 and reasons["empty_package"] > 0
    unverifiable = ("no_reason", "changed_mind", "item_not_received", "empty_package")
    assert sum(reasons[k] for k in unverifiable) > 0.6 * sum(reasons.values())
    # Mostly the whole order, where ordinary customers mostly return part of it.
    orders_by_id = by_id(data.orders)

    def full_share(rows: list[dict[str, Any]]) -> float:
        full = [r["amount"] == orders_by_id[r["order_external_id"]]["amount"] for r in rows]
        return sum(full) / len(full)

    good = [
        r for r in data.returns
        if behaviours[r["customer_external_id"]]["behaviour"] == "good_payer"
    ]  # fmt: skip
    assert full_share(after_onset) > 0.6 > 0.45 > full_share(good)


def test_return_abusers_return_30_to_50_percent_after_onset(data: DemoData) -> None:
    behaviours = behaviour_of(data)
    bought: Counter[str] = Counter()
    returned: Counter[str] = Counter()
    returned_ids = {r["order_external_id"] for r in data.returns}
    for o in data.orders:
        b = behaviours[o["customer_external_id"]]
        # Orders whose return window (30 days) closed before the end.
        day = o["ordered_at"].date()
        if b["behaviour"] == "return_abuser" and b["onset_date"] <= day <= END - dt.timedelta(30):
            bought[o["customer_external_id"]] += 1
            returned[o["customer_external_id"]] += o["external_id"] in returned_ids
    assert sum(returned.values()) / sum(bought.values()) == pytest.approx(0.4, abs=0.06)
    # Each its own stated share, as a habit rather than by luck.
    for c, n in bought.items():
        found = re.search(r"returns (\d+)% of orders", behaviours[c]["detail"])
        assert found and 30 <= int(found.group(1)) <= 50
        assert abs(returned[c] / n - int(found.group(1)) / 100) <= 1.01 / n + 0.01, c


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


def line_facts(data: DemoData) -> tuple[dict[str, float], dict[str, list[dict[str, Any]]]]:
    """Each product's list price (its highest unit price anywhere) and the lines per customer,
    each with its discount (unit price over list price), quantity, category and date."""
    top: dict[str, float] = defaultdict(float)
    for o in data.orders:
        for line in o["lines"]:
            unit = float(line["amount"]) / line["quantity"]
            top[line["product"]] = max(top[line["product"]], unit)
    lines: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for o in data.orders:
        for line in o["lines"]:
            unit = float(line["amount"]) / line["quantity"]
            lines[o["customer_external_id"]].append(
                {
                    "discount": unit / top[line["product"]],
                    "quantity": line["quantity"],
                    "category": line["category"],
                    "day": o["ordered_at"].date(),
                }
            )
    return top, lines


def median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


def usual_quantities(
    data: DemoData, lines: dict[str, list[dict[str, Any]]]
) -> dict[tuple[str, str], float]:
    """Good payers' median quantity per line, by segment and category."""
    customers = by_id(data.customers)
    quantities: dict[tuple[str, str], list[float]] = defaultdict(list)
    for c, b in behaviour_of(data).items():
        if b["behaviour"] == "good_payer":
            for line in lines[c]:
                quantities[customers[c]["segment"], line["category"]].append(line["quantity"])
    return {key: median(values) for key, values in quantities.items()}


def test_resellers_buy_in_bulk_at_deep_discounts_for_months(data: DemoData) -> None:
    behaviours = behaviour_of(data)
    customers = by_id(data.customers)
    _, lines = line_facts(data)
    usual = usual_quantities(data, lines)
    thirds: Counter[int] = Counter()
    resellers = [c for c, b in behaviours.items() if b["behaviour"] == "reseller"]
    for c in resellers:
        onset = behaviours[c]["onset_date"]
        after = [line for line in lines[c] if line["day"] >= onset]
        segment = customers[c]["segment"]
        ratios = [line["quantity"] / usual[segment, line["category"]] for line in after]
        assert median(ratios) >= 3, c
        top_category = Counter(line["category"] for line in after).most_common(1)[0][1]
        assert top_category >= 0.6 * len(after)
        assert median([line["discount"] for line in after]) < 0.83
        span = (END - onset).days + 1
        for line in after:
            thirds[3 * (line["day"] - onset).days // span] += 1
    # Sustained: the last third of the time since onset buys about as much as the first.
    assert thirds[2] > 0.7 * thirds[0]


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
    assert 60_000 <= len(big.orders) <= 110_000


# --- decoys: ordinary customers that resemble a problem --------------------------------------


def settled_lateness(data: DemoData) -> dict[str, list[tuple[dt.date, int]]]:
    """Per customer, (due date, days from due to the last payment) of fully paid credit
    invoices."""
    paid: dict[str, Decimal] = defaultdict(Decimal)
    last_paid: dict[str, dt.date] = {}
    for p in data.payments:
        paid[p["invoice_external_id"]] += p["amount"]
        last_paid[p["invoice_external_id"]] = max(
            p["paid_on"], last_paid.get(p["invoice_external_id"], p["paid_on"])
        )
    out: dict[str, list[tuple[dt.date, int]]] = defaultdict(list)
    for inv in data.invoices:
        on_credit = inv["due_date"] > inv["issue_date"] + dt.timedelta(days=7)
        if on_credit and paid[inv["external_id"]] == inv["amount"]:
            late = (last_paid[inv["external_id"]] - inv["due_date"]).days
            out[inv["customer_external_id"]].append((inv["due_date"], late))
    return out


def test_slow_payers_are_late_by_the_same_margin_throughout(data: DemoData) -> None:
    behaviours = behaviour_of(data)
    lateness = settled_lateness(data)
    middle = START + (END - START) / 2

    def drift(c: str, split: dt.date = middle, least: int = 4) -> float | None:
        """Mean lateness of invoices due from ``split`` on less that of those due before."""
        first = [late for due, late in lateness[c] if due < split]
        second = [late for due, late in lateness[c] if due >= split]
        if len(first) < least or len(second) < least:
            return None
        return sum(second) / len(second) - sum(first) / len(first)

    slow = [c for c, b in behaviours.items() if b["behaviour"] == "slow_payer"]
    assert all(10 <= late <= 40 for c in slow for _, late in lateness[c])
    drifts = [d for d in map(drift, slow) if d is not None]
    assert len(drifts) >= 20
    assert all(abs(d) < 10 for d in drifts) and abs(median(drifts)) <= 2
    # Deteriorating customers, which they resemble, drift by weeks.
    worse = [c for c, b in behaviours.items() if b["behaviour"] == "deteriorating"]
    worse_drifts = [drift(c, behaviours[c]["onset_date"], 1) for c in worse]
    assert median([d for d in worse_drifts if d is not None]) > 15
    # And they never default: nothing is more than 40 days past due at the end.
    worst = days_past_due(data)
    assert all(worst[c] <= 40 for c in slow)


def test_busy_b2b_buyers_order_often_and_steadily_with_usual_baskets(data: DemoData) -> None:
    behaviours = behaviour_of(data)
    customers = by_id(data.customers)
    monthly: dict[str, Counter[int]] = defaultdict(Counter)
    for o in data.orders:
        day = o["ordered_at"].date()
        monthly[o["customer_external_id"]][(day.year - START.year) * 12 + day.month - 7] += 1
    busy = [c for c, b in behaviours.items() if b["behaviour"] == "busy_b2b"]
    assert busy
    for c in busy:
        counts = [monthly[c][m] for m in range(1, 24)]  # the whole months
        assert sum(counts) / len(counts) >= 8
        first, second = sum(counts[:11]), sum(counts[12:])
        assert 0.6 < second / first < 1.6, c
    # Usual quantities and discounts for their segment, unlike resellers after onset.
    _, lines = line_facts(data)
    usual = usual_quantities(data, lines)
    for segment in ("b2b_enterprise", "b2b_sme"):
        peers = [
            line for c, b in behaviours.items()
            if b["behaviour"] == "good_payer" and customers[c]["segment"] == segment
            for line in lines[c]
        ]  # fmt: skip
        mine = [line for c in busy if customers[c]["segment"] == segment for line in lines[c]]
        if not mine:
            continue
        # Quantity against good payers' usual quantity in the same segment and category.
        ratios = [x["quantity"] / usual[segment, x["category"]] for x in mine]
        assert 0.7 < median(ratios) < 1.4
        gap = median([x["discount"] for x in mine]) - median([x["discount"] for x in peers])
        assert abs(gap) < 0.03


def test_new_customers_ramp_up_from_their_first_order(data: DemoData) -> None:
    behaviours = behaviour_of(data)
    orders: dict[str, list[int]] = defaultdict(list)
    for o in data.orders:
        b = behaviours[o["customer_external_id"]]
        if b["behaviour"] == "new_customer":
            orders[o["customer_external_id"]].append(
                (o["ordered_at"].date() - b["onset_date"]).days
            )
    new = {c: b for c, b in behaviours.items() if b["behaviour"] == "new_customer"}
    assert all(20 <= (END - b["onset_date"]).days <= 180 for b in new.values())
    assert all(min(orders[c]) == 0 for c in new)  # the account opens with an order
    # Orders per customer-day: the first month (after the opening order) against day 90 on.
    settled = [c for c, b in new.items() if (END - b["onset_date"]).days >= 120]
    early = sum(1 for c in settled for day in orders[c] if 1 <= day < 30) / (29 * len(settled))
    late_days = sum((END - new[c]["onset_date"]).days + 1 - 90 for c in settled)
    late = sum(1 for c in settled for day in orders[c] if day >= 90) / late_days
    assert late > 1.8 * early


def test_seasonal_buyers_buy_in_the_same_months_every_year(data: DemoData) -> None:
    behaviours = behaviour_of(data)
    days: dict[str, list[dt.date]] = defaultdict(list)
    for o in data.orders:
        days[o["customer_external_id"]].append(o["ordered_at"].date())
    seasonal = [c for c, b in behaviours.items() if b["behaviour"] == "seasonal"]
    assert seasonal
    seasons_with_orders = seasons = in_season = total = 0
    gaps: list[int] = []
    for c in seasonal:
        found = re.search(r"months ([\d,]+) ", behaviours[c]["detail"])
        assert found
        months = [int(m) for m in found.group(1).split(",")]
        assert 2 <= len(months) <= 4
        inside = [d for d in days[c] if d.month in months]
        assert len(inside) >= 0.75 * len(days[c]), c
        in_season += len(inside)
        total += len(days[c])
        # Every season wholly inside the history has orders (the season may span a new year).
        for year in range(START.year - 1, END.year + 1):
            first = dt.date(year, months[0], 1)
            season = {(year + (months[0] + k - 1) // 12, (months[0] + k - 1) % 12 + 1)
                      for k in range(len(months))}  # fmt: skip
            last_y, last_m = max(season)
            if first <= START or dt.date(last_y, last_m, 28) >= END:
                continue
            seasons += 1
            seasons_with_orders += any((d.year, d.month) in season for d in inside)
        # Long quiet gaps between seasons.
        ordered = sorted(days[c])
        gaps.append(max((b - a).days for a, b in itertools.pairwise(ordered)))
    assert seasons and seasons_with_orders >= 0.9 * seasons
    assert in_season >= 0.93 * total  # 97% expected
    assert min(gaps) >= 90 and median(gaps) >= 180


def test_light_returners_return_a_few_orders_for_checkable_reasons(data: DemoData) -> None:
    behaviours = behaviour_of(data)
    light = {c for c, b in behaviours.items() if b["behaviour"] == "light_returner"}
    orders = Counter(o["customer_external_id"] for o in data.orders)
    returns: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in data.returns:
        returns[r["customer_external_id"]].append(r)
    assert light
    assert {r["reason"] for c in light for r in returns[c]} <= set(LEGITIMATE_RETURN_REASONS)
    assert all(orders[c] / 24 <= 1.5 for c in light)  # low volume: about one order in 1-3 months
    assert all(len(returns[c]) <= 8 for c in light)
    assert sum(1 for c in light if not returns[c]) <= 0.1 * len(light)
    # Sometimes two returns within 90 days, as a return abuser's would be.
    paired = 0
    for c in light:
        on = sorted(r["returned_on"] for r in returns[c])
        paired += any((b - a).days <= 90 for a, b in itertools.pairwise(on))
    assert paired >= 0.7 * len(light)


def daily_utilisation(data: DemoData, customer: str, days: int = 180) -> list[float]:
    """Open exposure (invoiced less paid) over the credit limit on each of the last days."""
    limit = float(by_id(data.customers)[customer]["credit_limit"])
    flow: Counter[dt.date] = Counter()
    for inv in data.invoices:
        if inv["customer_external_id"] == customer:
            flow[inv["issue_date"]] += float(inv["amount"])
    for p in data.payments:
        if p["customer_external_id"] == customer:
            flow[p["paid_on"]] -= float(p["amount"])
    out, open_amount, day = [], 0.0, START
    while day <= END:
        open_amount += flow[day]
        if day > END - dt.timedelta(days=days):
            out.append(open_amount / limit)
        day += dt.timedelta(days=1)
    return out


def test_tight_limits_sit_just_above_usual_exposure_of_punctual_payers(data: DemoData) -> None:
    behaviours = behaviour_of(data)
    tight = [c for c, b in behaviours.items() if b["behaviour"] == "tight_limit"]
    assert tight
    in_band = []
    for c in tight:
        used = daily_utilisation(data, c)
        assert 0.8 <= median(used) <= 1.0, c
        assert sum(u > 1.0 for u in used) <= 0.15 * len(used), c  # rarely over the limit
        in_band.append(sum(0.85 <= u <= 1.0 for u in used) / len(used))
    assert median(in_band) >= 0.7
    # They pay on time (by the due date) and buy on credit.
    lateness = settled_lateness(data)
    assert all(late <= 0 for c in tight for _, late in lateness[c])
    methods = {o["payment_method"] for o in data.orders if o["customer_external_id"] in tight}
    assert methods == {"credit"}
    assert not any(days_past_due(data)[c] > 0 for c in tight)
    # Ordinary companies use far less of theirs.
    customers = by_id(data.customers)
    good = [
        c for c, b in behaviours.items()
        if b["behaviour"] == "good_payer" and customers[c]["kind"] == "company"
    ][:40]  # fmt: skip
    assert median([median(daily_utilisation(data, c)) for c in good]) < 0.6

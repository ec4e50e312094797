"""Pure helpers: name normalisation, locale choice, mappings, translations."""

from __future__ import annotations

import json
import re
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.requests import Request

from riskdesk.customers.service import normalise_name, to_text
from riskdesk.kit.errors import ValidationFailed
from riskdesk.kit.tabular import ColumnMapping, apply_mapping, read_table
from riskdesk.ui.i18n import catalog, pick_locale

UI = Path(__file__).parents[2] / "src" / "riskdesk" / "ui"


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("杭州恒远贸易有限公司", "杭州恒远贸易"),
        ("Acme Trading Co., Ltd.", "acme trading"),
        ("Acme Trading Limited", "ACME  TRADING"),
        ("上海明达科技股份有限公司", "上海明达科技"),
    ],
)
def test_normalise_name_drops_legal_forms(a: str, b: str) -> None:
    assert normalise_name(a) == normalise_name(b)


@given(st.text(max_size=40))
def test_normalise_name_never_fails(name: str) -> None:
    assert isinstance(normalise_name(name), str)


def _request(headers: dict[str, str]) -> Request:
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    return Request({"type": "http", "headers": raw, "method": "GET", "path": "/"})


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, "zh-CN"),
        ({"accept-language": "en-US,en;q=0.9"}, "en"),
        ({"accept-language": "zh-TW,zh;q=0.9,en;q=0.8"}, "zh-CN"),
        ({"accept-language": "fr-FR,en;q=0.5,zh;q=0.7"}, "zh-CN"),
        ({"accept-language": "de;q=bogus"}, "zh-CN"),
        ({"accept-language": "zh-CN", "cookie": "rd_lang=en"}, "en"),
    ],
)
def test_pick_locale(headers: dict[str, str], expected: str) -> None:
    assert pick_locale(_request(headers)) == expected


def test_every_template_key_is_translated_in_both_languages() -> None:
    used: set[str] = set()
    for template in (UI / "templates").rglob("*.html"):
        # t("key"), not the tail of a call such as .get("key")
        found = re.findall(r'(?<![\w.])t\("([a-z_.]+)"', template.read_text(encoding="utf-8"))
        used |= {k for k in found if not k.endswith(".")}  # prefixes of computed keys
    for locale in ("en", "zh-CN"):
        missing = {k for k in used if k not in catalog(locale)}
        assert not missing, (locale, sorted(missing))
    en = json.loads((UI / "translations" / "en.json").read_text(encoding="utf-8"))
    zh = json.loads((UI / "translations" / "zh-CN.json").read_text(encoding="utf-8"))
    assert set(en) == set(zh)


def test_mapping_defaults_and_auto_columns() -> None:
    frame = read_table("External_ID,金额\nA1,10\nA2,\n".encode(), "x.csv")
    mapping = ColumnMapping.from_yaml("columns: {amount: 金额}\ndefaults: {source: erp}")
    rows, errors = apply_mapping(frame, mapping, ["source", "external_id", "amount"])
    assert errors == []
    assert rows == [
        {"source": "erp", "external_id": "A1", "amount": "10"},
        {"source": "erp", "external_id": "A2", "amount": None},
    ]


def test_mapping_rejects_bad_yaml_shapes() -> None:
    for text in ("[1, 2]", "columns: [a]", "other: 1", "defaults: 5"):
        with pytest.raises(ValidationFailed):
            ColumnMapping.from_yaml(text)


def test_read_table_handles_bom_and_excel() -> None:
    frame = read_table("\ufeffa,b\n1,2\n".encode(), "x.csv")
    assert frame.columns == ["a", "b"]
    import io

    buffer = io.BytesIO()
    pl.DataFrame({"a": [1.0, 2.5], "b": ["x", None]}).write_excel(buffer)
    excel = read_table(buffer.getvalue(), "x.xlsx")
    assert excel.columns == ["a", "b"]
    with pytest.raises(ValidationFailed):
        read_table(b"x", "x.pdf")


def test_to_text_is_stable() -> None:
    from datetime import date
    from decimal import Decimal

    assert to_text(Decimal("5")) == "5.00"
    assert to_text(True) == "true"
    assert to_text(date(2026, 1, 2)) == "2026-01-02"
    assert to_text(None) is None


def test_dates_and_stored_values_render_at_the_edges() -> None:
    """strftime leaves years before 1000 unpadded ('1-01-01'); keys built from stored values
    that the catalogue lacks show the value, or a dash when it is empty."""
    import datetime as dt

    from riskdesk.ui.i18n import Translator
    from riskdesk.ui.render import _money, format_day, format_stamp

    first = dt.datetime(1, 1, 1, 0, 5, 9, tzinfo=dt.UTC)
    assert format_day(first.date()) == "0001-01-01" and format_day(None) == ""
    assert format_stamp(first, dt.UTC) == "0001-01-01 00:05"
    assert format_stamp(first, dt.UTC, seconds=True, sep="T") == "0001-01-01T00:05:09"
    assert format_day(dt.date(9999, 12, 31)) == "9999-12-31"
    from decimal import Decimal

    assert _money(Decimal("9999999999999999.99")) == "9,999,999,999,999,999.99"
    assert _money(float("nan")) == "—" and _money(None) == "—"
    zh = Translator("zh-CN")
    assert zh("complaints.category.") == "—" and zh("tier.unheard_of") == "unheard_of"
    assert zh("tier.high") == catalog("zh-CN")["tier.high"]

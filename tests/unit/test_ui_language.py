"""The UI says things in the reader's language: rule errors, form errors, measured values."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from riskdesk.monitoring.rules import RuleError, compile_rule
from riskdesk.ui.i18n import Translator, catalog
from riskdesk.ui.render import _decimal, indicator_label, rule_error_text

RULES = Path(__file__).resolve().parents[2] / "src" / "riskdesk" / "monitoring" / "rules.py"


def test_every_rule_error_code_has_a_sentence_in_both_languages() -> None:
    tree = ast.parse(RULES.read_text(encoding="utf-8"))
    codes = {"invalid"} | {
        node.args[2].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "RuleError"
        and len(node.args) > 2
        and isinstance(node.args[2], ast.Constant)
    }
    assert len(codes) >= 15
    for locale in ("zh-CN", "en"):
        assert {c for c in codes if f"rules.error.{c}" not in catalog(locale)} == set()


@pytest.mark.parametrize(
    ("expression", "chinese"),
    [
        ("dpd_max > 'a'", "“>”不能比较数值与文本"),
        ("no_such_thing > 1", "未知名称 no_such_thing"),
        ("dpd_max + 1", "规则须是一个条件（成立或不成立），不能是数值"),
        ("dpd_max > 1 and", "此处应为一个值"),
        ("dpd_max $ 1", "无法识别的字符 $"),
    ],
)
def test_a_rule_error_in_chinese_and_in_english(expression: str, chinese: str) -> None:
    with pytest.raises(RuleError) as caught:
        compile_rule(expression)
    assert rule_error_text(Translator("zh-CN"), caught.value).startswith(chinese)
    assert rule_error_text(Translator("en"), caught.value) == caught.value.message


def test_measured_values_never_in_scientific_notation() -> None:
    assert _decimal(133200.0) == "133,200"
    assert _decimal(739024.51) == "739,024.51"
    assert _decimal(1e-7) == "0"
    assert _decimal(0.123456) == "0.12"
    assert _decimal(None) == "—"
    assert _decimal(float("nan")) == "—"
    assert _decimal("x") == "x"


def test_indicator_labels() -> None:
    assert indicator_label("orders_amount_30d", "zh-CN") == "近30天订单金额"
    assert indicator_label("orders_amount_30d", "en") == "Order amount in the last 30 days"
    assert indicator_label("not_an_indicator", "zh-CN") == "not_an_indicator"


def test_every_measure_a_rule_reads_has_a_label_in_both_languages() -> None:
    """An alert's evidence names what its rule measured: a rule's attribute (a score drop, the
    churn model's figures) is shown by its label, never its code (bureau_score_drop)."""
    from riskdesk.monitoring.rules import VOCABULARY
    from riskdesk.ui.render import measure_label

    for locale in ("zh-CN", "en"):
        t = Translator(locale)
        assert [name for name in VOCABULARY if measure_label(t, name) == name] == [], locale


def test_a_product_surges_evidence_is_labelled_and_never_scientific() -> None:
    """The complaint desk's surge alert: window counts by their length, the kind by its name,
    a p-value far below 0.001 neither as 3.21e-13 nor as a misleading 0."""
    from jinja2 import Environment

    from riskdesk.ui.render import templates

    evidence = {
        "product": "DRILL-X200",
        "complaints_14d": 12,
        "expected": 0.5,
        "baseline_84d": 0,
        "customers": 12,
        "top_category": "product_quality",
        "p_value": 3.21e-13,
    }
    env: Environment = templates.env
    source = "{% for label, v in e | evidence %}{{ label }}={{ v }};{% endfor %}"
    zh = env.from_string(source).render(t=Translator("zh-CN"), e=evidence)
    assert zh == (
        "产品=DRILL-X200;近14天投诉数=12;预期投诉数=0.5;此前84天投诉数=0;投诉客户数=12;"
        "最多的投诉类别=产品质量;偶然出现的概率（p 值）=&lt; 0.001;"  # escaped, as HTML
    )
    en = env.from_string(source).render(t=Translator("en"), e=evidence | {"p_value": 0.0123})
    assert "Complaints in the last 14 days=12;" in en and "=0.012;" in en
    assert "e-" not in zh + en and "_" not in zh.replace("DRILL-X200", "")


def test_every_audit_channel_and_object_written_has_a_name_in_both_languages() -> None:
    """The audit log shows who changed something through which channel, about what object:
    a channel or object type written anywhere in the code is named, never shown as its code."""
    src = RULES.parents[1]
    written: dict[str, set[str]] = {"channel": set(), "object_type": set()}
    for path in src.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.keyword)
                and node.arg in written
                and isinstance(node.value, ast.Constant)
                and isinstance(node.value.value, str)
            ):
                written[node.arg].add(node.value.value)
    assert {"job", "playbook", "ui", "api"} <= written["channel"]
    assert {"lake", "customer", "job"} <= written["object_type"]
    for locale in ("zh-CN", "en"):
        messages = catalog(locale)
        assert {c for c in written["channel"] if f"channel.{c}" not in messages} == set()
        assert {o for o in written["object_type"] if f"audit.object.{o}" not in messages} == set()


def test_shares_in_evidence_read_as_percentages() -> None:
    from jinja2 import Environment

    from riskdesk.ui.render import templates

    env: Environment = templates.env
    source = "{% for label, v in e | evidence %}{{ label }} {{ v }};{% endfor %}"
    evidence = {"utilisation": 3.56, "churn_p_alive": 0.123, "return_rate_90d": 0.05}
    assert env.from_string(source).render(t=Translator("zh-CN"), e=evidence) == (
        "额度使用率 356%;"
        + "{} 12.3%;".format(catalog("zh-CN")["evidence.churn_p_alive"])
        + "{} 5.0%;".format(indicator_label("return_rate_90d", "zh-CN"))
    )


def test_every_table_and_column_the_audit_log_records_has_a_label_in_both_languages() -> None:
    """An audit entry's changes name tables and columns: each is said by its label (the credit
    file form's, else the audit catalogue's), never as ``jobs`` or ``heartbeat_at``."""
    import importlib
    import pkgutil

    import riskdesk.models
    from riskdesk.db import Base
    from riskdesk.ui.audit_view import column_label, table_label

    for module in pkgutil.iter_modules(riskdesk.models.__path__):
        importlib.import_module(f"riskdesk.models.{module.name}")
    tables = Base.metadata.tables.values()
    assert len(tables) > 50
    for locale in ("zh-CN", "en"):
        t = Translator(locale)
        unknown_table, unknown_column = t("audit.table.unknown"), t("audit.column.unknown")
        assert [x.name for x in tables if table_label(t, x.name) == unknown_table] == []
        columns = {c.name for x in tables for c in x.columns}
        assert sorted(c for c in columns if column_label(t, c) == unknown_column) == []


@pytest.mark.parametrize(
    ("locale", "change", "shown"),
    [
        (
            "zh-CN",
            {"table": "jobs", "op": "update", "rows": 1, "fields": ["attempts", "heartbeat_at"]},
            "后台任务：修改 1 条（尝试次数、最近活动时间）",
        ),
        (
            "en",
            {"table": "jobs", "op": "update", "rows": 1200, "fields": ["attempts", "heartbeat_at"]},
            "Background jobs: 1,200 changed (Attempts, Last sign of life)",
        ),
        ("en", {"table": "customers", "op": "update", "rows": 1, "fields": ["credit_limit"]},
         "Customers: 1 changed (Credit limit)"),
        ("zh-CN", {"table": "gone_table", "op": "insert", "rows": 2}, "其他数据：新增 2 条"),
    ],
)  # fmt: skip
def test_an_audit_change_is_said_in_words(
    locale: str, change: dict[str, object], shown: str
) -> None:
    from riskdesk.ui.audit_view import change_label

    assert change_label(Translator(locale), change) == shown


@pytest.mark.parametrize(
    ("item", "zh", "en"),
    [
        ("credit_report.409", "外部征信报告 #409", "Bureau report #409"),
        ("document.12", "文件 #12", "Document #12"),
        ("contact.5.phone", "联系人 #5 电话", "Contact #5 Phone"),
        ("C000123.name", "C000123 名称", "C000123 Name"),
        ("format=pdf", "格式：PDF", "Format: PDF"),
        ("locale=zh-CN", "语言：中文", "Language: Chinese"),
        ("filter.q=(given)", "筛选 搜索内容：（已填写）", "Filter Search text: (given)"),
        ("search by phone", "按电话搜索", "Search by Phone"),
        ("national_id", "身份证号", "ID number"),
    ],
)
def test_an_audit_entrys_items_are_said_in_words(item: str, zh: str, en: str) -> None:
    from riskdesk.ui.audit_view import item_label

    assert item_label(Translator("zh-CN"), item) == zh
    assert item_label(Translator("en"), item) == en


def test_an_audit_entrys_object_is_said_in_words() -> None:
    from riskdesk.ui.audit_view import object_label

    zh, en = Translator("zh-CN"), Translator("en")
    assert object_label(zh, "customer_list", "page 1") == "客户列表 第 1 页"
    assert object_label(en, "customer_list", "page 3") == "Customer list page 3"
    assert object_label(zh, "customer", "409") == "客户 #409"
    assert object_label(zh, "customer_search", "miss") == "客户搜索 无结果"
    assert object_label(en, "alert", "export") == "Alert Export"
    assert object_label(zh, None, None) == ""


def test_no_template_writes_chinese_outside_the_catalogue() -> None:
    """A page's words, examples in placeholders included, come from the catalogue: Chinese
    written into a template (a placeholder "ERP-金蝶") would show on the English page."""
    import re

    templates = RULES.parents[1] / "ui" / "templates"
    cjk = re.compile(r"[\u4e00-\u9fff]")
    found = [
        f"{path.relative_to(templates)}:{number}"
        for path in sorted(templates.rglob("*.html"))
        if "help" not in path.parts
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if cjk.search(re.sub(r"\{[{%#].*?[}%#]\}", "", line))
    ]
    assert found == []


def test_the_import_examples_are_in_the_readers_language() -> None:
    zh, en = catalog("zh-CN"), catalog("en")
    assert "企业" in zh["imports.mapping_placeholder"]
    assert "company" in en["imports.mapping_placeholder"]
    for key in ("imports.mapping_placeholder", "imports.mapping_name_placeholder"):
        assert not re.search(r"[\u4e00-\u9fff]", en[key]), key


def test_counts_choose_the_singular_or_the_plural() -> None:
    """ "every 1 months" and "1 alerts" read wrong: a count picks its word (English), and one
    reads naturally in Chinese ("每月")."""
    en, zh = Translator("en"), Translator("zh-CN")
    assert en("policy.months", n=1) == "every month"
    assert en("policy.months", n=3) == "every 3 months"
    assert (zh("policy.months", n=1), zh("policy.months", n=6)) == ("每月", "每 6 个月")
    assert en("limits.review_every", months=1) == "review every month"
    live = en("rules.live", alerts=1, confirmed=0, false_alarm=1, cleared=2)
    assert live.startswith("1 alert; 0 confirmed, 1 false alarm, 2 cleared")
    assert en("rules.live", alerts=5, confirmed=0, false_alarm=0, cleared=0).startswith("5 alerts")
    assert en("audit.total", total="1") == "1 entry"  # a count already formatted
    assert en("audit.total", total="1,200") == "1,200 entries"
    assert (en("common.days", n=1), en("common.days", n=0)) == ("1 day", "0 days")
    assert en("alerts.total", total=1, first=1, last=1).startswith("1 alert, ")


def test_no_english_message_puts_a_bare_count_before_a_plural_noun() -> None:
    nouns = "alerts|customers|months|days|entries|rows|steps|hours|weeks|exposures|partitions"
    bare = re.compile(rf"\{{(\w+)\}} ({nouns})\b")
    chosen = re.compile(r"\{\w+:plural:[^{}]*(?:\{\w+\}[^{}]*)*\}")  # the words a count picks
    en = catalog("en")
    found = [
        key
        for key, text in en.items()
        for match in bare.finditer(chosen.sub("", text))
        if match.group(1) != "severity"  # "high alerts": a word, not a count
    ]
    assert found == []
    for key, text in en.items():  # every message still fills (a plural spec nests one level)
        names = set(re.findall(r"\{(\w+)", text))
        Translator("en")(key, **dict.fromkeys(names, 2))


def test_scorecard_bins_and_weights_read_as_ranges() -> None:
    """ "up to 150.0 between 20.0 and 100.0" and "[20.0, 100.0)" read as "20–100", "≥ 150"."""
    from riskdesk.ui.render import bin_range

    en, zh = Translator("en"), Translator("zh-CN")
    assert bin_range(en, 20.0, 100.0) == "20–100"
    assert bin_range(en, 0.05, 0.2) == "0.05–0.2"
    assert bin_range(en, 150.0, None) == "≥ 150"
    assert bin_range(en, None, 1) == "< 1"
    assert bin_range(en, 1000.0, 25000.5) == "1,000–25,000.5"
    assert bin_range(zh, None, None) == "任意值"
    assert en("scorecards.weight", points=150.0, lower=20.0, upper=100.0) == (
        "up to 150 points over 20–100"
    )
    assert zh("scorecards.weight", points=150.0, lower=20.0, upper=100.0) == (
        "20–100 区间内最高 150 分"
    )


def test_english_labels_of_states_and_columns_are_capitalised() -> None:
    """A severity, a status or a column header stands alone in a cell, a badge or an option:
    "Open", "In progress", "Fold 1", not "open", "in progress", "fold 1"."""
    families = (
        "alerts.severity", "alerts.status", "alerts.outcome", "case.status", "case.action_status",
        "case.event", "complaints.status", "limits.status", "limits.origin", "pending", "decision",
        "rules.status", "scorecards.status", "scorecards.source", "models.status",
        "integrations.status", "churn.band", "period_type", "report.period", "channel",
    )  # fmt: skip
    en = catalog("en")
    lower = [
        key for key, text in en.items() if key.rsplit(".", 1)[0] in families and text[:1].islower()
    ]
    assert lower == []
    for key in ("models.mean", "models.rows", "models.bad_rate", "models.fold", "scorecards.tiers"):
        assert en[key][:1].isupper(), key
    assert Translator("en")("models.fold", n=1) == "Fold 1"
    assert (en["alerts.status.in_progress"], en["case.action_status.open"]) == (
        "In progress",
        "To do",
    )


def test_an_exports_coded_filter_values_are_said_by_their_labels() -> None:
    from riskdesk.ui.audit_view import item_label

    zh = Translator("zh-CN")
    shown = item_label(zh, "filter.status=open_any")
    assert shown == "筛选 状态：" + catalog("zh-CN")["alerts.status.open_any"]
    assert "held" not in item_label(zh, "filter.status=held,pending")

"""Deterministic demo data: customers, their events, and the behaviours hidden in them.

Beside each problem behaviour (deteriorating, return abuse, resale, churn) the population holds
decoys: ordinary customers that look like it on the surface (``DECOY_OF``) and that a fair early
warning tells apart by evidence. The behaviours are ground truth for scoring warnings only.

Pure: numpy and the standard library only, no database. The same arguments give the same data.
Money is integer cents internally and ``Decimal`` (two places) in the records; days are integer
offsets from the first day of history.
"""

from __future__ import annotations

import datetime as dt
import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
import numpy.typing as npt

from riskdesk.kit import identifiers

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

SOURCE = "demo"
BUREAU = "demo_bureau"
CURRENCY = "CNY"

BEHAVIOURS = (
    "good_payer",
    "slow_payer",
    "deteriorating",
    "return_abuser",
    "reseller",
    "churner",
    "new_customer",
    "busy_b2b",
    "seasonal",
    "light_returner",
    "tight_limit",
)
(
    GOOD, SLOW, DETERIORATING, RETURN_ABUSER, RESELLER, CHURNER, NEW,
    BUSY, SEASONAL, LIGHT_RETURNER, TIGHT,
) = range(len(BEHAVIOURS))  # fmt: skip
# Share of customers per behaviour; good_payer takes the rest (51%). The problem behaviours are
# about as common as in a real portfolio (11% together): a demo where a quarter of customers
# misbehave would make any honest warning queue look unworkable.
BEHAVIOUR_SHARES = {
    "slow_payer": 0.15,
    "deteriorating": 0.03,
    "return_abuser": 0.02,
    "reseller": 0.02,
    "churner": 0.04,
    "new_customer": 0.07,
    "busy_b2b": 0.03,
    "seasonal": 0.04,
    "light_returner": 0.04,
    "tight_limit": 0.04,
}
# Decoys: ordinary customers that look like a problem behaviour (the value) on the surface. A fair
# early-warning detector tells them apart by evidence and does not flag them.
DECOY_OF = {
    "slow_payer": "deteriorating",
    "busy_b2b": "reseller",
    "new_customer": "reseller",
    "seasonal": "churner",
    "light_returner": "return_abuser",
    "tight_limit": "deteriorating",
}
COMPLAINT_WAVE = "complaint_wave"

SEGMENTS = ("b2b_enterprise", "b2b_sme", "consumer")
INDUSTRIES = ("manufacturing", "retail", "wholesale", "construction", "services", "technology")
CATEGORIES = ("electronics", "appliances", "furniture", "apparel", "food", "office")
CHANNELS = ("online", "sales_rep", "marketplace", "phone", "store")
PAYMENT_METHODS = ("credit", "cash_on_delivery", "prepaid", "card")
RETURN_REASONS = (
    "defective",
    "not_as_described",
    "changed_mind",
    "damaged_in_transit",
    "wrong_item",
    "late_delivery",
    "no_reason",
    "item_not_received",
    "empty_package",
)
# Reasons a shop can verify (the goods come back with the fault, or the carrier confirms it).
LEGITIMATE_RETURN_REASONS = ("defective", "damaged_in_transit", "wrong_item", "late_delivery")
_UNRECEIVED = ("item_not_received", "empty_package")  # a refund with no goods coming back
_ORDINARY_RETURN_MIX = {
    "defective": 0.25, "not_as_described": 0.15, "changed_mind": 0.14,
    "damaged_in_transit": 0.15, "wrong_item": 0.1, "late_delivery": 0.1, "no_reason": 0.08,
    "item_not_received": 0.025, "empty_package": 0.005,
}  # fmt: skip
_ABUSER_RETURN_MIX = {
    "defective": 0.05, "not_as_described": 0.1, "changed_mind": 0.22,
    "damaged_in_transit": 0.03, "late_delivery": 0.05, "no_reason": 0.3,
    "item_not_received": 0.15, "empty_package": 0.1,
}  # fmt: skip
_LEGITIMATE_RETURN_MIX = {
    "defective": 0.4,
    "damaged_in_transit": 0.25,
    "wrong_item": 0.2,
    "late_delivery": 0.15,
}
COMPLAINT_CATEGORIES = ("product_quality", "delivery", "billing", "service", "other")
SEVERITIES = ("low", "medium", "high", "critical")
INTERACTION_CHANNELS = ("phone", "email", "visit", "chat", "wechat", "meeting")
INTERACTION_KINDS = ("sales_call", "support", "collection", "account_review", "marketing")
CONTRACT_STATUSES = ("pending", "in_progress", "fulfilled", "breached", "terminated")

_CATEGORY_PREFIX = ("ELEC", "APPL", "FURN", "APRL", "FOOD", "OFFC")
_PRODUCTS_PER_CATEGORY = 10
_PRICE_RANGE_CNY = ((300, 9000), (400, 7000), (200, 6000), (60, 900), (15, 300), (10, 600))
_QTY_FACTOR = np.array([1.0, 1.0, 0.6, 2.0, 4.0, 3.0])
_CATEGORY_SHARE = np.array([0.22, 0.18, 0.12, 0.18, 0.14, 0.16])
# Preferred first category by industry (companies); consumers use _CATEGORY_SHARE.
_INDUSTRY_CATEGORY = np.array(
    [
        [0.35, 0.15, 0.05, 0.05, 0.05, 0.35],  # manufacturing
        [0.2, 0.2, 0.15, 0.2, 0.2, 0.05],  # retail
        [0.2, 0.2, 0.15, 0.15, 0.2, 0.1],  # wholesale
        [0.1, 0.25, 0.35, 0.05, 0.05, 0.2],  # construction
        [0.15, 0.1, 0.2, 0.05, 0.2, 0.3],  # services
        [0.55, 0.05, 0.05, 0.0, 0.05, 0.3],  # technology
    ]
)

_MONTH_FACTOR = (1.0, 0.9, 0.95, 1.0, 1.0, 1.1, 0.95, 0.95, 1.0, 0.95, 1.3, 1.25)
_CHINESE_NEW_YEAR = {
    2016: (2, 8), 2017: (1, 28), 2018: (2, 16), 2019: (2, 5), 2020: (1, 25),
    2021: (2, 12), 2022: (2, 1), 2023: (1, 22), 2024: (2, 10), 2025: (1, 29),
    2026: (2, 17), 2027: (2, 6), 2028: (1, 26), 2029: (2, 13), 2030: (2, 3),
    2031: (1, 23), 2032: (2, 11), 2033: (1, 31), 2034: (2, 19), 2035: (2, 8),
}  # fmt: skip

_City = tuple[str, str, str, tuple[str, ...]]  # short name, address prefix, area code, districts
_CITIES: dict[str, tuple[_City, ...]] = {
    "east": (
        ("上海", "上海市", "310104", ("徐汇区", "浦东新区", "闵行区", "静安区")),
        ("杭州", "浙江省杭州市", "330106", ("西湖区", "滨江区", "拱墅区", "余杭区")),
        ("南京", "江苏省南京市", "320102", ("玄武区", "鼓楼区", "江宁区")),
        ("苏州", "江苏省苏州市", "320505", ("虎丘区", "吴中区", "相城区")),
        ("宁波", "浙江省宁波市", "330203", ("海曙区", "鄞州区", "北仑区")),
        ("合肥", "安徽省合肥市", "340102", ("瑶海区", "蜀山区", "包河区")),
        ("福州", "福建省福州市", "350102", ("鼓楼区", "台江区", "仓山区")),
        ("济南", "山东省济南市", "370102", ("历下区", "市中区", "槐荫区")),
        ("青岛", "山东省青岛市", "370202", ("市南区", "市北区", "黄岛区")),
    ),
    "north": (
        ("北京", "北京市", "110105", ("朝阳区", "海淀区", "丰台区", "东城区")),
        ("天津", "天津市", "120101", ("和平区", "河西区", "南开区")),
        ("石家庄", "河北省石家庄市", "130102", ("长安区", "桥西区", "裕华区")),
        ("太原", "山西省太原市", "140105", ("小店区", "迎泽区", "杏花岭区")),
        ("呼和浩特", "内蒙古自治区呼和浩特市", "150102", ("新城区", "回民区", "赛罕区")),
    ),
    "south": (
        ("广州", "广东省广州市", "440106", ("天河区", "越秀区", "海珠区", "白云区")),
        ("深圳", "广东省深圳市", "440303", ("罗湖区", "福田区", "南山区", "宝安区")),
        ("东莞", "广东省东莞市", "441900", ("南城街道", "东城街道", "长安镇")),
        ("佛山", "广东省佛山市", "440604", ("禅城区", "南海区", "顺德区")),
        ("厦门", "福建省厦门市", "350203", ("思明区", "湖里区", "集美区")),
        ("南宁", "广西壮族自治区南宁市", "450102", ("兴宁区", "青秀区", "江南区")),
        ("海口", "海南省海口市", "460105", ("秀英区", "龙华区", "美兰区")),
    ),
    "west": (
        ("成都", "四川省成都市", "510104", ("锦江区", "青羊区", "武侯区")),
        ("重庆", "重庆市", "500103", ("渝中区", "江北区", "南岸区", "渝北区")),
        ("西安", "陕西省西安市", "610103", ("碑林区", "雁塔区", "未央区")),
        ("昆明", "云南省昆明市", "530102", ("五华区", "盘龙区", "官渡区")),
        ("贵阳", "贵州省贵阳市", "520102", ("南明区", "云岩区", "观山湖区")),
        ("兰州", "甘肃省兰州市", "620102", ("城关区", "七里河区", "安宁区")),
    ),
    "central": (
        ("武汉", "湖北省武汉市", "420102", ("江岸区", "江汉区", "武昌区", "洪山区")),
        ("长沙", "湖南省长沙市", "430102", ("芙蓉区", "天心区", "岳麓区")),
        ("郑州", "河南省郑州市", "410102", ("中原区", "二七区", "金水区")),
        ("南昌", "江西省南昌市", "360102", ("东湖区", "西湖区", "青山湖区")),
    ),
    "northeast": (
        ("沈阳", "辽宁省沈阳市", "210102", ("和平区", "沈河区", "皇姑区")),
        ("大连", "辽宁省大连市", "210202", ("中山区", "西岗区", "沙河口区")),
        ("长春", "吉林省长春市", "220102", ("南关区", "朝阳区", "绿园区")),
        ("哈尔滨", "黑龙江省哈尔滨市", "230102", ("道里区", "南岗区", "香坊区")),
    ),
}
_REGION_ALIASES = {
    "east": "east", "华东": "east", "north": "north", "华北": "north", "south": "south",
    "华南": "south", "west": "west", "southwest": "west", "northwest": "west", "西南": "west",
    "西北": "west", "西部": "west", "central": "central", "华中": "central",
    "northeast": "northeast", "东北": "northeast",
}  # fmt: skip
_ALL_CITIES = tuple(city for cities in _CITIES.values() for city in cities)

_BRANDS = (
    "恒远", "华信", "永泰", "鑫达", "宏图", "博雅", "金桥", "瑞丰", "天成", "正和", "嘉禾", "盛世",
    "锦华", "中联", "东升", "汇通", "卓越", "远航", "同创", "宇辰", "明德", "泰和", "鼎盛", "华宇",
    "信达", "润泽", "启航", "海纳", "凯瑞", "通达", "德隆", "安盛", "百川", "万象", "聚源", "兴业",
    "佳诚", "昌盛", "利民", "新元", "国泰", "丰源", "立信", "伟业", "长城", "友邦", "志诚", "福润",
)  # fmt: skip
_BRAND_EXTRA = "达源丰盛泰鑫华隆辉通昌宏祥瑞德兴和安康"
_INDUSTRY_WORDS = (
    ("机械制造", "电子", "精密制造", "五金制品", "塑胶制品"),
    ("商贸", "百货", "连锁超市", "零售"),
    ("贸易", "供应链管理", "批发", "进出口"),
    ("建设工程", "建筑工程", "装饰工程", "建材"),
    ("商务服务", "物业管理", "物流", "咨询服务"),
    ("科技", "信息技术", "网络科技", "软件"),
)
_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程"
    "苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛段雷侯龙史陶黎贺顾毛郝龚邵"
)
_GIVEN = (
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红燕"
    "文辉建国志鹏宇浩然涵欣怡轩雨婷晨阳佳琪博远嘉俊"
)
_ROADS = (
    "人民路", "解放路", "中山路", "建设路", "长江路", "文化路", "和平路", "新华路", "青年路",
    "工业园路", "科技路", "滨江路", "学院路", "东风路", "延安路",
)  # fmt: skip
_PHONE_PREFIXES = (
    "130", "131", "132", "133", "134", "135", "136", "137", "138", "139", "150", "151", "152",
    "153", "155", "156", "157", "158", "159", "166", "173", "176", "177", "180", "181", "182",
    "183", "184", "185", "186", "187", "188", "189", "191", "198", "199",
)  # fmt: skip
_COMMENTS = (
    ("质量有问题，很失望", "发货太慢了", "客服态度差", "退货流程太麻烦", "账单有误，沟通困难"),
    ("整体还可以", "价格略高", "希望改进售后", "发货速度一般", "包装可以更好"),
    ("服务很好，发货及时", "产品质量不错", "非常满意，会继续合作", "客服响应快", "物流很快"),
)


_DAY_SECONDS = 86_400
_BUSINESS_SECONDS = 14 * 3600  # 08:00-22:00 Beijing time is 00:00-14:00 UTC


@dataclass(frozen=True)
class DemoData:
    """Everything the demo loads, as plain records."""

    groups: list[dict[str, Any]]
    customers: list[dict[str, Any]]
    orders: list[dict[str, Any]]
    invoices: list[dict[str, Any]]
    payments: list[dict[str, Any]]
    returns: list[dict[str, Any]]
    complaints: list[dict[str, Any]]
    surveys: list[dict[str, Any]]
    interactions: list[dict[str, Any]]
    contracts: list[dict[str, Any]]
    statements: list[dict[str, Any]]
    credit_reports: list[dict[str, Any]]
    behaviours: list[dict[str, Any]]


def generate(
    *, customers: int, months: int, seed: int, end_date: dt.date, owners: dict[str, list[str]]
) -> DemoData:
    """Generate ``customers`` customers with ``months`` months of history up to ``end_date``."""
    if customers < 1:
        raise ValueError("customers must be at least 1")
    if months < 1:
        raise ValueError("months must be at least 1")
    if not owners or any(not users for users in owners.values()):
        raise ValueError("owners needs at least one region, each with at least one user")
    return _Builder(customers, months, seed, end_date, owners).build()


# --- identifiers -------------------------------------------------------------------------------


def uscc(area: str, body: str) -> str:
    """A unified social credit code for an enterprise in ``area`` with an 8-char org-code body."""
    base = "91" + area + body + identifiers.org_code_check_char(body)
    return base + identifiers.uscc_check_char(base)


def resident_id(area: str, birth: dt.date, sequence: int) -> str:
    """An 18-char resident identity number with its ISO 7064 MOD 11-2 check char."""
    body = f"{area}{birth:%Y%m%d}{sequence:03d}"
    return body + identifiers.resident_id_check_char(body)


def _luhn(digits: str) -> str:
    """Append a Luhn check digit."""
    total = 0
    for i, c in enumerate(reversed(digits)):
        d = int(c) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return digits + str((10 - total % 10) % 10)


# --- small helpers -----------------------------------------------------------------------------


_CENT = Decimal("0.01")


def _money(cents: int) -> Decimal:
    """Integer cents as a two-place Decimal."""
    return Decimal(cents) * _CENT  # exponents add: always two places, faster than scaleb


def _add_months(day: dt.date, months: int) -> dt.date:
    """Shift a date by whole months, clamping the day of month."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    next_first = dt.date(year + month // 12, month % 12 + 1, 1)
    last_day = (next_first - dt.timedelta(days=1)).day
    return dt.date(year, month, min(day.day, last_day))


def _choose(u: FloatArray, table: FloatArray, rows: IntArray | None = None) -> IntArray:
    """Categorical draw per element: ``u`` uniform, ``table`` probability rows (picked by rows)."""
    probs = np.asarray(table, dtype=np.float64)
    if probs.ndim == 1:
        probs = probs[None, :]
    cum = np.cumsum(probs / probs.sum(axis=1, keepdims=True), axis=1)
    cum[:, -1] = 1.0
    picked = cum[np.zeros(len(u), dtype=np.int64) if rows is None else rows]
    chosen: IntArray = np.minimum((u[:, None] >= picked).sum(axis=1), probs.shape[1] - 1)
    return chosen.astype(np.int64)


def _pick(seq: Sequence[Any], u: float) -> Any:
    """Element of ``seq`` for a uniform draw ``u``."""
    return seq[min(int(u * len(seq)), len(seq) - 1)]


def _events(rng: np.random.Generator, rates: FloatArray) -> tuple[IntArray, IntArray]:
    """Poisson event counts per (customer, day) expanded to (customer, day) pairs."""
    counts = rng.poisson(rates)
    cust, day = np.nonzero(counts)
    reps = counts[cust, day]
    return np.repeat(cust, reps).astype(np.int64), np.repeat(day, reps).astype(np.int64)


def _rank_within(groups: IntArray) -> IntArray:
    """Each element's position within its run of equal values (``groups`` comes grouped)."""
    count = len(groups)
    starts = np.ones(count, dtype=np.bool_)
    starts[1:] = groups[1:] != groups[:-1]
    first = np.maximum.accumulate(np.where(starts, np.arange(count), 0))
    rank: IntArray = np.arange(count) - first
    return rank


def _region_cities(region: str) -> tuple[_City, ...]:
    """Cities for a region name (English or Chinese); all cities when unknown."""
    key = _REGION_ALIASES.get(region.strip().lower())
    return _CITIES[key] if key else _ALL_CITIES


def _chinese_new_year(year: int) -> dt.date:
    """Chinese New Year's day (a table; early February outside it)."""
    month, day = _CHINESE_NEW_YEAR.get(year, (2, 5))
    return dt.date(year, month, day)


def _ids(prefix: str, count: int, width: int) -> list[str]:
    """Sequential external ids."""
    width = max(width, len(str(count)))
    return [f"{prefix}{i:0{width}d}" for i in range(1, count + 1)]


# --- the builder -------------------------------------------------------------------------------


class _Builder:
    """Holds the random state and per-customer arrays while the records are built."""

    def __init__(
        self, n: int, months: int, seed: int, end_date: dt.date, owners: dict[str, list[str]]
    ) -> None:
        self.n = n
        self.rng = np.random.default_rng(seed)
        self.end_date = end_date
        self.start_date = _add_months(end_date, -months)
        self.days = (end_date - self.start_date).days + 1
        self.last = self.days - 1
        self.owners = owners
        self.dates = [self.start_date + dt.timedelta(days=i) for i in range(self.days)]
        start = dt.datetime.combine(self.start_date, dt.time(), tzinfo=dt.UTC)
        self.day_starts = [start + dt.timedelta(days=i) for i in range(self.days)]
        catalog = np.random.default_rng(20_240_601)  # the catalogue is the same for every seed
        low = np.log([lo for lo, _ in _PRICE_RANGE_CNY])
        high = np.log([hi for _, hi in _PRICE_RANGE_CNY])
        u = catalog.random((len(CATEGORIES), _PRODUCTS_PER_CATEGORY))
        prices = np.exp(low[:, None] + u * (high - low)[:, None])
        self.prices = (np.round(prices * 10) * 10).reshape(-1).astype(np.int64)  # cents
        self.products = [
            f"{prefix}-{k + 1:03d}" for prefix in _CATEGORY_PREFIX
            for k in range(_PRODUCTS_PER_CATEGORY)
        ]  # fmt: skip
        popularity = 1.0 / np.arange(1, _PRODUCTS_PER_CATEGORY + 1) ** 0.6
        self.popularity = popularity / popularity.sum()

    def ts(self, day: int, seconds: int) -> dt.datetime:
        """A UTC timestamp ``seconds`` into history day ``day``."""
        return self.day_starts[day] + dt.timedelta(seconds=seconds)

    def build(self) -> DemoData:
        """Generate every kind of record, in a fixed order."""
        self._customer_frame()
        self._activity()
        self._orders()
        self._invoices_and_payments()
        self._limits()
        returns = self._returns()
        complaints, wave = self._complaints()
        surveys = self._surveys()
        interactions = self._interactions()
        contracts = self._contracts()
        statements = self._statements()
        reports = self._credit_reports()
        groups, customers = self._customer_records()
        return DemoData(
            groups=groups,
            customers=customers,
            orders=self.order_records,
            invoices=self.invoice_records,
            payments=self.payment_records,
            returns=returns,
            complaints=complaints,
            surveys=surveys,
            interactions=interactions,
            contracts=contracts,
            statements=statements,
            credit_reports=reports,
            behaviours=self._behaviour_rows(wave),
        )

    # customers and their behaviours ----------------------------------------------------------

    def _customer_frame(self) -> None:
        """Draw segment, behaviour, region, terms, rates and onset days per customer."""
        rng, n, last = self.rng, self.n, self.last
        self.segment = _choose(rng.random(n), np.array([0.1, 0.3, 0.6]))
        shares = [BEHAVIOUR_SHARES.get(name, 0.0) for name in BEHAVIOURS]
        counts = [0 if k == GOOD else round(share * n) for k, share in enumerate(shares)]
        while sum(counts) > n:
            counts[counts.index(max(counts))] -= 1
        counts[GOOD] = n - sum(counts)
        self.behaviour = rng.permutation(np.repeat(np.arange(len(BEHAVIOURS)), counts))
        self.behaviour = self.behaviour.astype(np.int64)
        beh = self.behaviour
        # Busy B2B buyers and tight limits are companies; light returners are consumers.
        company_segment = np.where(rng.random(n) < 0.4, 0, 1)
        self.segment = np.where((beh == BUSY) | (beh == TIGHT), company_segment, self.segment)
        self.segment = np.where(beh == LIGHT_RETURNER, 2, self.segment).astype(np.int64)
        self.is_company = self.segment < 2

        regions = list(self.owners)
        self.region = rng.integers(0, len(regions), n)
        self.owner_u = rng.random(n)
        self.industry = _choose(rng.random(n), np.array([0.25, 0.2, 0.2, 0.1, 0.15, 0.1]))
        terms_company = np.where(
            self.segment == 0,
            np.array([30, 45, 60])[_choose(rng.random(n), np.array([0.3, 0.3, 0.4]))],
            np.array([30, 45, 60])[_choose(rng.random(n), np.array([0.5, 0.3, 0.2]))],
        )
        terms_consumer = np.where(rng.random(n) < 0.6, 0, 15)
        self.terms = np.where(self.is_company, terms_company, terms_consumer).astype(np.int64)

        per_month = np.where(
            self.segment == 0,
            rng.uniform(2.0, 6.0, n),
            np.where(self.segment == 1, rng.uniform(1.0, 3.0, n), 30.44 / rng.uniform(30, 90, n)),
        )
        per_month = np.where(beh == BUSY, rng.uniform(10.0, 20.0, n), per_month)
        # A seasonal consumer buys somewhat more often over a year, so that the season shows.
        seasonal_consumer = (beh == SEASONAL) & ~self.is_company
        per_month = np.where(seasonal_consumer, 30.44 / rng.uniform(20, 40, n), per_month)
        self.base_rate = per_month / 30.44
        rows = np.where(self.is_company, self.industry, len(INDUSTRIES))
        table = np.vstack([_INDUSTRY_CATEGORY, _CATEGORY_SHARE])
        self.pref1 = _choose(rng.random(n), table, rows)
        self.pref2 = (self.pref1 + rng.integers(1, len(CATEGORIES), n)) % len(CATEGORIES)
        self.bulk = np.where(rng.random(n) < 0.6, self.pref1, rng.integers(0, 6, n))

        # Onsets (day index, -1 for none), kept inside history for short runs.
        def window(lo: FloatArray | float, hi: FloatArray | float) -> IntArray:
            day = lo + rng.random(n) * (np.asarray(hi) - lo)
            return np.clip(np.round(day), 1, max(last - 1, 1)).astype(np.int64)

        det_onset = window(last - 270.0, last - 210.0)
        credit_terms = np.maximum(self.terms, 1)
        det_stop = np.minimum(det_onset + rng.integers(30, 61, n), last - 105 - credit_terms)
        det_stop = np.maximum(det_stop, det_onset + 1)
        onset = np.full(n, -1, dtype=np.int64)
        onset = np.where(beh == DETERIORATING, det_onset, onset)
        onset = np.where(beh == RETURN_ABUSER, window(0.2 * last, 0.6 * last), onset)
        onset = np.where(beh == RESELLER, window(0.35 * last, 0.7 * last), onset)
        onset = np.where(beh == CHURNER, window(max(last - 365.0, 0.2 * last), last - 120.0), onset)
        joined = np.clip(last - rng.integers(20, 181, n), 0, last)
        onset = np.where(beh == NEW, joined, onset)
        self.onset = onset.astype(np.int64)
        self.stop = np.where(beh == DETERIORATING, det_stop, last + 10_000).astype(np.int64)
        self.join = np.where(beh == NEW, joined, 0).astype(np.int64)
        self.churn_tau = rng.uniform(30, 90, n)
        self.resell_factor = rng.uniform(3.0, 6.0, n)
        self.names_u = rng.random((n, 24))

        # Decoys and realism, drawn for everyone (cheap) and used by the behaviour they belong to.
        self.slow_mean = rng.uniform(14.0, 34.0, n)  # a slow payer's own usual days late
        self.abuse_rate = rng.uniform(0.3, 0.5, n)  # share of orders an abuser returns
        self.ramp = rng.uniform(60.0, 90.0, n)  # days a new customer takes to reach its pace
        self.season_start = rng.integers(0, 12, n)  # 0 is January
        self.season_len = rng.integers(2, 5, n)  # months
        # A tight-limit customer's standing order: the same basket each week, at a contract price.
        third = (self.pref2 + 1) % len(CATEGORIES)
        third = np.where(third == self.pref1, (third + 1) % len(CATEGORIES), third)
        basket_category = np.stack([self.pref1, self.pref2, third], axis=1)
        self.basket_size = rng.integers(1, 4, n)
        self.basket_product = basket_category * _PRODUCTS_PER_CATEGORY + rng.choice(
            _PRODUCTS_PER_CATEGORY, (n, 3), p=self.popularity
        )
        basket_qty = rng.lognormal(math.log(8), 0.6, (n, 3)) * _QTY_FACTOR[basket_category]
        self.basket_qty = np.maximum(np.rint(basket_qty), 1)
        self.basket_discount = rng.uniform(0.85, 0.95, n)
        # Its order (and payment-run) day, Tuesday to Thursday: a day's slip stays in the week.
        self.order_weekday = rng.integers(1, 4, n)
        self.limit_slack = rng.uniform(0.85, 0.93, n)  # usual open exposure / limit

    def _activity(self) -> None:
        """Order intensity per customer and day: base rate, season, weekday, behaviour."""
        rng, last = self.rng, self.last
        month = np.array([d.month for d in self.dates])
        weekday = np.array([d.weekday() for d in self.dates])
        season = np.array([_MONTH_FACTOR[m - 1] for m in month])
        for year in range(self.start_date.year, self.end_date.year + 2):
            cny = (_chinese_new_year(year) - self.start_date).days
            offset = np.arange(self.days) - cny
            season = season * np.where((offset >= -21) & (offset < 0), 1.35, 1.0)
            season = season * np.where((offset >= 0) & (offset < 12), 0.45, 1.0)
        week_company = np.where(weekday < 5, 1.2, np.where(weekday == 5, 0.4, 0.2))
        week_consumer = np.where(weekday < 5, 0.9, 1.25)
        week_company /= week_company.mean()
        week_consumer /= week_consumer.mean()
        days = np.arange(self.days)[None, :]
        onset = self.onset[:, None]
        beh = self.behaviour[:, None]
        after = (self.onset[:, None] >= 0) & (days >= onset)
        activity = np.ones((self.n, self.days))
        activity = np.where(days < self.join[:, None], 0.0, activity)
        decay = np.exp(-np.maximum(days - onset, 0) / self.churn_tau[:, None])
        activity = np.where((beh == CHURNER) & after, decay, activity)
        activity = np.where((beh == RESELLER) & after, self.resell_factor[:, None], activity)
        activity = np.where((beh == DETERIORATING) & (days >= self.stop[:, None]), 0.6, activity)
        # Seasonal buyers: 97% of a year's orders in the same 2-4 months every year.
        seasonal = np.flatnonzero(self.behaviour == SEASONAL)
        length = self.season_len[seasonal, None]
        in_season = (month[None, :] - 1 - self.season_start[seasonal, None]) % 12 < length
        activity[seasonal] = np.where(in_season, 0.97 * 12 / length, 0.03 * 12 / (12 - length))
        # New customers start slowly and reach their pace over 60-90 days.
        new = np.flatnonzero(self.behaviour == NEW)
        since = days - self.join[new, None]
        pace = 0.15 + 0.85 * np.minimum(since / self.ramp[new, None], 1.0)
        activity[new] = np.where(since < 0, 0.0, pace)
        self.activity = activity
        self.after = after
        week = np.where(self.is_company[:, None], week_company[None, :], week_consumer[None, :])
        rates = self.base_rate[:, None] * activity * season[None, :] * week
        counts = rng.poisson(rates)
        # A new customer's account opens with its first order.
        counts[new, self.join[new]] = np.maximum(counts[new, self.join[new]], 1)
        # Tight-limit customers order once a week on their day, give or take a day.
        tight = np.flatnonzero(self.behaviour == TIGHT)
        phase = (self.order_weekday[tight] - self.start_date.weekday()) % 7
        weeks = np.arange(self.days // 7 + 1)
        slip = _choose(rng.random(len(tight) * len(weeks)), np.array([0.1, 0.8, 0.1])) - 1
        when = phase[:, None] + 7 * weeks[None, :] + slip.reshape(len(tight), len(weeks))
        inside = (when >= 0) & (when <= last)
        counts[tight] = 0
        np.add.at(counts, (np.broadcast_to(tight[:, None], when.shape)[inside], when[inside]), 1)
        # A deteriorating customer orders at least once after it stops paying, early enough to
        # be 90+ days past due at the end.
        for c in np.flatnonzero(self.behaviour == DETERIORATING):
            lo, hi = int(self.stop[c]), last - 91 - max(int(self.terms[c]), 1)
            if lo <= hi and counts[c, lo : hi + 1].sum() == 0:
                counts[c, lo + int(rng.integers(0, hi - lo + 1))] += 1
        cust, day = np.nonzero(counts)
        reps = counts[cust, day]
        cust = np.repeat(cust, reps).astype(np.int64)
        day = np.repeat(day, reps).astype(np.int64)
        seconds = rng.integers(0, _BUSINESS_SECONDS, len(day))
        order = np.lexsort((seconds, day))
        self.o_cust, self.o_day, self.o_sec = cust[order], day[order], seconds[order]

    # orders, invoices, payments ---------------------------------------------------------------

    def _orders(self) -> None:
        """Order lines, amounts, channels and payment methods; the order records."""
        rng = self.rng
        oc, od = self.o_cust, self.o_day
        count = len(oc)
        company = self.is_company[oc]
        beh = self.behaviour[oc]
        post = self.after[oc, od]
        self.o_post = post
        reselling = (beh == RESELLER) & post

        template = np.where(company, 0, 2)
        template = template + ((beh == SLOW) | (beh == DETERIORATING))
        template = np.where(reselling, np.where(company, 4, 5), template)
        template = np.where(((beh == DETERIORATING) & post) | (beh == TIGHT), 6, template)
        methods = np.array(
            [
                [0.8, 0.1, 0.1, 0.0],
                [0.92, 0.05, 0.03, 0.0],
                [0.2, 0.2, 0.15, 0.45],
                [0.6, 0.1, 0.05, 0.25],
                [0.35, 0.6, 0.05, 0.0],
                [0.3, 0.6, 0.0, 0.1],
                [1.0, 0.0, 0.0, 0.0],
            ]
        )
        self.o_method = _choose(rng.random(count), methods, template)
        channels = np.array([[0.25, 0.45, 0.1, 0.2, 0.0], [0.45, 0.0, 0.3, 0.1, 0.15]])
        o_channel = _choose(rng.random(count), channels, np.where(company, 0, 1))

        u = rng.random(count)
        lines = np.where(
            company,
            1 + np.minimum(rng.poisson(1.3, count), 5),
            1 + (u < 0.25) + (u < 0.07),
        )
        lines = np.where(reselling, 1 + (u < 0.3), lines)
        standing = beh == TIGHT
        lines = np.where(standing, self.basket_size[oc], lines)
        l_order = np.repeat(np.arange(count), lines)
        n_lines = len(l_order)
        starts_arr = np.concatenate([[0], np.cumsum(lines)])
        l_position = np.arange(n_lines) - starts_arr[l_order]
        lc = oc[l_order]
        l_company = company[l_order]
        l_resell = reselling[l_order]
        l_standing = standing[l_order]
        u = rng.random(n_lines)
        category = np.where(
            u < 0.5,
            self.pref1[lc],
            np.where(u < 0.75, self.pref2[lc], rng.integers(0, len(CATEGORIES), n_lines)),
        )
        category = np.where(l_resell & (rng.random(n_lines) < 0.85), self.bulk[lc], category)
        product = category * _PRODUCTS_PER_CATEGORY + rng.choice(
            _PRODUCTS_PER_CATEGORY, n_lines, p=self.popularity
        )
        basket_slot = np.minimum(l_position, 2)
        product = np.where(l_standing, self.basket_product[lc, basket_slot], product)
        category = np.where(l_standing, product // _PRODUCTS_PER_CATEGORY, category)
        u = rng.random(n_lines)
        qty = np.where(
            l_company,
            np.rint(rng.lognormal(math.log(8), 0.8, n_lines) * _QTY_FACTOR[category]),
            1 + (u < 0.3) + (u < 0.1),
        )
        bulk_qty = np.where(
            l_company,
            rng.lognormal(math.log(60), 0.4, n_lines),
            rng.lognormal(math.log(15), 0.4, n_lines),
        )
        qty = np.where(l_resell, np.rint(bulk_qty * _QTY_FACTOR[category]), qty)
        standing_qty = np.rint(self.basket_qty[lc, basket_slot] * rng.uniform(0.9, 1.1, n_lines))
        qty = np.where(l_standing, standing_qty, qty)
        qty = np.maximum(qty, 1).astype(np.int64)
        discount = np.where(
            l_company, rng.uniform(0.82, 0.97, n_lines), rng.uniform(0.9, 1.0, n_lines)
        )
        discount = np.where(l_resell, rng.uniform(0.72, 0.85, n_lines), discount)
        discount = np.where(l_standing, self.basket_discount[lc], discount)
        cents = np.maximum(np.rint(qty * self.prices[product] * discount), 100).astype(np.int64)
        amount = np.zeros(count, dtype=np.int64)
        np.add.at(amount, l_order, cents)
        self.o_amount = amount
        self.l_order, self.l_product = l_order, product

        self.order_ids = _ids("O", count, 7)
        cust_ids = self.customer_ids = _ids("C", self.n, 6)
        starts = starts_arr.tolist()
        products = self.products
        # One flat pass over the lines, then a slice per order (faster than a loop per order).
        all_lines = [
            {"category": CATEGORIES[k], "product": products[p], "quantity": q, "amount": _money(a)}
            for k, p, q, a in zip(
                category.tolist(), product.tolist(), qty.tolist(), cents.tolist(), strict=True
            )
        ]
        records = [
            {
                "source": SOURCE,
                "external_id": self.order_ids[i],
                "customer_external_id": cust_ids[c],
                "ordered_at": self.ts(d, s),
                "amount": _money(a),
                "currency": CURRENCY,
                "channel": CHANNELS[ch],
                "payment_method": PAYMENT_METHODS[m],
                "lines": all_lines[starts[i] : starts[i + 1]],
            }
            for i, (c, d, s, a, ch, m) in enumerate(
                zip(
                    oc.tolist(), od.tolist(), self.o_sec.tolist(), amount.tolist(),
                    o_channel.tolist(), self.o_method.tolist(), strict=True,
                )
            )
        ]  # fmt: skip
        self.order_records = records

    def _invoices_and_payments(self) -> None:
        """One invoice per order; payments by behaviour (late, partial, or never)."""
        rng, last = self.rng, self.last
        oc, issue, amount, method = self.o_cust, self.o_day, self.o_amount, self.o_method
        count = len(oc)
        beh = self.behaviour[oc]
        company = self.is_company[oc]
        terms = np.where(
            method == 0, np.maximum(self.terms[oc], 1), np.where(method == 1, 7, 1)
        ).astype(np.int64)
        due = issue + terms
        self.i_due = due
        immediate = method >= 2
        span = due - issue

        def draw(lo: int, hi: int) -> IntArray:
            return rng.integers(lo, hi + 1, count)

        early = np.floor(rng.random(count) * 0.5 * span).astype(np.int64)
        good = np.where(rng.random(count) < 0.08, due + draw(1, 5), due - early)
        # A slow payer is late by its own usual margin from the first invoice on, with no trend.
        late_by = np.rint(self.slow_mean[oc] + rng.normal(0.0, 4.0, count))
        slow = due + np.clip(late_by, 10, 40).astype(np.int64)
        # A tight-limit customer pays in a weekly payment run on its order day: the last run
        # on or before the due date, so a paid invoice frees the limit for that day's order.
        run_weekday = self.order_weekday[oc]
        on_due = due - (self.start_date.weekday() + due - run_weekday) % 7
        mild = np.where(
            rng.random(count) < 0.2,
            due + draw(1, 12),
            due - np.floor(rng.random(count) * 0.3 * span).astype(np.int64),
        )
        onset, stop = self.onset[oc], self.stop[oc]
        det_late = due + 3 + np.floor(0.6 * np.maximum(due - onset, 0)) + draw(0, 10)
        det = np.where(due < onset, good, det_late.astype(np.int64))
        ordinary = np.isin(beh, (GOOD, BUSY, SEASONAL, LIGHT_RETURNER))
        pay = np.select(
            [ordinary, beh == SLOW, beh == DETERIORATING, beh == TIGHT],
            [good, slow, det, on_due],
            default=mild,
        )
        pay = np.where(immediate, issue, np.maximum(pay, issue))
        defaulted = (beh == DETERIORATING) & (due >= onset) & (pay >= stop) & ~immediate

        # Partial payments: a part first, the rest on the planned day.
        split = ~immediate & ~defaulted & (rng.random(count) < 0.07) & (amount >= 2)
        split &= beh != TIGHT  # the payment run settles whole invoices
        first = np.clip(np.floor(amount * rng.uniform(0.3, 0.7, count)), 1, amount - 1)
        first_day = issue + np.floor((pay - issue) * rng.uniform(0.2, 0.8, count))
        # Some defaulted invoices get a token part-payment before the customer stops paying.
        token = defaulted & (stop > issue) & (rng.random(count) < 0.3) & (amount >= 2)
        token_amount = np.clip(np.floor(amount * rng.uniform(0.1, 0.5, count)), 1, amount - 1)
        token_day = issue + np.floor((np.minimum(stop, last + 1) - issue) * rng.random(count))

        full = ~defaulted & ~split
        parts = [
            (np.flatnonzero(full), pay[full], amount[full], 0),
            (np.flatnonzero(split), first_day[split], first[split], 0),
            (np.flatnonzero(split), pay[split], amount[split] - first[split], 1),
            (np.flatnonzero(token), token_day[token], token_amount[token], 0),
        ]
        p_inv = np.concatenate([p[0] for p in parts]).astype(np.int64)
        p_day = np.concatenate([p[1] for p in parts]).astype(np.int64)
        p_amt = np.concatenate([p[2] for p in parts]).astype(np.int64)
        p_seq = np.concatenate([np.full(len(p[0]), p[3]) for p in parts]).astype(np.int64)
        keep = p_day <= last
        p_inv, p_day, p_amt, p_seq = p_inv[keep], p_day[keep], p_amt[keep], p_seq[keep]
        order = np.lexsort((p_seq, p_inv, p_day))
        p_inv, p_day, p_amt = p_inv[order], p_day[order], p_amt[order]
        self.p_inv, self.p_day, self.p_amt = p_inv, p_day, p_amt

        u = rng.random(count)
        pay_method = np.select(
            [
                method == 3,
                method == 2,
                (method == 1) & ~company,
                method == 1,
                company,
            ],
            [
                np.full(count, 2),
                np.full(count, 0),
                np.where(u < 0.7, 1, 2),
                np.where(u < 0.5, 1, 0),
                np.where(u < 0.93, 0, 3),
            ],
            default=np.where(u < 0.6, 0, 2),
        )
        pay_methods = ("bank_transfer", "cash", "card", "cheque")
        paid = np.zeros(count, dtype=np.int64)
        np.add.at(paid, p_inv, p_amt)
        self.i_paid = paid
        # Day the invoice was (or will be) settled, for collection calls: beyond history if not.
        self.i_settled = np.where(defaulted, last + 10_000, pay)
        self.i_immediate = immediate

        self.invoice_ids = _ids("I", count, 7)
        cust_ids, inv_ids, order_ids = self.customer_ids, self.invoice_ids, self.order_ids
        dates = self.dates
        # Due dates may lie beyond the last day of history.
        beyond = max(int(due.max()) - last, 0) if count else 0
        due_dates = dates + [self.end_date + dt.timedelta(days=k) for k in range(1, beyond + 1)]
        self.invoice_records = [
            {
                "source": SOURCE,
                "external_id": inv_ids[i],
                "customer_external_id": cust_ids[c],
                "order_external_id": order_ids[i],
                "amount": _money(a),
                "currency": CURRENCY,
                "issue_date": dates[d],
                "due_date": due_dates[e],
            }
            for i, (c, d, e, a) in enumerate(
                zip(oc.tolist(), issue.tolist(), due.tolist(), amount.tolist(), strict=True)
            )
        ]
        payment_ids = _ids("P", len(p_inv), 7)
        method_l, oc_l = pay_method.tolist(), oc.tolist()
        payments = [
            {
                "source": SOURCE,
                "external_id": payment_ids[k],
                "customer_external_id": cust_ids[oc_l[i]],
                "invoice_external_id": inv_ids[i],
                "amount": _money(a),
                "currency": CURRENCY,
                "paid_on": dates[d],
                "method": pay_methods[method_l[i]],
                "overpayment": False,
            }
            for k, (i, d, a) in enumerate(
                zip(p_inv.tolist(), p_day.tolist(), p_amt.tolist(), strict=True)
            )
        ]
        self.payment_records = payments

    def _limits(self) -> None:
        """Credit limits from purchase volume: ~2 months for companies, small for consumers;
        a tight-limit customer's limit sits just above its usual open exposure."""
        n, last = self.n, self.last
        normal = ~((self.behaviour[self.o_cust] == RESELLER) & self.o_post)
        volume = np.bincount(self.o_cust[normal], weights=self.o_amount[normal], minlength=n)
        orders = np.bincount(self.o_cust[normal], minlength=n)
        end = np.where(self.behaviour == RESELLER, self.onset, last + 1)
        active_months = np.maximum(end - self.join, 30) / 30.44
        self.monthly = volume / active_months  # cents per month
        company_limit = np.maximum(np.round(2 * self.monthly / 100_000), 10) * 100_000
        average = np.where(orders > 0, volume / np.maximum(orders, 1), 200_000)
        consumer_limit = np.clip(np.round(1.5 * average / 50_000) * 50_000, 100_000, 2_000_000)
        limit = np.where(self.is_company, company_limit, consumer_limit)

        # Open exposure per day (invoiced less paid) of the tight-limit customers; their limit is
        # its median over the last 180 days divided by 0.85-0.93, to three significant digits.
        tight = np.flatnonzero(self.behaviour == TIGHT)
        row = np.full(n, -1, dtype=np.int64)
        row[tight] = np.arange(len(tight))
        flows = np.zeros((len(tight), self.days))
        issued = np.flatnonzero(row[self.o_cust] >= 0)
        np.add.at(flows, (row[self.o_cust[issued]], self.o_day[issued]), self.o_amount[issued])
        paid = np.flatnonzero(row[self.o_cust[self.p_inv]] >= 0)
        payer = row[self.o_cust[self.p_inv[paid]]]
        np.add.at(flows, (payer, self.p_day[paid]), -self.p_amt[paid].astype(np.float64))
        exposure = np.cumsum(flows, axis=1)[:, max(last - 179, 0) :]
        usual = np.median(exposure, axis=1) if len(tight) else np.zeros(0)
        tight_limit = np.maximum(usual / self.limit_slack[tight], 10_000)
        step = 10.0 ** np.maximum(np.floor(np.log10(tight_limit)) - 2, 4)  # at least 100 CNY
        limit[tight] = np.round(tight_limit / step) * step
        self.limit = limit.astype(np.int64)

    # other events -----------------------------------------------------------------------------

    def _returns(self) -> list[dict[str, Any]]:
        """At most one return per order. Abusers return 30-50% after onset, mostly full value,
        with reasons nobody can check; light returners a few, with reasons that can be."""
        rng, last = self.rng, self.last
        oc, od, amount = self.o_cust, self.o_day, self.o_amount
        count = len(oc)
        company = self.is_company[oc]
        abusing = (self.behaviour[oc] == RETURN_ABUSER) & self.o_post
        light = self.behaviour[oc] == LIGHT_RETURNER
        rate = np.where(company, 0.02, 0.06)
        rate = np.where(light, 0.1, rate)
        has = rng.random(count) < rate
        # An abuser returns its share of orders as a habit, spread over the orders since onset
        # (every second or third), not by coin toss: no abuser goes without returns by chance.
        mine = np.flatnonzero(abusing)
        mine = mine[np.argsort(oc[mine], kind="stable")]  # by customer, then day
        rank = _rank_within(oc[mine])
        share, phase = self.abuse_rate[oc[mine]], rng.random(self.n)[oc[mine]]
        has[mine] = np.floor((rank + 1) * share + phase) > np.floor(rank * share + phase)
        ret_day = od + rng.integers(2, 31, count)
        # Each light returner also returns two orders bought within 90 days of each other, the
        # first late and the second soon, so both returns fall in one 90-day window: one pair,
        # somewhere in its history.
        mine = np.flatnonzero(light)
        mine = mine[np.argsort(oc[mine], kind="stable")]  # by customer, then day
        gap = od[mine[1:]] - od[mine[:-1]]
        pairs = np.flatnonzero((oc[mine[1:]] == oc[mine[:-1]]) & (gap <= 90))
        pick = np.lexsort((rng.random(len(pairs)), oc[mine[pairs]]))
        _, first = np.unique(oc[mine[pairs[pick]]], return_index=True)
        earlier, later = mine[pairs[pick[first]]], mine[pairs[pick[first]] + 1]
        has[earlier] = has[later] = True
        ret_day[earlier] = od[earlier] + rng.integers(15, 31, len(earlier))
        ret_day[later] = od[later] + rng.integers(2, 11, len(later))
        mixes = (_ORDINARY_RETURN_MIX, _ABUSER_RETURN_MIX, _LEGITIMATE_RETURN_MIX)
        reasons = np.array([[mix.get(r, 0.0) for r in RETURN_REASONS] for mix in mixes])
        template = np.where(abusing, 1, np.where(light, 2, 0))
        reason = _choose(rng.random(count), reasons, template)
        unreceived = np.isin(reason, [RETURN_REASONS.index(r) for r in _UNRECEIVED])
        full = (rng.random(count) < np.where(abusing, 0.7, 0.35)) | unreceived
        part = np.clip(np.floor(amount * rng.uniform(0.1, 0.9, count)), 1, amount)
        ret_amount = np.where(full, amount, part).astype(np.int64)
        idx = np.flatnonzero(has & (ret_day <= last))
        idx = idx[np.lexsort((idx, ret_day[idx]))]
        ids = _ids("R", len(idx), 7)
        return [
            {
                "source": SOURCE,
                "external_id": ids[k],
                "customer_external_id": self.customer_ids[int(oc[i])],
                "order_external_id": self.order_ids[i],
                "amount": _money(int(ret_amount[i])),
                "currency": CURRENCY,
                "returned_on": self.dates[int(ret_day[i])],
                "reason": RETURN_REASONS[int(reason[i])],
            }
            for k, i in enumerate(idx.tolist())
        ]

    def _complaints(self) -> tuple[list[dict[str, Any]], tuple[int, str]]:
        """Background complaints by behaviour, plus one wave about one product."""
        rng, n, last = self.rng, self.n, self.last
        beh = self.behaviour[:, None]
        gate = (self.activity > 0).astype(np.float64)
        mult = np.select(
            [beh == CHURNER, beh == RETURN_ABUSER, beh == DETERIORATING],
            [np.full((n, 1), 4.0), np.full((n, 1), 2.5), np.full((n, 1), 2.5)],
            default=np.ones((n, 1)),
        )
        rate = np.where(self.is_company, 0.8, 0.3)[:, None] / 365 * gate
        rate = np.where(self.after, rate * mult, rate)
        cust, day = _events(rng, rate)
        count = len(cust)
        after = self.after[cust, day]
        b = self.behaviour[cust]
        template = np.select(
            [after & (b == DETERIORATING), after & (b == CHURNER), after & (b == RETURN_ABUSER)],
            [1, 2, 3],
            default=0,
        )
        categories = np.array(
            [
                [0.35, 0.25, 0.15, 0.15, 0.1],
                [0.1, 0.1, 0.6, 0.15, 0.05],
                [0.3, 0.2, 0.1, 0.35, 0.05],
                [0.5, 0.3, 0.05, 0.1, 0.05],
            ]
        )
        category = _choose(rng.random(count), categories, template)
        product = self.pref1[cust] * _PRODUCTS_PER_CATEGORY + rng.choice(
            _PRODUCTS_PER_CATEGORY, count, p=self.popularity
        )
        product = np.where(category <= 1, product, -1)
        severity = _choose(rng.random(count), np.array([0.35, 0.4, 0.2, 0.05]))

        # The wave: one popular product, 3-6 weeks in the last 6 months, many customers.
        wave_product = int(rng.integers(0, 2)) * _PRODUCTS_PER_CATEGORY + int(rng.integers(0, 3))
        length = int(rng.integers(21, 43))
        wave_start = int(np.clip(last - rng.integers(length, 181), 0, last))
        wave_end = min(wave_start + length, last)
        bought = self.l_product == wave_product
        o_idx = self.l_order[bought]
        recent = (self.o_day[o_idx] >= wave_start - 180) & (self.o_day[o_idx] <= wave_end)
        buyers = np.unique(self.o_cust[o_idx[recent]])
        others = np.flatnonzero(self.join <= wave_start)
        others = others[~np.isin(others, buyers)]
        size = max(10, round(0.05 * n))
        pool = np.concatenate([rng.permutation(buyers), rng.permutation(others)])[:size]
        pool = np.concatenate([pool, pool[rng.random(len(pool)) < 0.25]])
        w_count = len(pool)
        w_day = wave_start + np.floor(
            rng.triangular(0, 0.45, 1, w_count) * (wave_end - wave_start + 1)
        ).astype(np.int64)
        w_day = np.clip(w_day, np.maximum(self.join[pool], wave_start), last)
        w_category = _choose(rng.random(w_count), np.array([0.75, 0.1, 0.0, 0.05, 0.1]))
        w_severity = _choose(rng.random(w_count), np.array([0.1, 0.3, 0.45, 0.15]))

        cust = np.concatenate([cust, pool]).astype(np.int64)
        day = np.concatenate([day, w_day]).astype(np.int64)
        category = np.concatenate([category, w_category])
        product = np.concatenate([product, np.full(w_count, wave_product)])
        severity = np.concatenate([severity, w_severity])
        total = len(cust)
        seconds = rng.integers(0, _BUSINESS_SECONDS, total)
        hours = rng.lognormal(math.log(48), 1.0, total) + 1
        # A desk works its complaints: what is still open is recent (some of it past its
        # response time), not a scatter over years that makes every open one overdue.
        still_open = (rng.random(total) < 0.3) & (last - day <= 14)
        closed = rng.random(total) < 0.5
        recent_open = rng.random(total) < 0.4
        order = np.lexsort((seconds, day))
        ids = _ids("CP", total, 6)
        records = []
        for k, i in enumerate(order.tolist()):
            d, s = int(day[i]), int(seconds[i])
            opened = self.ts(d, s)
            resolve_after = int(hours[i] * 3600)
            horizon = (last - d) * _DAY_SECONDS + _DAY_SECONDS - 1 - s
            if still_open[i] or resolve_after > horizon:
                status = "open" if recent_open[i] or last - d < 2 else "in_progress"
                resolved = None
            else:
                status = "closed" if closed[i] else "resolved"
                resolved = opened + dt.timedelta(seconds=resolve_after)
            p = int(product[i])
            records.append(
                {
                    "source": SOURCE,
                    "external_id": ids[k],
                    "customer_external_id": self.customer_ids[int(cust[i])],
                    "category": COMPLAINT_CATEGORIES[int(category[i])],
                    "product": self.products[p] if p >= 0 else None,
                    "severity": SEVERITIES[int(severity[i])],
                    "status": status,
                    "opened_at": opened,
                    "resolved_at": resolved,
                }
            )
        return records, (wave_start, self.products[wave_product])

    def _surveys(self) -> list[dict[str, Any]]:
        """CSAT and NPS answers from about half the customers; churners grow unhappy."""
        rng, n = self.rng, self.n
        answers = rng.random(n) < 0.55
        rate = (answers / 100.0)[:, None] * (self.activity > 0)
        cust, day = _events(rng, rate)
        count = len(cust)
        base = np.array([0.8, 0.68, 0.7, 0.62, 0.7, 0.72, 0.75, 0.78, 0.78, 0.72, 0.76])
        mood = base[self.behaviour] + rng.normal(0, 0.07, n)
        b = self.behaviour[cust]
        since = np.maximum(day - self.onset[cust], 0)
        after = self.after[cust, day]
        u = mood[cust] + rng.normal(0, 0.12, count)
        u = np.where(after & (b == CHURNER), u - 0.55 * np.minimum(since / 150, 1), u)
        u = np.where(after & (b == DETERIORATING), u - 0.2 * np.minimum(since / 120, 1), u)
        u = np.clip(u, 0, 1)
        csat = rng.random(count) < 0.6
        score = np.where(
            csat,
            np.clip(np.rint(1 + 4 * u + rng.normal(0, 0.4, count)), 1, 5),
            np.clip(np.rint(10 * u + rng.normal(0, 1.0, count)), 0, 10),
        ).astype(np.int64)
        level = np.where(csat, (score - 1) / 4, score / 10)
        band = np.where(level >= 0.7, 2, np.where(level >= 0.4, 1, 0))
        has_comment = rng.random(count) < 0.35
        comment_u = rng.random(count)
        seconds = rng.integers(0, _BUSINESS_SECONDS, count)
        order = np.lexsort((seconds, day))
        ids = _ids("S", count, 6)
        return [
            {
                "source": SOURCE,
                "external_id": ids[k],
                "customer_external_id": self.customer_ids[int(cust[i])],
                "survey_type": "csat" if csat[i] else "nps",
                "score": int(score[i]),
                "responded_at": self.ts(int(day[i]), int(seconds[i])),
                "comment": (
                    _pick(_COMMENTS[int(band[i])], float(comment_u[i])) if has_comment[i] else None
                ),
            }
            for k, i in enumerate(order.tolist())
        ]

    def _interactions(self) -> list[dict[str, Any]]:
        """Routine contacts that follow activity, plus collection calls on late invoices."""
        rng, last = self.rng, self.last
        per_day = np.where(self.is_company, 1.0, 0.2) / 30.44
        cust, day = _events(rng, per_day[:, None] * np.minimum(self.activity, 2.0))
        count = len(cust)
        company = self.is_company[cust]
        kinds = np.array([[0.4, 0.2, 0.0, 0.15, 0.25], [0.1, 0.5, 0.0, 0.0, 0.4]])
        kind = _choose(rng.random(count), kinds, np.where(company, 0, 1))
        channels = np.array(
            [
                [0.3, 0.25, 0.15, 0.05, 0.15, 0.1],
                [0.25, 0.15, 0.0, 0.3, 0.3, 0.0],
                [0.0, 0.0, 0.4, 0.0, 0.0, 0.6],
            ]
        )
        channel = _choose(
            rng.random(count), channels, np.where(kind == 3, 2, np.where(company, 0, 1))
        )

        # Collection calls: one a week or so after the due date, another if still unpaid later.
        due, settled = self.i_due, self.i_settled
        late = np.minimum(settled, last) - due
        eligible = ~self.i_immediate & (late >= 7)
        c_cust, c_day = [], []
        for lo, hi, p, need in ((3, 15, 0.5, 7), (20, 35, 0.7, 35)):
            when = due + rng.integers(lo, hi + 1, len(due))
            pick = eligible & (late >= need) & (rng.random(len(due)) < p)
            pick &= (when < settled) & (when <= last)
            c_cust.append(self.o_cust[pick])
            c_day.append(when[pick])
        col_cust = np.concatenate(c_cust)
        col_day = np.concatenate(c_day)
        col_channel = _choose(rng.random(len(col_cust)), np.array([0.6, 0.2, 0.05, 0.0, 0.15, 0.0]))

        cust = np.concatenate([cust, col_cust]).astype(np.int64)
        day = np.concatenate([day, col_day]).astype(np.int64)
        kind = np.concatenate([kind, np.full(len(col_cust), 2)])
        channel = np.concatenate([channel, col_channel])
        seconds = rng.integers(0, _BUSINESS_SECONDS, len(cust))
        order = np.lexsort((seconds, day))
        ids = _ids("IA", len(cust), 7)
        cust_l, day_l, sec_l = cust.tolist(), day.tolist(), seconds.tolist()
        kind_l, channel_l = kind.tolist(), channel.tolist()
        return [
            {
                "source": SOURCE,
                "external_id": ids[k],
                "customer_external_id": self.customer_ids[cust_l[i]],
                "occurred_at": self.ts(day_l[i], sec_l[i]),
                "channel": INTERACTION_CHANNELS[channel_l[i]],
                "kind": INTERACTION_KINDS[kind_l[i]],
            }
            for k, i in enumerate(order.tolist())
        ]

    # companies' documents and bureau reports --------------------------------------------------

    def _contracts(self) -> list[dict[str, Any]]:
        """0-3 supply contracts per company; running ones may end after ``end_date``."""
        rng, last = self.rng, self.last
        rows: list[tuple[int, int, int, int, int, str]] = []
        for c in np.flatnonzero(self.is_company).tolist():
            beh, first = int(self.behaviour[c]), int(self.join[c])
            count = int(rng.integers(0, 2 if beh == NEW else 4))
            u = rng.random((count, 6))
            for k in range(count):
                signed = first + int(u[k, 0] * max(last - 5 - first, 0))
                start = min(signed + int(u[k, 1] * 21), last)
                term = (6, 12, 12, 24)[int(u[k, 2] * 4)]
                end = (_add_months(self.dates[start], term) - self.start_date).days
                value = max(round(self.monthly[c] * term * (0.4 + 0.5 * u[k, 3]) / 100_000), 1)
                if end <= last:
                    status = _pick(("fulfilled",) * 17 + ("breached", "terminated"), u[k, 4])
                else:
                    status = "pending" if last - start < 20 and u[k, 4] < 0.5 else "in_progress"
                if beh == DETERIORATING and end >= self.stop[c] and self.stop[c] <= last:
                    status = "breached" if u[k, 5] < 0.6 else status
                if beh == CHURNER and end >= self.onset[c] and u[k, 5] < 0.3:
                    status = "terminated"
                rows.append((c, signed, start, end, value * 100_000, status))
        rows.sort(key=lambda r: (r[1], r[0]))
        ids = _ids("K", len(rows), 6)
        return [
            {
                "source": SOURCE,
                "external_id": ids[k],
                "customer_external_id": self.customer_ids[c],
                "signed_on": self.dates[signed],
                "start_date": self.dates[start],
                "end_date": self.start_date + dt.timedelta(days=end),
                "value": _money(value),
                "currency": CURRENCY,
                "fulfilment_status": status,
            }
            for k, (c, signed, start, end, value, status) in enumerate(rows)
        ]

    def _statements(self) -> list[dict[str, Any]]:
        """Annual key figures for the last 2-3 fiscal years; deteriorating ones weaken."""
        rng = self.rng
        latest = self.end_date.year - 1
        records: list[dict[str, Any]] = []
        for c in np.flatnonzero(self.is_company).tolist():
            beh = int(self.behaviour[c])
            years = int(rng.integers(2, 4))
            u = rng.random((years, 10))
            growth = 0.95 + 0.2 * rng.random()
            revenue = max(self.monthly[c] * 12 * (6 + 14 * rng.random()), 50_000_000.0)
            revenue /= growth ** (years - 1)
            for k in range(years):
                year = latest - (years - 1) + k
                stress = k / (years - 1) if beh == DETERIORATING else 0.0
                weak = beh == SLOW
                cr = (1.0 + 0.5 * u[k, 0]) if weak else (1.3 + 1.1 * u[k, 0])
                dr = (0.55 + 0.2 * u[k, 1]) if weak else (0.35 + 0.25 * u[k, 1])
                em = (0.02 + 0.04 * u[k, 2]) if weak else (0.04 + 0.08 * u[k, 2])
                cash_share = 0.08 + 0.22 * u[k, 3]
                re_share = 0.2 + 0.3 * u[k, 4]
                if stress:
                    cr += stress * (0.8 + 0.2 * u[k, 5] - cr)
                    dr += stress * (0.82 + 0.12 * u[k, 6] - dr)
                    em += stress * (-0.06 + 0.05 * u[k, 7] - em)
                    cash_share += stress * (0.03 - cash_share)
                    re_share += stress * (-0.1 - re_share)
                    revenue *= 1 - 0.2 * stress
                else:
                    revenue *= growth if k else 1.0
                total_assets = round(revenue * (0.6 + 0.5 * u[k, 8]))
                total_liabilities = round(total_assets * dr)
                current_assets = round(total_assets * (0.45 + 0.25 * u[k, 9]))
                current_liabilities = min(
                    round(current_assets / cr), round(total_liabilities * 0.95)
                )
                equity = total_assets - total_liabilities
                ebit = round(revenue * em)
                net_income = round(ebit * 0.75) if ebit > 0 else round(ebit * 1.15)
                records.append(
                    {
                        "source": SOURCE,
                        "customer_external_id": self.customer_ids[c],
                        "period_end": dt.date(year, 12, 31),
                        "period_type": "annual",
                        "currency": CURRENCY,
                        "revenue": _money(round(revenue)),
                        "total_assets": _money(total_assets),
                        "total_liabilities": _money(total_liabilities),
                        "current_assets": _money(current_assets),
                        "current_liabilities": _money(current_liabilities),
                        "retained_earnings": _money(round(equity * re_share)),
                        "ebit": _money(ebit),
                        "equity": _money(equity),
                        "net_income": _money(net_income),
                        "cash": _money(round(current_assets * cash_share)),
                    }
                )
        return records

    def _credit_reports(self) -> list[dict[str, Any]]:
        """One or two bureau reports per customer; scores fall for deteriorating ones."""
        rng, n, last = self.rng, self.n, self.last
        # By behaviour, in BEHAVIOURS order; the decoys score like the ordinary customers they are.
        mean = np.array([730, 650, 700, 680, 690, 700, 670, 730, 720, 720, 710])[self.behaviour]
        sd = np.array([45, 45, 40, 50, 50, 50, 60, 40, 45, 45, 45])[self.behaviour]
        first_score = np.clip(np.rint(rng.normal(mean, sd)), 300, 850).astype(np.int64)
        first_day = self.join + np.floor(rng.random(n) * np.minimum(60, last - self.join + 1))
        drop = rng.uniform(90, 200, n)
        change = np.select(
            [self.behaviour == DETERIORATING, self.behaviour == CHURNER],
            [-drop, -rng.uniform(0, 40, n)],
            default=rng.normal(0, 20, n),
        )
        second_score = np.clip(np.rint(first_score + change), 300, 850).astype(np.int64)
        later_lo = np.maximum(first_day + 90, last // 2)
        later = later_lo + np.floor(rng.random(n) * np.maximum(last - later_lo + 1, 0))
        det_day = np.minimum(self.onset + 30 + np.floor(rng.random(n) * 60), last)
        second_day = np.where(self.behaviour == DETERIORATING, det_day, later)
        has_second = (self.behaviour == DETERIORATING) | (rng.random(n) < 0.5)
        has_second &= (second_day > first_day) & (second_day <= last)
        no_limit = rng.random((n, 2)) < 0.15
        extras = rng.random((n, 2, 6))

        rows = []
        for c in range(n):
            rows.append((int(first_day[c]), c, 0, int(first_score[c])))
            if has_second[c]:
                rows.append((int(second_day[c]), c, 1, int(second_score[c])))
        rows.sort()
        ids = _ids("CR", len(rows), 6)
        records = []
        for k, (day, c, which, score) in enumerate(rows):
            e = extras[c, which]
            factor = min(max((score - 450) / 300, 0.0), 1.3)
            step = 100_000 if self.is_company[c] else 10_000
            limit = (
                None if no_limit[c, which] else round(float(self.limit[c]) * factor / step) * step
            )
            risk = (850 - score) / 550
            payload: dict[str, Any] = {
                "bureau": "Demo Credit Bureau",
                "report_id": ids[k],
                "subject_type": "company" if self.is_company[c] else "individual",
                "score": score,
                "score_band": "ABCDE"[min(int(risk * 5), 4)],
                "delinquencies_12m": int(risk * 6 * e[0]),
                "max_days_past_due_12m": int(risk * 150 * e[1]),
                "open_credit_lines": 1 + int(8 * e[2]),
                "inquiries_6m": int(risk * 8 * e[3]),
                "legal_cases": int(risk * 4 * e[4]) if self.is_company[c] else 0,
            }
            if self.is_company[c]:
                payload["years_in_business"] = 2 + int(25 * e[5])
            records.append(
                {
                    "source": BUREAU,
                    "external_id": ids[k],
                    "customer_external_id": self.customer_ids[c],
                    "report_date": self.dates[day],
                    "score": score,
                    "recommended_limit": None if limit is None else _money(limit),
                    "payload": payload,
                }
            )
        return records

    # customer records -------------------------------------------------------------------------

    def _customer_records(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Groups and customers, with names, valid ids and contact details."""
        rng, n = self.rng, self.n
        regions = list(self.owners)
        companies = np.flatnonzero(self.is_company)
        group_count = min(max(len(companies) // 80, 1), 8) if len(companies) >= 5 else 0
        members = rng.permutation(companies)[: round(0.1 * len(companies)) if group_count else 0]
        group_of = {int(c): int(rng.integers(0, group_count)) for c in members.tolist()}
        brands = list(rng.permutation(len(_BRANDS))[:group_count].tolist())
        groups = [
            {"code": f"G{g + 1:03d}", "name": f"{_BRANDS[b]}控股集团有限公司"}
            for g, b in enumerate(brands)
        ]
        used: set[str] = set()
        records = []
        for c in range(n):
            u = self.names_u[c]
            region = regions[int(self.region[c])]
            users = self.owners[region]
            city, prefix, area, districts = _pick(_region_cities(region), u[0])
            address = (
                f"{prefix}{_pick(districts, u[1])}{_pick(_ROADS, u[2])}{1 + int(u[3] * 299)}号"
            )
            phone = "+86" + _pick(_PHONE_PREFIXES, u[4]) + f"{int(u[5] * 1e8):08d}"
            company = bool(self.is_company[c])
            group = group_of.get(c)
            if company:
                industry = int(self.industry[c])
                brand = _BRANDS[brands[group]] if group is not None else _pick(_BRANDS, u[6])
                word = _pick(_INDUSTRY_WORDS[industry], u[7])
                suffix = "股份有限公司" if self.segment[c] == 0 and u[8] < 0.4 else "有限公司"
                name = f"{city}{brand}{word}{suffix}"
                while name in used:
                    brand += _BRAND_EXTRA[int(rng.integers(0, len(_BRAND_EXTRA)))]
                    name = f"{city}{brand}{word}{suffix}"
                used.add(name)
                body = f"{int(u[9] * 1e8):08d}" if u[10] < 0.7 else f"MA{int(u[9] * 1e6):06d}"
                tax_id: str | None = uscc(area, body)
                national_id = None
                account = str(1 + int(u[11] * 9)) + f"{int(u[12] * 1e9):09d}{int(u[13] * 1e9):09d}"
                account = account[: 16 + int(u[14] * 4)]
            else:
                given = _pick(_GIVEN, u[6]) + (_pick(_GIVEN, u[7]) if u[8] < 0.7 else "")
                name = _pick(_SURNAMES, u[9]) + given
                birth = dt.date(1950, 1, 1) + dt.timedelta(days=int(u[10] * 19_720))
                home = area if u[11] < 0.6 else _pick(_ALL_CITIES, u[12])[2]
                tax_id, national_id = None, resident_id(home, birth, 1 + int(u[13] * 998))
                account = _luhn("62" + f"{int(u[14] * 1e8):08d}{int(u[15] * 1e8):08d}")
            records.append(
                {
                    "source": SOURCE,
                    "external_id": self.customer_ids[c],
                    "kind": "company" if company else "individual",
                    "name": name,
                    "tax_id": tax_id,
                    "national_id": national_id,
                    "phone": phone,
                    "email": f"{self.customer_ids[c].lower()}@example.com",
                    "address": address,
                    "bank_account": account,
                    "segment": SEGMENTS[int(self.segment[c])],
                    "industry": INDUSTRIES[int(self.industry[c])] if company else None,
                    "region": region,
                    "owner": _pick(users, float(self.owner_u[c])),
                    "group_code": groups[group]["code"] if group is not None else None,
                    "status": "active",
                    "credit_limit": _money(int(self.limit[c])),
                    "currency": CURRENCY,
                    "payment_terms_days": int(self.terms[c]),
                    "prepayment_required": False,
                    # Individuals signed up with the shop's privacy notice; about four in ten
                    # also agreed to marketing (a hash, so the random draws stay as they were).
                    "consents": None
                    if company
                    else [
                        {"purpose": p, "granted": True, "notice_version": "2026-01"}
                        for p in ("credit_assessment", "behaviour_monitoring")
                    ]
                    + [
                        {"purpose": "marketing", "granted": True, "notice_version": "2026-01"}
                        for _ in range(1)
                        if zlib.crc32(self.customer_ids[c].encode()) % 10 < 4
                    ],
                }
            )
        return groups, records

    def _behaviour_rows(self, wave: tuple[int, str]) -> list[dict[str, Any]]:
        """The ground truth: one behaviour per customer (and for a decoy, the behaviour it
        resembles), and the complaint wave."""
        months = ("", "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
                  "Dec")  # fmt: skip
        rows = []
        for c in range(self.n):
            beh = int(self.behaviour[c])
            onset = int(self.onset[c])
            detail: str | None = None
            if beh == SLOW:
                detail = (
                    f"pays {self.slow_mean[c]:.0f} days after due (10-40), steady from the start"
                )
            elif beh == DETERIORATING:
                detail = f"stops paying from {self.dates[int(self.stop[c])].isoformat()}"
            elif beh == RETURN_ABUSER:
                detail = (
                    f"returns {self.abuse_rate[c]:.0%} of orders, mostly full value, with reasons "
                    "nobody can check (changed_mind, no_reason, item_not_received, empty_package)"
                )
            elif beh == RESELLER:
                detail = (
                    f"orders {self.resell_factor[c]:.1f}x as often, "
                    f"in bulk: {CATEGORIES[int(self.bulk[c])]}, at 15-28% off, to the end"
                )
            elif beh == CHURNER:
                detail = f"activity fades, time constant {self.churn_tau[c]:.0f} days"
            elif beh == NEW:
                detail = f"joined on the onset date, reaches its pace over {self.ramp[c]:.0f} days"
            elif beh == BUSY:
                detail = (
                    f"{self.base_rate[c] * 30.44:.0f} orders a month from the start, "
                    "usual quantities and discounts"
                )
            elif beh == SEASONAL:
                start, length = int(self.season_start[c]), int(self.season_len[c])
                season = ",".join(str((start + k) % 12 + 1) for k in range(length))
                names = "-".join(months[(start + k) % 12 + 1] for k in (0, length - 1))
                detail = f"buys in months {season} ({names}) every year, quiet between"
            elif beh == LIGHT_RETURNER:
                detail = (
                    "a few returns, each for a reason that can be checked "
                    f"({', '.join(LEGITIMATE_RETURN_REASONS)})"
                )
            elif beh == TIGHT:
                detail = (
                    f"limit {int(self.limit[c]) // 100} CNY set near its usual open exposure; "
                    "orders weekly and pays by the due date"
                )
            name = BEHAVIOURS[beh]
            decoy_of = DECOY_OF.get(name)
            if decoy_of:
                detail = f"decoy of {decoy_of}: {detail}"
            rows.append(
                {
                    "customer_external_id": self.customer_ids[c],
                    "behaviour": name,
                    "onset_date": self.dates[onset] if onset >= 0 else None,
                    "detail": detail,
                    "decoy_of": decoy_of,
                }
            )
        rows.append(
            {
                "customer_external_id": None,
                "behaviour": COMPLAINT_WAVE,
                "onset_date": self.dates[wave[0]],
                "detail": wave[1],
                "decoy_of": None,
            }
        )
        return rows

"""A model's stability card (TestClient): every one of the fifteen features that moved most is
a row with its name in the reader's language, its PSI and how that reads (not a bar chart
whose axis names two or three of them)."""

from __future__ import annotations

import html
import re
from typing import Any

import numpy as np
import pandas as pd
import pytest

from riskdesk.indicators.catalogue import CATALOGUE
from riskdesk.scoring import registry
from riskdesk.ui import model_pages
from riskdesk.ui.i18n import LANG_COOKIE
from tests.conftest import principal
from tests.ui.visible_text import leaks


def test_the_stability_card_names_every_feature(db, client_for, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(5)
    dpd = rng.integers(0, 120, 300).astype(float)
    y = (rng.uniform(0, 1, 300) < 0.05 + dpd / 200).astype(int)
    version = registry.train(
        db,
        principal(db, "analyst"),
        name="违约模型",
        family="lightgbm",
        X=pd.DataFrame({"dpd_max": dpd, "paydex": rng.uniform(20, 100, 300)}),
        y=y,
        data_source="测试数据",
        target="合成样本",
        folds=3,
    )
    db.commit()
    features = [i for i in CATALOGUE][:16]
    psi = {f.name: 0.02 + 0.03 * n for n, f in enumerate(features)}  # 0.02 ... 0.47
    real = registry.monitor

    def monitored(session: Any, version_id: int, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return real(session, version_id, *args, **kwargs) | {"feature_psi": psi}

    monkeypatch.setattr(model_pages.registry, "monitor", monitored)
    client = client_for("analyst")
    for locale in ("zh-CN", "en"):
        client.cookies.set(LANG_COOKIE, locale)
        page = client.get(f"/models/{version.id}")
        assert page.status_code == 200, page.text[:500]
        assert leaks(page.text, locale) == [], leaks(page.text, locale)
        table = page.text.split('id="feature-psi"', 1)[1].split("</table>", 1)[0]
        rows = re.findall(
            r'<tr class="psi-(\w+)"><td>([^<]+)</td><td class="num nw">([\d.]+)</td>', table
        )
        assert len(rows) == 15  # the fifteen that moved most, largest first
        shown = {html.unescape(label): (band, float(value)) for band, label, value in rows}
        for f in features[1:]:
            label = f.zh if locale == "zh-CN" else f.en
            assert label in shown, label
            value = psi[f.name]
            band = "stable" if value < 0.1 else ("watch" if value <= 0.25 else "shifted")
            assert shown[label] == (band, pytest.approx(value, abs=0.001)), label
        assert [float(v) for _, _, v in rows] == sorted(
            (float(v) for _, _, v in rows), reverse=True
        )
        words = ("稳定", "关注", "已漂移") if locale == "zh-CN" else ("Stable", "Watch", "Shifted")
        assert all(w in table for w in words)

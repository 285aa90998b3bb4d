"""The monitor report: self-contained HTML with SVG charts, checked in headless Chromium."""

from __future__ import annotations

import io
import math
import re
import time
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest

from gristmill.labeling import keyword_lf
from gristmill.monitoring import (
    AgreementDrift,
    DriftThresholds,
    FeatureDrift,
    LFDrift,
    MonitorResult,
    monitor,
)
from gristmill.report._monitor_report import (
    render_monitor_report,
    series_chart,
)


def _frame(n: int, seed: int, shift: float = 0.0, words: tuple[str, ...] = ()) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    vocab = np.array(["great song", "love it", "subscribe", "nice video", "hello", *words])
    text = [" ".join(rng.choice(vocab, size=3)) for _ in range(n)]
    return pd.DataFrame({
        "text": text,
        "length": rng.normal(40, 5, size=n) + shift,
        "country": rng.choice(["de", "fr", "us"], size=n),
        "_ts": time.time() + np.arange(n) * 60.0,
    })


@pytest.fixture(scope="module")
def result():  # noqa: ANN201
    lfs = [keyword_lf("subscribe", 1, name="kw_subscribe"),
           keyword_lf("love it", 0, name="kw_love")]
    current = _frame(300, 1, shift=6.0, words=("free money", "click here"))
    current["_label"] = np.where(np.arange(300) % 3 == 0, "ham", None)
    return monitor(current=current, reference=_frame(500, 0).drop(columns="_ts"), lfs=lfs)


def test_report_is_self_contained_with_charts(result, tmp_path) -> None:  # noqa: ANN001
    html = render_monitor_report(result)
    assert html.startswith("<!DOCTYPE html>")
    for needle in ("Feature drift", "LF drift", "LF coverage", "Over time", "Drift detected"):
        assert needle in html
    assert html.count("<svg") >= 4
    for forbidden in ("<script", "http://", "https://", "<link"):
        assert forbidden not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_series_chart_draws_each_series() -> None:
    svg = series_chart(["a", "b", "c"], {"x": [0.1, 0.5, 1.5], "y": [0.2, float("nan"), 0.3]},
                       title="t", reference_line=1.0)
    assert svg.count("<polyline") == 2 and svg.count("<circle") == 5
    assert "stroke-dasharray" in svg
    assert series_chart([], {}) == ""


@pytest.mark.browser
def test_report_renders_in_chromium(result, chromium_driver, tmp_path) -> None:  # noqa: ANN001
    from PIL import Image
    from selenium.webdriver.common.by import By

    paths = result.save(tmp_path / "report")
    driver = chromium_driver
    driver.get_log("browser")  # drop what earlier pages logged
    driver.set_window_size(1280, 2400)
    try:
        driver.get(paths["html"].resolve().as_uri())
        assert driver.title.startswith("Monitor report")
        svgs = driver.find_elements(By.TAG_NAME, "svg")
        assert len(svgs) >= 4
        assert all(svg.size["width"] > 100 and svg.size["height"] > 100 for svg in svgs)
        assert len(driver.find_elements(By.CSS_SELECTOR, "svg rect")) > 10
        errors = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
        assert errors == []
        png = driver.get_screenshot_as_png()
    finally:
        driver.set_window_size(1280, 1000)
    (tmp_path / "monitor.png").write_bytes(png)
    image = Image.open(io.BytesIO(png)).convert("RGB")
    colours = image.getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 20  # text and coloured bars, not a blank page
    non_white = sum(count for count, rgb in colours if rgb != (255, 255, 255))
    assert non_white / (image.width * image.height) > 0.02
    # The palette's first colour (the reference bars) is on screen.
    assert any(rgb == (0x4C, 0x72, 0xB0) for _, rgb in colours)


def _many_lfs_result(n_lfs: int = 300) -> MonitorResult:
    """A monitor result over 300 LFs with 85-character names, two of them drifted."""
    names = [f"lf_{j:03d}_keyword_vote_for_class_{j % 30}_with_an_extremely_long_name_xyz"
             for j in range(n_lfs)]
    drifted = (7, 250)
    lfs = [LFDrift(name=name, coverage_reference=0.10,
                   coverage_current=0.10 + 0.3 * (j in drifted),
                   coverage_p_value=1e-9 if j in drifted else 0.6, agreement_reference=math.nan,
                   agreement_current=math.nan, agreement_p_value=1.0, drifted=j in drifted)
           for j, name in enumerate(names)]
    windows = [{"label": f"window {w + 1}", "n": 50, "features": {"text": 0.5 + w},
                "lf_coverage": {name: 0.1 + 0.01 * w * (j % 7) for j, name in enumerate(names)}}
               for w in range(5)]
    feature = FeatureDrift(column="text", kind="text", method="domain", statistic=0.6,
                           threshold=0.55, drifted=True, n_reference=500, n_current=250)
    return MonitorResult(model={"name": "m"}, created="now", n_reference=500, n_current=250,
                         thresholds=DriftThresholds(), features=[feature], lfs=lfs,
                         windows=windows)


@pytest.mark.browser
def test_many_lfs_stay_readable(tmp_path, layout_problems) -> None:  # noqa: ANN001
    path = tmp_path / "monitor.html"
    path.write_text(render_monitor_report(_many_lfs_result()), encoding="utf-8")
    assert layout_problems(path) == []


def test_lf_charts_show_the_lfs_that_matter() -> None:
    html = render_monitor_report(_many_lfs_result())
    coverage = html[html.index('aria-label="LF coverage"'):]
    coverage = coverage[:coverage.index("</svg>")]
    # The drifted LFs (7 and 250) are drawn; 300 bars side by side would be unreadable.
    assert "lf_007_" in coverage and "lf_250_" in coverage
    assert coverage.count("<rect") <= 2 * 10 + 2
    assert "10 of 300 LFs" in html
    # Agreement is undefined for every LF (no label model target): no empty chart, no p-value.
    assert 'aria-label="LF agreement with the label model"' not in html
    table_rows = html[html.index("<th class=\"l\">LF</th>"):].split("<tr")[1:]
    assert "lf_007_" in table_rows[0] and "lf_250_" in table_rows[1]  # drifted LFs first
    assert len(table_rows) == 300
    over_time = html[html.index('aria-label="LF coverage per window"'):]
    assert over_time[:over_time.index("</svg>")].count("<polyline") == 10


def test_series_are_told_apart() -> None:
    series = {f"series_{i}": [0.1 * i, 0.1 * i + 0.05] for i in range(10)}
    root = ET.fromstring(series_chart(["a", "b"], series, title="t"))
    lines = [(p.get("stroke"), p.get("stroke-dasharray")) for p in root.iter()
             if p.tag.endswith("polyline")]
    assert len(lines) == 10 and len(set(lines)) == 10


def test_p_values_keep_their_significant_digits() -> None:
    ks = FeatureDrift(column="DATE", kind="datetime", method="ks", statistic=9.637e-79,
                      threshold=0.05, drifted=True, n_reference=500, n_current=250)
    chi2 = FeatureDrift(column="prediction", kind="categorical", method="chi2",
                        statistic=0.04995, threshold=0.05, drifted=True, n_reference=500,
                        n_current=250)
    result = MonitorResult(model={"name": "m"}, created="now", n_reference=500, n_current=250,
                           thresholds=DriftThresholds(), features=[ks], prediction=chi2,
                           class_shares={"reference": {"a": 0.5, "b": 0.5},
                                         "current": {"a": 0.6, "b": 0.4}})
    html = render_monitor_report(result)
    assert ">9.637e-79<" in html and ">0.000<" not in html
    assert ">0.04995<" in html and ">0.05<" in html


@pytest.mark.browser
def test_report_layout_holds_in_chromium(result, tmp_path, layout_problems) -> None:  # noqa: ANN001
    # The last window's label of the over-time charts used to be cut off at the chart's edge.
    paths = result.save(tmp_path / "report")
    assert layout_problems(paths["html"]) == []


def _agreement_result(target: str | None) -> MonitorResult:
    """A multilabel result whose served model's agreement with ``target`` dropped."""
    labels = {"music": {"reference": 0.95, "current": 0.61, "n_reference": 300,
                        "n_current": 280},
              "money": {"reference": 0.9, "current": 0.875, "n_reference": 200,
                        "n_current": 160}}
    agreement = AgreementDrift(reference=0.93, current=0.706, n_reference=500, n_current=440,
                               p_value=1e-9, drifted=True, labels=labels)
    lfs = [LFDrift("says_song", 0.3, 0.31, 0.8, 0.9, 0.7, 0.01, False)]
    return MonitorResult(model={"name": "tags"}, created="now", n_reference=500,
                         n_current=440, thresholds=DriftThresholds(), features=[], lfs=lfs,
                         agreement=agreement, agreement_target=target)


def test_report_says_what_agreement_was_counted_against_and_each_labels_estimate() -> None:
    fallback = render_monitor_report(_agreement_result("LF majority vote"))
    assert "estimated accuracy (LF majority vote vs served model)" in fallback
    assert "No usable label model: agreement is counted against the majority vote of the LFs, "\
        "label by label." in fallback
    assert 'aria-label="LF agreement with the LF majority vote"' in fallback
    assert "the served model&#x27;s agreement with the LF majority vote fell from 0.930 to " \
        "0.706" in fallback
    assert "label model vs" not in fallback
    assert "<td>estimated accuracy on label &#x27;music&#x27;</td><td>0.610</td>" in \
        fallback.replace(' class=""', "").replace(' class="l"', "")
    header = fallback[fallback.index("<th class=\"l\">LF majority vote vs served model</th>"):]
    rows = header[:header.index("</table>")].split("<tr")[1:]
    cells = [re.findall(r"<td[^>]*>(.*?)</td>", row) for row in rows]
    assert cells == [["all labels", "0.930", "0.706", "500", "440", "1e-09", "yes"],
                     ["music", "0.950", "0.610", "300", "280", "", ""],
                     ["money", "0.900", "0.875", "200", "160", "", ""]]
    by_model = render_monitor_report(_agreement_result("label model"))
    assert "estimated accuracy (label model vs served model)" in by_model
    assert "No usable label model" not in by_model

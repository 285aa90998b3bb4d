"""The monitor report: self-contained HTML with SVG charts, checked in headless Chromium."""

from __future__ import annotations

import io
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gristmill.labeling import keyword_lf
from gristmill.monitoring import monitor
from gristmill.report._monitor_report import render_monitor_report, series_chart

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")


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


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Headless Chromium from Debian packages, installed when missing."""
    if not CHROMIUM.exists() or not CHROMEDRIVER.exists():
        apt = shutil.which("apt-get")
        assert apt, "headless Chromium is missing and apt-get is not available to install it"
        subprocess.run([apt, "install", "-y", "chromium", "chromium-driver"], check=True,
                       capture_output=True, timeout=900)
    return CHROMIUM


@pytest.mark.browser
def test_report_renders_in_chromium(result, chromium, tmp_path) -> None:  # noqa: ANN001
    from PIL import Image
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    paths = result.save(tmp_path / "report")
    options = webdriver.ChromeOptions()
    options.binary_location = str(chromium)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--window-size=1280,2400",
                 f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
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
        driver.quit()
    (tmp_path / "monitor.png").write_bytes(png)
    image = Image.open(io.BytesIO(png)).convert("RGB")
    colours = image.getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 20  # text and coloured bars, not a blank page
    non_white = sum(count for count, rgb in colours if rgb != (255, 255, 255))
    assert non_white / (image.width * image.height) > 0.02
    # The palette's first colour (the reference bars) is on screen.
    assert any(rgb == (0x4C, 0x72, 0xB0) for _, rgb in colours)

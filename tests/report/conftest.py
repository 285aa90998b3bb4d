"""A headless Chromium for the report tests, and a check that a page's layout holds together."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")

# Problems a reader would see: the page scrolls sideways, a chart is squeezed below its drawn
# width (cutting off its right part), text sticks out of its chart, or labels printed on one line
# run into each other.
_LAYOUT_PROBLEMS = """
const problems = [];
const page = document.documentElement;
if (page.scrollWidth > window.innerWidth) {
  problems.push(`page is ${page.scrollWidth}px wide in a ${window.innerWidth}px window`);
}
for (const svg of document.querySelectorAll('svg')) {
  const box = svg.getBoundingClientRect();
  const name = svg.getAttribute('aria-label');
  if (box.width + 1 < Number(svg.getAttribute('width'))) {
    problems.push(`chart '${name}' squeezed to ${box.width}px of ${svg.getAttribute('width')}`);
  }
  const texts = [...svg.querySelectorAll('text')].filter(t => t.textContent.trim());
  for (const text of texts) {
    const r = text.getBoundingClientRect();
    if (r.left < box.left - 1 || r.right > box.right + 1 || r.top < box.top - 1
        || r.bottom > box.bottom + 1) {
      problems.push(`'${text.textContent}' sticks out of chart '${name}'`);
    }
  }
  const rows = {};
  for (const text of texts) {
    const key = text.getAttribute('y') + '/' + text.getAttribute('font-size')
      + '/' + (text.getAttribute('transform') ? 'turned' : 'flat');
    (rows[key] = rows[key] || []).push(text.getBoundingClientRect());
  }
  for (const boxes of Object.values(rows)) {
    boxes.sort((a, b) => a.left - b.left);
    for (let i = 1; i < boxes.length; i++) {
      if (boxes[i].left < boxes[i - 1].right - 1 && boxes[i].top < boxes[i - 1].bottom - 1
          && boxes[i - 1].top < boxes[i].bottom - 1) {
        problems.push(`labels overlap in chart '${name}'`);
        break;
      }
    }
  }
}
return problems;
"""


@pytest.fixture(scope="session")
def chromium_driver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One headless Chromium (1280 px wide, offline) for the session; installed when missing."""
    if not CHROMIUM.exists() or not CHROMEDRIVER.exists():
        apt = shutil.which("apt-get")
        assert apt, "headless Chromium is missing and apt-get is not available to install it"
        subprocess.run([apt, "install", "-y", "chromium", "chromium-driver"], check=True,
                       capture_output=True, timeout=900)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    profile = tmp_path_factory.mktemp("chromium-profile")
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--window-size=1280,1000",
                 f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    yield driver
    driver.quit()


@pytest.fixture()
def layout_problems(chromium_driver: Any) -> Callable[[Path], list[str]]:
    """Open an HTML file in Chromium; return what is wrong with its layout (and console errors)."""

    def check(path: Path) -> list[str]:
        chromium_driver.get(path.resolve().as_uri())
        problems: list[str] = chromium_driver.execute_script(_LAYOUT_PROBLEMS)
        errors = [e["message"] for e in chromium_driver.get_log("browser")
                  if e["level"] == "SEVERE"]
        return problems + errors

    return check

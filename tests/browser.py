"""Open a report in headless Chromium (Debian's `chromium` + `chromium-driver`) and read back what
a reader's browser sees: console errors, each plotly figure's rendered traces, the section ids."""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
# Flags the closed network needs: without the background-networking ones Chromium keeps dialling out.
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--window-size=1400,1000")


@dataclass(frozen=True)
class PageView:
    """What the browser saw of one page."""

    console_errors: list[str]
    traces_per_figure: list[int]   # rendered traces (SVG trace groups) of each plotly figure
    section_ids: set[str]


def available() -> bool:
    """Whether Chromium, its driver and Selenium are installed (`.ci/run` installs them)."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return False
    return bool(shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER))


def view(page: Path, screenshot: Path | None = None) -> PageView:
    """Load `page` from disk, wait for plotly to draw, and report what rendered."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={page.parent / '.chromium-profile'}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        driver.get(page.resolve().as_uri())
        # Plotly draws asynchronously: wait until every figure div has its SVG.
        WebDriverWait(driver, 60).until(lambda d: d.execute_script(
            "const f = document.querySelectorAll('.plotly-graph-div');"
            "return f.length > 0 && [...f].every(g => g.querySelector('.main-svg'));"))
        traces = driver.execute_script(
            "return [...document.querySelectorAll('.plotly-graph-div')].map("
            "g => g.querySelectorAll('g.trace').length);")
        ids = set(driver.execute_script("return [...document.querySelectorAll('[id]')].map(e => e.id);"))
        errors = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        if screenshot is not None:
            driver.save_screenshot(str(screenshot))
        return PageView(errors, list(traces), ids)
    finally:
        driver.quit()

"""report.html in a real headless browser: every image loads and the console stays clean.

Uses Debian's chromium + chromedriver (`make browser` installs them). Without them the test skips
locally, but fails under CI=true: there the browser is part of the environment.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from endods.report import build_report

CHROMIUM = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
CHROMEDRIVER = "/usr/bin/chromedriver"


def _browser_binary() -> str | None:
    for path in CHROMIUM:
        if Path(path).is_file() and Path(CHROMEDRIVER).is_file():
            return path
    return None


def _driver(binary: str, profile: Path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1400,1000",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # An explicit Service path: selenium-manager must not try to download a driver.
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


@pytest.fixture()
def report_dir(built_mtlendovis: Path, tmp_path: Path) -> Path:
    """The report of the suite's real-size (1280x1024) synthetic MTLEndovis build."""
    return build_report(built_mtlendovis, tmp_path / "report").path


@pytest.mark.browser
@pytest.mark.slow
def test_report_renders_in_headless_chromium(report_dir: Path, tmp_path: Path):
    binary = _browser_binary()
    if binary is None:
        message = f"chromium/chromedriver not installed ({', '.join(CHROMIUM)}, {CHROMEDRIVER}); run `make browser`"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    driver = _driver(binary, tmp_path / "profile")
    try:
        driver.get((report_dir / "report.html").as_uri())
        images = driver.execute_script(
            "return Array.from(document.images).map(i => [i.getAttribute('src'), i.complete, i.naturalWidth]);"
        )
        height = driver.execute_script("return document.documentElement.scrollHeight;")
        driver.set_window_size(1400, min(int(height) + 40, 12000))
        shot = tmp_path / "report.png"
        assert driver.save_screenshot(str(shot))
        logs = driver.get_log("browser")
        title = driver.title
    finally:
        driver.quit()
    if os.environ.get("ENDODS_ARTIFACTS"):
        artifacts = Path(os.environ["ENDODS_ARTIFACTS"])
        artifacts.mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, artifacts / "report_screenshot.png")
    assert "dataset report" in title
    assert len(images) >= 6 + 1  # six figures and at least one contact sheet
    broken = [src for src, complete, width in images if not complete or width == 0]
    assert broken == [], f"images that did not load: {broken}"
    severe = [entry for entry in logs if entry.get("level") == "SEVERE"]
    assert severe == [], f"console errors: {severe}"
    assert shot.stat().st_size > 10_000

"""The report in a real browser: Debian's headless Chromium, driven by selenium through chromedriver,
opens the page `report` wrote for a fleet built in the ARM emulator. No console error, no network
request; the matrix's cells and the timeline's bars read from the rendered page match the fleet; a
screenshot is kept under test-artifacts/."""

from __future__ import annotations

import io
import json
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import pytest

from lifecycle.cli import main
from tests.integration.conftest import RG, Env

pytestmark = pytest.mark.integration
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")


@pytest.fixture()
def browser() -> Iterator[Any]:
    # `make test` installs both (Makefile target `browser`); a missing browser is a failed set-up, not a skip.
    assert CHROMIUM and CHROMEDRIVER, (
        "chromium and chromedriver are installed by `make test` (target browser)"
    )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="report-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--window-size=1400,1800",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def build_fleet(env: Env, policy_text: Callable[..., str]) -> None:
    """Two images: `web` fully replicated to eastus x2 and westeurope x1; `db` whose newest healthy
    version lacks westeurope, and whose newest version failed to be created."""
    env.compute.snapshots.begin_create_or_update(
        RG,
        "os-disk",
        {"location": "eastus", "properties": {"creationData": {"createOption": "Import"}, "diskSizeGB": 64}},
    ).result()
    env.put_policy(
        policy_text(
            regions={"eastus": 2, "westeurope": 1},
            retention={"lifetime_days": 90, "keep_latest": 1, "delete_after_days": 30},
        )
    )
    for image in ("web", "db"):
        env.create_image(image)
    env.create_version("web", "1.0.0", {"eastus": 2, "westeurope": 1})
    env.create_version("db", "2.0.0", {"eastus": 2, "westeurope": 1})
    env.advance(days=10)
    env.create_version("web", "1.1.0", {"eastus": 2, "westeurope": 1})
    env.create_version("db", "2.1.0", {"eastus": 1})
    # A build whose creation fails: the emulator's lro-fail fault, on for this one write only.
    env.emulator.control("POST", "faults", {"spec": "lro-fail=1"})
    env.create_version("db", "2.2.0", {"eastus": 1})
    env.emulator.control("POST", "faults", {"spec": ""})
    env.advance(hours=2)


def test_report_in_headless_chromium(
    env: Env, policy_text: Callable[..., str], browser: Any, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    build_fleet(env, policy_text)
    page = tmp_path / "report.html"
    out = io.StringIO()
    with redirect_stdout(out):
        # At the emulator's (virtual) time, so "today" is where the fleet's clock is.
        at = env.now().isoformat()
        assert main(["report", "--config", env.config_url, "--out", str(page), "--at", at]) == 0
    with redirect_stdout(out := io.StringIO()):
        main(["report", "--config", env.config_url, "--json", "--at", at])
    data = json.loads(out.getvalue())

    browser.get_log("performance")  # drop what the blank start page loaded before ours
    browser.get(page.as_uri())
    assert browser.find_element(By.TAG_NAME, "h1").text == "Gallery fleet report"

    # The matrix as rendered: (image, region) -> (replicas, wanted, state).
    cells = {
        (cell.get_attribute("data-image"), cell.get_attribute("data-region")): (
            cell.get_attribute("data-replicas"),
            cell.get_attribute("data-wanted"),
            cell.get_attribute("data-state"),
        )
        for cell in browser.find_elements(By.CSS_SELECTOR, "#replication-matrix td.cell[data-state]")
        if cell.get_attribute("data-state")
    }
    assert cells == {
        ("db", "eastus"): ("1", "2", "Completed"),
        ("db", "westeurope"): ("", "1", "missing"),
        ("web", "eastus"): ("2", "2", "Completed"),
        ("web", "westeurope"): ("1", "1", "Completed"),
    }
    visible = browser.find_element(By.CSS_SELECTOR, 'td.cell[data-image="db"][data-region="westeurope"]')
    assert visible.is_displayed() and "missing" in visible.text and "want 1" in visible.text
    colour = visible.value_of_css_property("background-color")
    completed = browser.find_element(By.CSS_SELECTOR, 'td.cell[data-image="web"][data-region="eastus"]')
    assert colour != completed.value_of_css_property("background-color")

    # The timeline's bars: one per version, with the dates the fleet has, drawn on the axis.
    bars: dict[str, list[str]] = {}
    for timeline in browser.find_elements(By.CSS_SELECTOR, ".tl[data-image]"):
        image = timeline.get_attribute("data-image")
        for bar in timeline.find_elements(By.CSS_SELECTOR, ".lane i"):
            assert bar.size["width"] > 0 and bar.is_displayed()
            bars[f"{image} {bar.get_attribute('title').split(' ')[0]}"] = bar.get_attribute("title").split(
                " | "
            )
        assert timeline.find_element(By.CSS_SELECTOR, ".today").is_displayed()
    expected = {f"{image['image']} {v['version']}": v for image in data["images"] for v in image["versions"]}
    assert set(bars) == set(expected) == {"web 1.0.0", "web 1.1.0", "db 2.0.0", "db 2.1.0", "db 2.2.0"}
    assert "failed" in browser.find_element(
        By.CSS_SELECTOR, '.tl[data-image="db"] i[title^="2.2.0 "]'
    ).get_attribute("class")
    for name, title in bars.items():
        version = expected[name]
        assert title[1] == version["published"]
        assert title[2] == f"eol {version['end_of_life']}"
        assert title[3] == f"delete {version['delete'] or 'never'}"
    failures = browser.find_element(By.ID, "failures").find_element(By.XPATH, "following-sibling::*[1]").text
    assert "db/versions/2.2.0: provisioning failed" in failures
    assert browser.find_element(By.ID, "prices-date").text == data["cost"]["prices_date"]

    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "report.png"))

    # Nothing was fetched but the page itself, and the console stayed clean.
    console = [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
    assert console == []
    requests = [
        json.loads(e["message"])["message"]["params"]["request"]["url"]
        for e in browser.get_log("performance")
        if json.loads(e["message"])["message"]["method"] == "Network.requestWillBeSent"
    ]
    assert not [url for url in requests if url.split(":", 1)[0] in ("http", "https", "ws", "wss", "ftp")], (
        requests
    )
    # Besides the browser's own internal pages (chrome://, the blank start page), only the report loaded.
    assert [url for url in requests if not url.startswith(("chrome://", "chrome-untrusted://", "data:"))] == [
        page.as_uri()
    ]

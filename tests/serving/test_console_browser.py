"""The console driven in headless Chromium (Debian's ``chromium`` and ``chromium-driver``, which
``.ci/install-chromium`` installs when missing): sign in, watch a decision made through the API
appear, halt trading with the kill switch, and a wrong token that can neither see nor change."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from console_support import lona_strategies, reviews, snapshot
from pydantic import SecretStr
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait
from serving_support import AUTH, TOKEN, decision_body, serve, settings_for, store_asset

from nexus_assets.monitoring_record import write_snapshot
from nexus_serving.console.stored_tables import REVIEWS_FILE, STRATEGIES_FILE

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ADMIN_TOKEN = "admin-token-0123456789abcdef"
WRONG_TOKEN = "not-a-token-0123456789abcdef"
SCREENSHOT = os.environ.get("NEXUS_CONSOLE_SCREENSHOT")
"""Where to save a screenshot of the console with a halted decision (the README's)."""
POLL_WAIT_S = 15
"""The page polls every 2 s: a change shows within a few polls."""


@pytest.fixture(scope="module")
def service(trained_registry, cache_dir, tmp_path_factory) -> Iterator[httpx.Client]:
    root = tmp_path_factory.mktemp("console-browser")
    store_asset(lona_strategies(), root / "data", STRATEGIES_FILE)
    store_asset(reviews(), root / "data", REVIEWS_FILE)
    write_snapshot(snapshot(), str(root / "data"))
    settings = settings_for(
        trained_registry,
        cache_dir,
        data_dir=str(root / "data"),
        audit_database_url=SecretStr(f"sqlite:///{root / 'store.db'}"),
        admin_tokens=SecretStr(f"alice:{ADMIN_TOKEN}"),
    )
    with serve(settings) as client:
        yield client


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.fail(
            "no /usr/bin/chromium or /usr/bin/chromedriver: run .ci/install-chromium (make test does)"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1400,1100",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def page(browser: WebDriver, service: httpx.Client) -> Iterator[WebDriver]:
    """The browser signed out, on the service's origin."""
    browser.get(f"{service.base_url}/console/sign-in")
    browser.delete_all_cookies()
    yield browser
    browser.delete_all_cookies()


def _sign_in(page: WebDriver, base_url: str, token: str) -> None:
    page.get(f"{base_url}/console")
    assert page.current_url.endswith("/console/sign-in")  # sent to the form first
    field = page.find_element(By.ID, "token")
    field.send_keys(token)
    field.submit()


def _decide(service: httpx.Client, market, request_id: str) -> dict:
    body = decision_body(market, request_id=request_id, symbol="S4")
    reply = service.post("/v1/decisions", json=body, headers=AUTH)
    assert reply.status_code == 200, reply.text
    return reply.json()


def _cell(page: WebDriver, decision_id: str, css: str = "td.action") -> str:
    """The text of a cell of a decision's row once the polling table shows it (a poll may
    replace the row between two looks: look again)."""
    selector = f'tr[data-decision-id="{decision_id}"] {css}'
    return WebDriverWait(page, POLL_WAIT_S, ignored_exceptions=(StaleElementReferenceException,)).until(
        lambda driver: driver.find_element(By.CSS_SELECTOR, selector).text
    )


def _switch_engaged(service: httpx.Client) -> bool:
    return service.get("/v1/risk", headers=AUTH).json()["kill_switch"]["engaged"]


def test_a_decision_made_through_the_api_appears_in_the_signed_in_page(page, service, market):
    _sign_in(page, str(service.base_url), TOKEN)
    WebDriverWait(page, POLL_WAIT_S).until(ec.title_is("Trade Nexus console"))
    assert page.find_element(By.ID, "decisions-heading").text == "Decisions"
    assert page.find_element(By.ID, "risk-heading").text == "Risk"
    assert "needs an admin token" in page.find_element(By.ID, "risk").text
    assert not page.find_elements(By.ID, "kill-switch-form")  # a viewer gets no form

    made = _decide(service, market, "browser-appears")  # after the page loaded: only polling shows it
    assert _cell(page, made["decision_id"]) == made["action"]
    assert _cell(page, made["decision_id"], "td:nth-child(2)") == "S4"
    assert _cell(page, made["decision_id"], "td:nth-child(3)") == "st-1"

    page.find_element(By.CSS_SELECTOR, f'tr[data-decision-id="{made["decision_id"]}"] a').send_keys(
        Keys.ENTER
    )
    WebDriverWait(page, POLL_WAIT_S).until(ec.presence_of_element_located((By.ID, "features-hash")))
    assert page.find_element(By.ID, "features-hash").text
    assert "browser-appears" in page.find_element(By.ID, "decision-request").text


def test_the_risk_panel_charts_each_books_equity(page, service, market):
    for i, equity in enumerate((100_000.0, 104_000.0, 97_000.0)):
        body = decision_body(
            market,
            request_id=f"browser-equity-{i}",
            symbol="S9",
            portfolio={"book": "main", "equity": equity},
        )
        assert service.post("/v1/decisions", json=body, headers=AUTH).status_code == 200
    _sign_in(page, str(service.base_url), TOKEN)
    chart = WebDriverWait(page, POLL_WAIT_S).until(
        ec.presence_of_element_located((By.CSS_SELECTOR, '#equity-chart .chart[data-book="main"] canvas'))
    )
    assert chart.size["width"] > 0
    label = page.find_element(By.CSS_SELECTOR, '#equity-chart .chart[data-book="main"]').get_attribute(
        "aria-label"
    )
    assert "equity 97000.00" in label and "drawdown 6.7%" in label
    refused = [entry["message"] for entry in page.get_log("browser") if entry["level"] == "SEVERE"]
    assert refused == []  # nothing the Content-Security-Policy refused, no file missing


def test_the_models_panel_charts_live_skill_and_a_review_opens_from_the_keyboard(page, service):
    _sign_in(page, str(service.base_url), TOKEN)
    chart = WebDriverWait(page, POLL_WAIT_S).until(
        ec.presence_of_element_located(
            (By.CSS_SELECTOR, '#skill-chart .chart[data-model="predictor"] canvas')
        )
    )
    assert chart.size["width"] > 0
    label = page.find_element(By.CSS_SELECTOR, '#skill-chart .chart[data-model="predictor"]').get_attribute(
        "aria-label"
    )
    assert "live IC -0.0500 against momentum's 0.0200" in label and "higher is better" in label
    summary = page.find_element(By.CSS_SELECTOR, 'tr[data-strategy="st-poor"] details summary')
    details = summary.find_element(By.XPATH, "..")
    assert details.get_attribute("open") is None
    summary.send_keys(Keys.ENTER)
    assert details.get_attribute("open") is not None
    assert "few trades (12)" in details.text
    refused = [entry["message"] for entry in page.get_log("browser") if entry["level"] == "SEVERE"]
    assert refused == []


def test_engaging_the_kill_switch_in_the_page_halts_new_decisions(page, service, market):
    _sign_in(page, str(service.base_url), ADMIN_TOKEN)
    WebDriverWait(page, POLL_WAIT_S).until(ec.presence_of_element_located((By.ID, "kill-switch-form")))
    assert page.find_element(By.ID, "kill-switch-engaged").text == "released"
    try:
        page.find_element(By.ID, "switch-engage").click()
        page.find_element(By.ID, "switch-reason").send_keys("feed looks wrong")
        page.find_element(By.ID, "switch-apply").click()
        WebDriverWait(page, POLL_WAIT_S).until(
            ec.text_to_be_present_in_element((By.ID, "kill-switch-engaged"), "engaged")
        )
        assert _switch_engaged(service)
        assert "alice" in page.find_element(By.ID, "kill-switch-state").text

        halted = _decide(service, market, "browser-halted")
        assert halted["action"] == "halt"
        assert any(reason.startswith("KILL_SWITCH") for reason in halted["reasons"])
        assert _cell(page, halted["decision_id"]) == "halt"
        if SCREENSHOT:
            page.set_window_size(1400, 2000)
            WebDriverWait(page, POLL_WAIT_S).until(
                ec.presence_of_element_located((By.CSS_SELECTOR, "#equity-chart canvas"))
            )
            page.execute_script("window.scrollTo(0, 0)")
            page.save_screenshot(SCREENSHOT)
            page.set_window_size(1400, 1100)
    finally:
        page.find_element(By.ID, "switch-release").click()
        page.find_element(By.ID, "switch-reason").send_keys("feed fixed")
        page.find_element(By.ID, "switch-apply").click()
        WebDriverWait(page, POLL_WAIT_S).until(
            ec.text_to_be_present_in_element((By.ID, "kill-switch-engaged"), "released")
        )
    assert not _switch_engaged(service)


def test_a_wrong_token_can_neither_see_nor_change_anything(page, service):
    base_url = str(service.base_url)
    _sign_in(page, base_url, WRONG_TOKEN)
    alert = WebDriverWait(page, POLL_WAIT_S).until(ec.presence_of_element_located((By.ID, "sign-in-error")))
    assert "not accepted" in alert.text
    assert not page.get_cookies()
    page.get(f"{base_url}/console")
    assert page.current_url.endswith("/console/sign-in")
    assert not page.find_elements(By.ID, "decisions-heading")

    # A forged cookie with a wrong token: still the sign-in form, and the page's own requests refused.
    page.add_cookie({"name": "nexus_console", "value": WRONG_TOKEN, "path": "/console"})
    page.get(f"{base_url}/console")
    assert page.current_url.endswith("/console/sign-in")
    statuses = page.execute_async_script(
        """
        const done = arguments[arguments.length - 1];
        const form = new URLSearchParams({engaged: "true", reason: "forged", csrf: "x"});
        Promise.all([
          fetch("/console/fragments/decisions").then(r => r.status),
          fetch("/console/fragments/risk").then(r => r.status),
          fetch("/console/risk/kill-switch", {method: "POST", body: form}).then(r => r.status),
        ]).then(done);
        """
    )
    assert statuses == [401, 401, 401]
    assert not _switch_engaged(service)


def test_chromium_is_the_systems(browser):
    """The browser is Debian's, not one a tool downloaded (nothing is fetched at test time)."""
    assert browser.capabilities["browserName"] in ("chrome", "chromium")
    assert shutil.which("chromium") == str(CHROMIUM)

"""The operator console over real HTTP: who may see it, who may change the kill switch, and that
decisions made through the API show in its panels (the browser tests drive the same pages)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from console_support import lona_strategies, reviews, snapshot
from pydantic import SecretStr
from serving_support import AUTH, TOKEN, decision_body, serve, settings_for, store_asset
from test_serving_allocations import allocation_table

from nexus_assets.allocation_record import ASSET_FILE
from nexus_assets.live_engine.ledger import OrderLedger
from nexus_assets.live_engine.models import OrderRequest
from nexus_assets.lona.signals import signal_strength
from nexus_assets.monitoring_record import write_snapshot
from nexus_serving.console.stored_tables import REVIEWS_FILE, STRATEGIES_FILE

ADMIN_TOKEN = "admin-token-0123456789abcdef"
WRONG_TOKEN = "not-a-token-0123456789abcdef"


DAGSTER = "http://dagster.test:3000"


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("console")


@pytest.fixture(scope="module")
def service(trained_registry, cache_dir, root) -> Iterator[httpx.Client]:
    store_asset(allocation_table({"S1": 0.2, "S2": 0.005, "S3": 0.0}), root / "data", ASSET_FILE)
    settings = settings_for(
        trained_registry,
        cache_dir,
        data_dir=str(root / "data"),
        audit_database_url=SecretStr(f"sqlite:///{root / 'store.db'}"),
        admin_tokens=SecretStr(f"alice:{ADMIN_TOKEN}"),
        dagster_url=DAGSTER,
    )
    with pytest.MonkeyPatch.context() as patch, serve(settings) as client:
        patch.setenv("NEXUS_LEDGER_DATABASE_URL", f"sqlite:///{root / 'ledger.db'}")
        yield client


@contextmanager
def _signed_in(service: httpx.Client, token: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=service.base_url, timeout=30) as client:
        reply = client.post("/console/sign-in", data={"token": token})
        assert reply.status_code == 303, reply.text
        yield client


def _csrf(client: httpx.Client) -> str:
    return re.search(r'name="csrf" value="([0-9a-f]+)"', client.get("/console").text).group(1)


def _decide(service: httpx.Client, market, request_id: str, symbol: str = "S3", **body) -> dict:
    reply = service.post(
        "/v1/decisions",
        json=decision_body(market, request_id=request_id, symbol=symbol, **body),
        headers=AUTH,
    )
    assert reply.status_code == 200, reply.text
    return reply.json()


def test_nothing_is_shown_or_changed_without_a_valid_sign_in(service):
    for cookies in ({}, {"nexus_console": WRONG_TOKEN}):
        with httpx.Client(base_url=service.base_url, cookies=cookies) as client:
            page = client.get("/console")
            assert (page.status_code, page.headers["location"]) == (303, "/console/sign-in")
            assert client.get("/console/decisions/any-id").status_code == 303
            assert client.get("/console/fragments/decisions").status_code == 401
            assert client.get("/console/fragments/risk").status_code == 401
            change = client.post(
                "/console/risk/kill-switch", data={"engaged": "true", "reason": "r", "csrf": "x"}
            )
            assert change.status_code == 401
    assert service.get("/v1/risk", headers=AUTH).json()["kill_switch"]["engaged"] is False


def test_a_wrong_token_is_refused_at_sign_in_and_gets_no_cookie(service):
    with httpx.Client(base_url=service.base_url) as client:
        reply = client.post("/console/sign-in", data={"token": WRONG_TOKEN})
        assert reply.status_code == 401
        assert "set-cookie" not in reply.headers
        assert "not accepted" in reply.text


def test_the_cookie_is_http_only_and_same_site_strict(service):
    with httpx.Client(base_url=service.base_url) as client:
        reply = client.post("/console/sign-in", data={"token": TOKEN})
        cookie = reply.headers["set-cookie"]
        assert cookie.startswith(f"nexus_console={TOKEN};")
        assert "HttpOnly" in cookie
        assert "SameSite=strict" in cookie
        assert "Path=/console" in cookie
        assert reply.headers["location"] == "/console"


def test_a_decision_made_through_the_api_shows_with_its_request_and_features_hash(service, market):
    made = _decide(service, market, "console-shown", symbol="S5")
    with _signed_in(service, TOKEN) as client:
        page = client.get("/console")
        assert page.status_code == 200
        assert "default-src 'self'" in page.headers["content-security-policy"]
        assert f'data-decision-id="{made["decision_id"]}"' in page.text
        for query, shown in (
            ({"symbol": "S5"}, True),
            ({"symbol": "S0"}, False),
            ({"strategy": "st-1"}, True),
            ({"strategy": "other"}, False),
            ({"action": made["action"]}, True),
            ({"action": "halt" if made["action"] != "halt" else "execute"}, False),
        ):
            fragment = client.get("/console/fragments/decisions", params=query)
            assert fragment.status_code == 200
            assert (made["decision_id"] in fragment.text) is shown, query
        detail = client.get(f"/console/decisions/{made['decision_id']}")
        assert detail.status_code == 200
        assert 'id="features-hash">' in detail.text
        assert "console-shown" in detail.text and '"bars"' in detail.text
        assert client.get("/console/decisions/no-such-decision").status_code == 404


def test_only_an_admin_token_changes_the_kill_switch_and_decisions_then_halt(service, market):
    with _signed_in(service, TOKEN) as viewer:
        refused = viewer.post(
            "/console/risk/kill-switch", data={"engaged": "true", "reason": "r", "csrf": _csrf(viewer)}
        )
        assert refused.status_code == 403
        assert "Changing the kill switch needs an admin token" in viewer.get("/console").text
    assert service.get("/v1/risk", headers=AUTH).json()["kill_switch"]["engaged"] is False

    with _signed_in(service, ADMIN_TOKEN) as admin:
        csrf = _csrf(admin)
        form = {"engaged": "true", "reason": "feed looks wrong"}
        assert admin.post("/console/risk/kill-switch", data=form | {"csrf": "0" * 64}).status_code == 403
        cross_site = admin.post(
            "/console/risk/kill-switch",
            data=form | {"csrf": csrf},
            headers={"Origin": "https://evil.example"},
        )
        assert cross_site.status_code == 403
        assert (
            admin.post(
                "/console/risk/kill-switch", data={"engaged": "true", "reason": " ", "csrf": csrf}
            ).status_code
            == 422
        )
        assert service.get("/v1/risk", headers=AUTH).json()["kill_switch"]["engaged"] is False

        engaged = admin.post(
            "/console/risk/kill-switch", data=form | {"csrf": csrf}, headers={"HX-Request": "true"}
        )
        assert engaged.status_code == 200
        assert 'id="kill-switch-engaged">engaged<' in engaged.text
        try:
            state = service.get("/v1/risk", headers=AUTH).json()["kill_switch"]
            assert (state["engaged"], state["changed_by"], state["reason"]) == (
                True,
                "alice",
                "feed looks wrong",
            )
            halted = _decide(service, market, "console-halted")
            assert halted["action"] == "halt"
            assert (
                halted["decision_id"]
                in admin.get("/console/fragments/decisions", params={"action": "halt"}).text
            )
        finally:
            released = admin.post(
                "/console/risk/kill-switch", data={"engaged": "false", "reason": "fixed", "csrf": csrf}
            )
            assert released.status_code == 303
        assert service.get("/v1/risk", headers=AUTH).json()["kill_switch"]["engaged"] is False


def test_a_poll_of_unchanged_content_gets_204_and_new_content_a_new_fragment(service, market):
    with _signed_in(service, TOKEN) as client:
        first = client.get("/console/fragments/decisions", params={"symbol": "S7"})
        seen = re.search(r'"seen": "([0-9a-f]+)"', first.text).group(1)
        again = client.get("/console/fragments/decisions", params={"symbol": "S7", "seen": seen})
        assert again.status_code == 204
        made = _decide(service, market, "console-polled", symbol="S7")
        changed = client.get("/console/fragments/decisions", params={"symbol": "S7", "seen": seen})
        assert changed.status_code == 200
        assert made["decision_id"] in changed.text
        risk = client.get("/console/fragments/risk")
        seen = re.search(r'"seen": "([0-9a-f]+)"', risk.text).group(1)
        assert client.get("/console/fragments/risk", params={"seen": seen}).status_code == 204


def test_the_models_panel_lists_the_champions_serving(service):
    models = service.get("/v1/models", headers=AUTH).json()["models"]
    with _signed_in(service, TOKEN) as client:
        page = client.get("/console").text
    panel = page[page.index('id="models"') :]
    rows = dict(re.findall(r'<tr data-model="([\w-]+)" data-role="champion">(.*?)</tr>', panel, re.S))
    assert len(rows) == len(models) == 3
    for model in models:
        row = rows[model["name"]]
        assert f"<td>{model['version']}</td>" in row
        # The gate's verdict on the version, as the registry's tags hold it.
        assert "<dt>promoted</dt><dd>True</dd>" in row and "first champion: beats the naive baselines" in row


def test_the_portfolio_panel_marks_targets_that_diverge_from_the_weights_held(service):
    allocation = service.get("/v1/allocations/latest", headers=AUTH).json()["allocation_id"]
    ledger = OrderLedger.from_env()
    try:
        for symbol, side, quantity in (("S1", "buy", 10.0), ("S2", "sell", 2.0)):
            order = OrderRequest(symbol, side, quantity, "dep-1", f"{allocation}:{symbol}:1")
            ledger.record(order, allocation)
        ledger.settle(f"{allocation}:S2:1", "rejected", "no buying power")
    finally:
        ledger.close()
    with _signed_in(service, TOKEN) as client:
        page = client.get("/console").text
    panel = page[page.index('id="portfolio"') : page.index('id="models"')]
    rows = dict(re.findall(r'<tr data-symbol="(S\d)">(.*?)</tr>', panel, re.S))
    assert set(rows) == {"S1", "S2", "S3"}
    assert "diverges" in rows["S1"] and "+0.2000" in rows["S1"]
    assert "diverges" not in rows["S2"] and "diverges" not in rows["S3"]
    assert '<td class="num">+10</td>' in rows["S1"] and "sending (1)" in rows["S1"]
    assert '<td class="num">+0</td>' in rows["S2"] and "rejected (1)" in rows["S2"]
    assert "none sent" in rows["S3"]


def test_what_a_caller_types_is_escaped(service):
    with _signed_in(service, TOKEN) as client:
        page = client.get("/console", params={"symbol": '"><script>alert(1)</script>'}).text
    assert "<script>alert(1)</script>" not in page
    assert "&#34;&gt;&lt;script&gt;" in page


def test_the_equity_chart_gets_each_books_curve_and_drawdown(service, market):
    with httpx.Client(base_url=service.base_url) as anonymous:
        assert anonymous.get("/console/data/equity").status_code == 401
    for i, equity in enumerate((100_000.0, 110_000.0, 99_000.0)):
        _decide(
            service, market, f"console-equity-{i}", symbol="S8", portfolio={"book": "chart", "equity": equity}
        )
    with _signed_in(service, TOKEN) as client:
        data = client.get("/console/data/equity").json()
        assert 'id="equity-chart"' in client.get("/console").text
    assert data["limit"] == pytest.approx(0.20)
    book = data["books"]["chart"]
    assert book["equity"] == [100_000.0, 110_000.0, 99_000.0]
    assert book["drawdown"] == pytest.approx([0.0, 0.0, 0.1])
    assert book["t"] == sorted(book["t"])


def test_sign_out_clears_the_cookie(service):
    with _signed_in(service, TOKEN) as client:
        out = client.post("/console/sign-out", data={"csrf": _csrf(client)})
        assert (out.status_code, out.headers["location"]) == (303, "/console/sign-in")
        assert client.get("/console").status_code == 303


def test_the_console_is_not_part_of_the_api_schema(service):
    paths = service.get("/openapi.json", headers=AUTH).json()["paths"]
    assert not [path for path in paths if path.startswith("/console")]


def test_htmx_is_served_from_the_service(service):
    script = service.get("/console/static/htmx.min.js")
    assert script.status_code == 200
    assert script.text.startswith("/* htmx 2.0.11")


def _panel(page: str, section: str) -> str:
    start = page.index(f'<section id="{section}"')
    return page[start : page.index("</section>", start)]


def test_the_strategies_panel_shows_backtest_review_weight_and_live_record(service, root):
    with _signed_in(service, TOKEN) as client:
        empty = _panel(client.get("/console").text, "strategies")
        assert "no strategies have been materialized yet" in empty
        store_asset(lona_strategies(), root / "data", STRATEGIES_FILE)
        store_asset(reviews(), root / "data", REVIEWS_FILE)
        write_snapshot(snapshot(), str(root / "data"))
        panel = _panel(client.get("/console").text, "strategies")
    rows = dict(re.findall(r'<tr data-strategy="([\w-]+)">(.*?)</tr>', panel, re.S))
    assert set(rows) == {"st-good", "st-poor", "st-new"}
    good, poor, new = rows["st-good"], rows["st-poor"], rows["st-new"]
    assert "25.0%" in good and "1.80" in good and "61.0%" in good and ">40<" in good
    # The weight a decision keeps: backtest strength times the review's scale.
    strength = signal_strength({"total_return": -0.12, "sharpe_ratio": -0.4, "max_drawdown": 0.3,
                                "win_rate": 0.42, "total_trades": 12})  # fmt: skip
    assert f"{strength * 0.5:.2f}" in poor and f"({strength:.2f} &times; 0.5)" in poor
    assert "caution" in poor and "few trades (12)" in poor and "no xAI key" in poor
    assert "<script>" not in poor and "&lt;script&gt;" in poor
    assert "not reviewed" in good and "(traded at 0.5 strength)" in good, (
        "reviews exist, this one is not reviewed"
    )
    assert "No completed backtest report" in new and "no live decisions" in new
    # The live record, the losing strategy shown as it is.
    assert "+1.20%" in good and 'class="num gain"' in good and "60.0%" in good
    assert "-0.40%" in poor and 'class="num loss"' in poor and "2 halt" in poor
    assert "gross of costs" in panel and f'href="{DAGSTER}/assets/lona_strategies"' in panel


def test_the_models_panel_shows_the_monitoring_verdicts_skill_and_drift(service, root):
    write_snapshot(snapshot("feedbeefcafe0001"), str(root / "data"))
    with _signed_in(service, TOKEN) as client:
        panel = _panel(client.get("/console").text, "models")
        curves = client.get("/console/data/monitoring").json()["curves"]
    checks = dict(re.findall(r'<tr data-check="(\w+)">(.*?)</tr>', panel, re.S))
    assert 'class="level-fail">fail<' in checks["predictor_live_skill"]
    assert "below momentum&#39;s 0.02" in checks["predictor_live_skill"]
    assert 'class="level-pass">pass<' in checks["feature_drift"]
    assert "IC -0.0500" in panel and "-0.0700" in panel
    assert f'href="{DAGSTER}/runs/feedbeefcafe0001"' in panel
    assert f'href="{DAGSTER}/assets/model_monitoring?view=checks"' in panel
    assert re.search(r'level-fail">\s*<meter[^>]*></meter>\s*0\.310', panel), (
        "ret_1 drifted past the fail line"
    )
    [ic] = curves
    assert (ic["model"], ic["metric"], ic["value"], ic["baseline"]) == (
        "predictor",
        "ic",
        [0.1, -0.05],
        [0.0, 0.02],
    )
    with httpx.Client(base_url=service.base_url) as anonymous:
        assert anonymous.get("/console/data/monitoring").status_code == 401


def test_a_broken_stored_file_is_named_and_the_rest_of_the_console_still_shows(service, root):
    stored = root / "data" / "model_monitoring" / "snapshot.json"
    stored.write_text('{"evaluated_at": "2026-11-03T00:00:00Z", "run_id": 7}')
    store_asset(lona_strategies().drop("win_rate"), root / "data", STRATEGIES_FILE)
    try:
        with _signed_in(service, TOKEN) as client:
            page = client.get("/console")
            refused = client.get("/console/data/monitoring")
    finally:
        write_snapshot(snapshot(), str(root / "data"))
        store_asset(lona_strategies(), root / "data", STRATEGIES_FILE)
    assert page.status_code == 200
    models, strategies = _panel(page.text, "models"), _panel(page.text, "strategies")
    assert "The monitoring snapshot cannot be shown" in models and "run_id" in models
    assert "column &#39;win_rate&#39; is missing" in strategies
    assert 'data-role="champion"' in models, "the models serving are still listed"
    assert refused.status_code == 503 and "run_id" in refused.json()["detail"]

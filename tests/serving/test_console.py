"""The operator console over real HTTP: who may see it, who may change the kill switch, and that
decisions made through the API show in its panels (the browser tests drive the same pages)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from pydantic import SecretStr
from serving_support import AUTH, TOKEN, decision_body, serve, settings_for, store_asset
from test_serving_allocations import allocation_table

from nexus_assets.allocation_record import ASSET_FILE
from nexus_assets.live_engine.ledger import OrderLedger
from nexus_assets.live_engine.models import OrderRequest

ADMIN_TOKEN = "admin-token-0123456789abcdef"
WRONG_TOKEN = "not-a-token-0123456789abcdef"


@pytest.fixture(scope="module")
def service(trained_registry, cache_dir, tmp_path_factory) -> Iterator[httpx.Client]:
    root = tmp_path_factory.mktemp("console")
    store_asset(allocation_table({"S1": 0.2, "S2": 0.005, "S3": 0.0}), root / "data", ASSET_FILE)
    settings = settings_for(
        trained_registry,
        cache_dir,
        data_dir=str(root / "data"),
        audit_database_url=SecretStr(f"sqlite:///{root / 'store.db'}"),
        admin_tokens=SecretStr(f"alice:{ADMIN_TOKEN}"),
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
    assert len(re.findall(r"<tr><td>[\w-]+</td><td>champion</td>", panel)) == len(models) == 3
    for model in models:
        assert f"<td>{model['name']}</td><td>champion</td><td>{model['version']}</td>" in panel


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

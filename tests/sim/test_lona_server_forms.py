"""The stand-in's start-up options and ``/_sim/protocol`` that pick Lona's answer shapes."""

from __future__ import annotations

import httpx
import pytest

from nexus_assets.sim.process import running_lona_stand_in

BAR_KEYS = {"timestamp", "open", "high", "low", "close", "volume"}


@pytest.fixture(scope="module")
def stand_in():
    with running_lona_stand_in(
        seed=4, symbols=("SPY",), n_strategies=2, symbol_data_form="records", strategy_code="endpoint"
    ) as running:
        yield running


@pytest.fixture
def api(stand_in):
    headers = {"X-API-Key": stand_in.token, "X-User-Id": stand_in.user_id}
    with httpx.Client(base_url=stand_in.base_url + "/", headers=headers, timeout=10) as client:
        yield client


@pytest.fixture
def control(stand_in):
    with httpx.Client(base_url=stand_in.root_url, timeout=10) as client:
        yield client
        client.delete("/_sim/protocol").raise_for_status()


def test_start_up_options_pick_the_forms(api, control):
    assert control.get("/_sim/protocol").json()["data"]["symbol_data"] == "records"
    strategies = api.get("strategies").json()["data"]["items"]
    assert strategies and all("code" not in s for s in strategies)
    code = api.get(f"strategies/{strategies[0]['id']}/code").json()["data"]
    assert "bt.Strategy" in code["code"]
    assert api.get("strategies/nope/code").status_code == 404

    symbol = api.get("symbols").json()["data"]["items"][0]
    assert symbol["file_url"] is None
    data = api.get(f"symbols/{symbol['id']}/data").json()["data"]
    assert isinstance(data, list)
    assert len(data) == symbol["bars"]
    assert all(set(bar) == BAR_KEYS for bar in data)
    assert data[-1]["timestamp"] == symbol["data_range"]["end"]


def test_protocol_control_changes_and_restores(api, control):
    sid = api.get("symbols").json()["data"]["items"][0]["id"]
    changed = control.post(
        "/_sim/protocol", json={"symbol_data": "symbol_file_url", "strategy_code": "inline"}
    )
    assert changed.status_code == 200
    link = api.get(f"symbols/{sid}").json()["data"]["file_url"]
    assert "/files/symbols/" in link
    assert "code" in api.get("strategies").json()["data"]["items"][0]
    csv = httpx.get(link)
    assert csv.headers["content-type"].startswith("text/csv")
    lines = csv.text.splitlines()
    assert lines[0] == "timestamp,open,high,low,close,volume"
    assert lines[1][:19].count(":") == 2 and lines[1][10] == " "
    assert httpx.get(link.split("?")[0]).status_code == 403

    control.post("/_sim/protocol", json={"symbol_data": "file_url"})
    assert set(api.get(f"symbols/{sid}/data").json()["data"]) == {"file_url"}

    control.delete("/_sim/protocol").raise_for_status()
    assert isinstance(api.get(f"symbols/{sid}/data").json()["data"], list)


@pytest.mark.parametrize(
    "body", [{"symbol_data": "xml"}, {"strategy_code": True}, {"colour": "blue"}, {"file_body": 3}]
)
def test_protocol_control_names_a_bad_setting(control, body):
    response = control.post("/_sim/protocol", json=body)
    assert response.status_code == 422
    field = next(iter(body))
    assert any(item["loc"][-1] == field or field in item["loc"] for item in response.json()["detail"])

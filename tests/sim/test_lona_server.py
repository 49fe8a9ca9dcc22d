"""The stand-in's HTTP contract and process helpers, checked over real HTTP."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx
import pytest

from nexus_assets.sim.lona_world import WorldConfig
from nexus_assets.sim.process import (
    StandInStartError,
    free_port,
    running_lona_stand_in,
    wait_until_healthy,
)

SYMBOLS = ("AAPL", "MSFT", "SPY")


@pytest.fixture(scope="module")
def stand_in():
    with running_lona_stand_in(
        token="server-token", user_id="server-agent", seed=3, symbols=SYMBOLS, n_strategies=5
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
        client.delete("/_sim/faults")
        yield client
        client.delete("/_sim/faults")


def symbol_id(api, name: str) -> str:
    items = api.get("symbols").json()["data"]["items"]
    return next(s["id"] for s in items if s["name"] == name)


def test_health_needs_no_credentials(stand_in):
    assert httpx.get(f"{stand_in.root_url}/health").json() == {"status": "ok"}


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-API-Key": "server-token"},
        {"X-API-Key": "wrong", "X-User-Id": "server-agent"},
        {"X-API-Key": "server-token", "X-User-Id": "wrong"},
    ],
)
def test_bad_credentials_get_the_error_envelope(stand_in, headers):
    response = httpx.get(f"{stand_in.base_url}/strategies", headers=headers)
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["code"] == "unauthorized"
    assert error["message"]
    assert "server-token" not in response.text


def test_unknown_ids_are_404_envelopes(api):
    for path in ("strategies/x", "symbols/x", "symbols/x/data", "reports/x", "reports/x/status"):
        response = api.get(path)
        assert response.status_code == 404, path
        assert response.json()["error"]["code"] == "not_found"


def test_pagination_envelope(api):
    first = api.get("strategies", params={"limit": 2}).json()["data"]
    assert len(first["items"]) == 2
    assert first["has_next"] is True
    assert first["total"] == 5
    last = api.get("strategies", params={"skip": 4, "limit": 2}).json()["data"]
    assert len(last["items"]) == 1
    assert last["has_next"] is False
    beyond = api.get("strategies", params={"skip": 50}).json()["data"]
    assert beyond == {"items": [], "has_next": False, "total": 5}
    invalid = api.get("strategies", params={"limit": 0})
    assert invalid.status_code == 422
    assert "detail" in invalid.json()


def test_symbol_and_data_layout(api, control):
    """Every bar revealed so far: the initial ones plus one per tick other tests may have made."""
    revealed = control.get("/_sim/state").json()["data"]["revealed_bars"]
    assert revealed >= WorldConfig.initial_bars
    sid = symbol_id(api, "SPY")
    symbol = api.get(f"symbols/{sid}").json()["data"]
    assert symbol["name"] == "SPY"
    assert symbol["frequencies"] == ["1d"]
    assert set(symbol["data_range"]) == {"start", "end"}
    data = api.get(f"symbols/{sid}/data").json()["data"]
    assert data["symbol_id"] == sid
    assert data["name"] == "SPY"
    bars = data["bars"]
    assert set(bars) == {"timestamp", "open", "high", "low", "close", "volume"}
    assert len({len(column) for column in bars.values()}) == 1
    assert len(bars["timestamp"]) == revealed
    assert bars["timestamp"][0] == symbol["data_range"]["start"]
    assert bars["timestamp"][-1] == symbol["data_range"]["end"]
    assert all(t.endswith("Z") for t in bars["timestamp"])
    week = [t[:10] for t in bars["timestamp"][10:15]]
    ranged = api.get(f"symbols/{sid}/data", params={"start_date": week[0], "end_date": week[-1]}).json()[
        "data"
    ]["bars"]
    assert [t[:10] for t in ranged["timestamp"]] == week
    assert api.get(f"symbols/{sid}/data", params={"start_date": "soon"}).status_code == 422


def upload(api, name: str, csv: bytes) -> httpx.Response:
    return api.post("symbols", data={"name": name}, files={"file": (f"{name}.csv", csv, "text/csv")})


def test_csv_upload_errors_name_row_and_column(api):
    header = b"timestamp,open,high,low,close,volume\n"
    good = b"2024-01-02T21:00:00Z,10,11,9,10.5,100\n"
    negative = b"2024-01-03T21:00:00Z,10,11,9,10.5,-5\n"
    response = upload(api, "NEGVOL", header + good + negative)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_csv"
    assert (error["row"], error["column"]) == (2, "volume")
    assert "row 2" in error["message"]
    assert "column 'volume'" in error["message"]

    missing = upload(api, "NOCLOSE", b"timestamp,open,high,low,volume\n2024-01-02,1,1,1,1\n")
    assert missing.status_code == 422
    assert missing.json()["error"]["column"] == "close"

    bad_time = upload(api, "BADTIME", header + b"02/01/2024,10,11,9,10.5,100\n")
    assert bad_time.json()["error"]["column"] == "timestamp"

    assert upload(api, "GOODONE", header + good).status_code == 201
    assert upload(api, "GOODONE", header + good).status_code == 409


def wait_status(api, report_id: str) -> list[tuple[str, float]]:
    seen = []
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        status = api.get(f"reports/{report_id}/status").json()["data"]
        if not seen or seen[-1] != (status["status"], status["progress"]):
            seen.append((status["status"], status["progress"]))
        if status["status"] in ("COMPLETED", "FAILED"):
            return seen
        time.sleep(0.02)
    raise AssertionError(f"report {report_id} did not finish: {seen}")


def test_runner_moves_through_the_statuses(api):
    strategy = api.get("strategies").json()["data"]["items"][0]
    body = {
        "strategy_id": strategy["id"],
        "data_ids": [symbol_id(api, "AAPL")],
        "start_date": "2021-06-01",
        "end_date": "2022-12-30",
        "simulation_parameters": {"initial_cash": 25000, "commission": 0},
    }
    started = time.monotonic()
    report_id = api.post("runner/run", json=body).json()["data"]["report_id"]
    seen = wait_status(api, report_id)
    assert time.monotonic() - started < 2.0
    statuses = [s for s, _ in seen]
    assert statuses[-1] == "COMPLETED"
    assert statuses == sorted(statuses, key=["PENDING", "EXECUTING", "PROCESSING", "COMPLETED"].index)
    assert len(statuses) >= 3
    progress = [p for _, p in seen]
    assert progress == sorted(progress)
    assert progress[-1] == 1.0
    full = api.get(f"reports/{report_id}/full").json()["data"]
    assert full["backtest_timeline"][0]["equity"] == 25000
    assert {"trades", "backtest_timeline", "total_stats", "start_date", "end_date"} <= set(full)


def test_runner_with_unknown_data_id_fails_with_a_reason(api):
    strategy = api.get("strategies").json()["data"]["items"][0]
    body = {
        "strategy_id": strategy["id"],
        "data_ids": ["missing-data"],
        "start_date": "2021-06-01",
        "end_date": "2022-12-30",
    }
    report_id = api.post("runner/run", json=body).json()["data"]["report_id"]
    assert wait_status(api, report_id)[-1][0] == "FAILED"
    status = api.get(f"reports/{report_id}/status").json()["data"]
    assert set(status) == {"id", "status", "progress"}
    report = api.get(f"reports/{report_id}").json()["data"]
    assert report["status"] == "FAILED"
    assert "missing-data" in report["error"]
    assert api.get(f"reports/{report_id}/full").status_code == 409
    unknown = api.post("runner/run", json={**body, "strategy_id": "nope"})
    assert unknown.status_code == 404


def test_reports_filter_and_order(api, control):
    control.post("/_sim/tick", params={"n": 2})
    strategy_id = api.get("strategies").json()["data"]["items"][0]["id"]
    reports = api.get("reports", params={"strategy_id": strategy_id}).json()["data"]["items"]
    assert reports
    assert {r["strategy_id"] for r in reports} == {strategy_id}
    stamps = [r["created_at"] for r in api.get("reports").json()["data"]["items"]]
    assert stamps == sorted(stamps, reverse=True)
    completed = api.get("reports", params={"status": "COMPLETED"}).json()["data"]["items"]
    assert {r["status"] for r in completed} == {"COMPLETED"}
    assert api.get("reports", params={"status": "DONE"}).status_code == 422


def test_tick_reveals_a_bar_and_adds_a_report(api, control):
    before = control.get("/_sim/state").json()["data"]
    total = api.get("reports").json()["data"]["total"]
    tick = control.post("/_sim/tick", params={"n": 3}).json()["data"]
    assert tick["revealed_bars"] == before["revealed_bars"] + 3
    assert tick["ticks"] == before["ticks"] + 3
    assert api.get("reports").json()["data"]["total"] == total + 3
    newest = api.get("reports", params={"limit": 1}).json()["data"]["items"][0]
    assert newest["id"] == tick["report_id"]


def test_faults_hit_only_matching_requests(api, control):
    armed = control.post("/_sim/faults", json={"status": 503, "count": 1, "path_prefix": "/symbols"})
    assert armed.status_code == 201
    assert api.get("strategies").status_code == 200
    failed = api.get("symbols")
    assert failed.status_code == 503
    assert failed.json()["error"]["message"] == "injected fault: HTTP 503"
    assert api.get("symbols").status_code == 200

    control.post("/_sim/faults", json={"status": 429, "count": 1, "retry_after": 2})
    limited = api.get("strategies")
    assert (limited.status_code, limited.headers["Retry-After"]) == (429, "2")

    control.post("/_sim/faults", json={"malformed": True, "count": 1})
    garbled = api.get("strategies")
    assert garbled.status_code == 200
    with pytest.raises(ValueError, match="Expecting value"):
        garbled.json()

    control.post("/_sim/faults", json={"status": 500, "count": 5})
    assert len(control.get("/_sim/faults").json()["data"]["armed"]) == 1
    control.delete("/_sim/faults")
    assert api.get("strategies").status_code == 200


def test_invalid_fault_specs_are_refused(control):
    assert control.post("/_sim/faults", json={"status": 503, "malformed": True}).status_code == 422
    assert control.post("/_sim/faults", json={"count": 1}).status_code == 422
    assert control.post("/_sim/faults", json={"status": 200}).status_code == 422


def test_background_ticker_produces_reports():
    with (
        running_lona_stand_in(symbols=("AAPL",), n_strategies=2, report_interval_s=0.2) as running,
        httpx.Client(base_url=running.root_url) as http,
    ):
        first = http.get("/_sim/state").json()["data"]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            state = http.get("/_sim/state").json()["data"]
            if state["ticks"] >= 3:
                break
            time.sleep(0.1)
    assert state["ticks"] >= 3
    assert state["reports"] == first["reports"] + state["ticks"] - first["ticks"]
    assert state["revealed_bars"] == WorldConfig.initial_bars + state["ticks"]


def test_stand_in_is_gone_after_the_block():
    with running_lona_stand_in(symbols=("AAPL",), n_strategies=1) as running:
        assert httpx.get(f"{running.root_url}/health").status_code == 200
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{running.root_url}/health")


def test_a_dying_stand_in_reports_its_output():
    with pytest.raises(StandInStartError, match="n_strategies"), running_lona_stand_in(n_strategies=0):
        pass


def test_waiting_for_nothing_times_out():
    started = time.monotonic()
    with pytest.raises(StandInStartError, match=r"not healthy after 0\.3s"):
        wait_until_healthy(f"http://127.0.0.1:{free_port()}/health", timeout_s=0.3)
    assert time.monotonic() - started < 3


def test_a_process_logging_to_a_file_path_is_reported_with_its_output(tmp_path):
    """How ``nexus stack`` waits: the log is a path its detached services append to."""
    log = tmp_path / "service.log"
    with log.open("ab") as sink:
        process = subprocess.Popen(
            [sys.executable, "-c", "print('port already in use'); raise SystemExit(3)"],
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    process.wait(timeout=10)
    with pytest.raises(StandInStartError, match=r"(?s)exited with code 3.*port already in use"):
        wait_until_healthy(f"http://127.0.0.1:{free_port()}/health", timeout_s=5, process=process, log=log)


@pytest.mark.parametrize("module", ["nexus_assets.sim.lona_server", "nexus_assets.sim.live_engine_server"])
def test_a_stand_in_refuses_an_empty_symbol_list_naming_the_option(module):
    result = subprocess.run(
        [sys.executable, "-m", module, "--symbols", " , "], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "argument --symbols: give at least one symbol name" in result.stderr

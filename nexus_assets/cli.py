"""The `nexus` command: run the local stack and the stand-ins.

Subcommand names are a public interface: scripts and other systems call them.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from nexus_assets import stack


def _up(args: argparse.Namespace) -> int:
    config = stack.StackConfig(
        dagster_port=args.dagster_port,
        lona_port=args.lona_port,
        live_engine_port=args.live_engine_port,
        serving_port=args.serving_port,
        lona_report_interval_s=args.lona_report_interval,
    )
    stack.start(config)
    if not args.no_materialize:
        run_id = stack.launch_main_job(config)
        print(f"launched {stack.MAIN_JOB}: {config.dagster_url}/runs/{run_id}")
    print(f"Dagster UI:         {config.dagster_url}")
    print(f"Lona stand-in:      {config.lona_url}")
    print(
        f"Live Engine stand-in: {config.live_engine_url}/api/internal (orders: {config.live_engine_url}/_sim/orders)"
    )
    print(f"Decision service:   {config.serving_url}/docs (token: NEXUS_API_TOKENS or dev-nexus-token)")
    print(f"Operator console:   {config.serving_url}/console (sign in with the same token)")
    print("Stop everything with: make stop")
    return 0


def _down(args: argparse.Namespace) -> int:
    stopped = stack.stop(stack.StackConfig())
    print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
    return 0


def _lona_sim(arguments: Sequence[str]) -> int:
    from nexus_assets.sim import lona_server

    lona_server.main(list(arguments))
    return 0


def _live_engine_sim(arguments: Sequence[str]) -> int:
    from nexus_assets.sim import live_engine_server

    live_engine_server.main(list(arguments))
    return 0


def _forecast_volatility(args: argparse.Namespace) -> int:
    from nexus_assets.volatility_cli import run

    return run(args)


def _serve(args: argparse.Namespace) -> int:
    import os

    from pydantic import ValidationError

    from nexus_serving.metrics import multiprocess_metrics
    from nexus_serving.server_config import connection_options, serve, server_config
    from nexus_serving.settings import get_settings

    try:
        settings = get_settings()
    except ValidationError as exc:
        print(f"nexus serve: invalid settings: {exc.errors()[0]['msg']}", file=sys.stderr)
        return 2
    if args.bootstrap:
        from nexus_assets.bootstrap import ensure_champions

        if settings.tracking_uri:
            os.environ["MLFLOW_TRACKING_URI"] = settings.tracking_uri
        ensure_champions()
    workers = args.workers or settings.workers
    # Worker processes split the cores: native thread pools sized for the whole machine would
    # oversubscribe it (spawned workers inherit the environment before importing anything).
    per_worker = str(max(1, (os.cpu_count() or 1) // workers))
    for variable in ("POLARS_MAX_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(variable, per_worker)
    config = server_config(
        "nexus_serving.main:create_app",
        factory=True,
        host=args.host or settings.host,
        port=args.port or settings.port,
        workers=workers,
        access_log=settings.access_log,
        **connection_options(settings),
    )
    with multiprocess_metrics(workers):  # one scrape of any worker covers them all
        return serve(config)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nexus", description="Trade Nexus command line.")
    commands = parser.add_subparsers(dest="command", required=True)

    up = commands.add_parser("up", help="start the local stack (Dagster UI + daemon, Lona stand-in)")
    up.add_argument("--dagster-port", type=int, default=3000)
    up.add_argument("--lona-port", type=int, default=8765)
    up.add_argument("--live-engine-port", type=int, default=8766)
    up.add_argument("--serving-port", type=int, default=8000)
    up.add_argument(
        "--lona-report-interval",
        type=float,
        default=20.0,
        help="seconds between the Lona stand-in's new reports (new bars and signals)",
    )
    up.add_argument("--no-materialize", action="store_true", help="do not launch the main job")
    up.set_defaults(handler=_up)

    down = commands.add_parser("down", help="stop what `nexus up` started")
    down.set_defaults(handler=_down)

    forecast = commands.add_parser(
        "forecast-volatility", help="walk-forward next-bar variance forecasts for one symbol's bars file"
    )
    forecast.add_argument(
        "--bars", required=True, help="CSV or Parquet: date (or timestamp), open, high, low, close[, volume]"
    )
    forecast.add_argument("--out", required=True, help="CSV to write, columns date,variance")
    forecast.add_argument(
        "--warmup", type=int, default=500, help="bars before the first forecast (default 500)"
    )
    forecast.add_argument("--refit-every", type=int, default=21, help="bars between refits (default 21)")
    forecast.add_argument(
        "--window",
        choices=("expanding", "rolling"),
        default="expanding",
        help="training window (default expanding)",
    )
    forecast.set_defaults(handler=_forecast_volatility)

    backtest = commands.add_parser(
        "backtest",
        help="replay the served decision path walk-forward on a price file and signals; write the weights",
    )
    from nexus_assets import backtest_cli

    backtest_cli.add_arguments(backtest)
    backtest.set_defaults(handler=backtest_cli.run)

    publish = commands.add_parser(
        "publish",
        help="send one allocation (symbol,target_weight,price CSV) to the Live Engine, exactly once",
    )
    from nexus_assets import publish_cli

    publish_cli.add_arguments(publish)
    publish.set_defaults(handler=publish_cli.run)

    # Listed for --help; its own arguments are parsed by the stand-in (main() hands them over).
    serve = commands.add_parser("serve", help="run the decision service (FastAPI under uvicorn)")
    serve.add_argument("--host", help="bind address (default NEXUS_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default NEXUS_PORT or 8000)")
    serve.add_argument("--workers", type=int, help="worker processes (default NEXUS_WORKERS or 1)")
    serve.add_argument(
        "--bootstrap",
        action="store_true",
        help="first train and register small models on simulated data for any model without a champion",
    )
    serve.set_defaults(handler=_serve)

    commands.add_parser("lona-sim", help="run the Lona gateway stand-in (see `nexus lona-sim --help`)")
    commands.add_parser(
        "live-engine-sim", help="run the Live Engine stand-in (see `nexus live-engine-sim --help`)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["lona-sim"]:
        return _lona_sim(arguments[1:])
    if arguments[:1] == ["live-engine-sim"]:
        return _live_engine_sim(arguments[1:])
    args = build_parser().parse_args(arguments)
    handler: Callable[[argparse.Namespace], int] = args.handler
    return handler(args)


if __name__ == "__main__":
    sys.exit(main())

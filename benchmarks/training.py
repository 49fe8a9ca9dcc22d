"""LSTM training throughput and time on the default demo universe (8 simulated symbols x 1,260 bars).

Prints samples per second for training, the time of the whole walk-forward (3 folds) that the
`price_predictor` asset runs, and one-window inference latency of the eager model and the ONNX
artifact. Training runs on the CPU (the project pins torch's CPU build).
Run: `.venv/bin/python benchmarks/training.py`.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from nexus_assets.ml.features import compute_features
from nexus_assets.ml.predictor.config import LstmConfig
from nexus_assets.ml.predictor.evaluation import walk_forward_folds, walk_forward_train
from nexus_assets.ml.predictor.lstm import predict, train_predictor
from nexus_assets.ml.predictor.onnx_export import OnnxPredictor, export_onnx
from nexus_assets.ml.predictor.sequences import build_sequences
from nexus_assets.sim.market import MarketSimConfig, simulate_market


def latency_ms(fn, x: np.ndarray, calls: int = 2000) -> tuple[float, float]:
    for _ in range(100):
        fn(x)
    samples = []
    for _ in range(calls):
        start = time.perf_counter()
        fn(x)
        samples.append((time.perf_counter() - start) * 1e3)
    samples.sort()
    return statistics.median(samples), samples[int(0.99 * len(samples))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=8)
    parser.add_argument("--bars", type=int, default=1260)
    args = parser.parse_args()

    symbols = tuple(f"S{i:02d}" for i in range(args.symbols))
    features = compute_features(simulate_market(MarketSimConfig(symbols=symbols, n_bars=args.bars, seed=7)))
    config = LstmConfig()
    data = build_sequences(features, config.window)
    print(
        f"device: {'cuda' if torch.cuda.is_available() else 'cpu'}, torch threads: {torch.get_num_threads()}"
    )
    print(
        f"data: {args.symbols} symbols x {args.bars} bars -> {len(data):,} windows of {data.x.shape[1]}x{data.x.shape[2]}"
    )

    fold = walk_forward_folds(data, folds=1)[0]
    epochs: list[float] = []
    last = time.perf_counter()

    def on_epoch(epoch: int, train_loss: float, validation_loss: float) -> None:
        nonlocal last
        now = time.perf_counter()
        epochs.append(now - last)
        last = now

    start = time.perf_counter()
    trained = train_predictor(fold.train, fold.validation, config, on_epoch)
    single = time.perf_counter() - start
    per_epoch = statistics.median(epochs)
    print(
        f"one fold: {len(fold.train):,} training windows, {len(epochs)} epochs in {single:.2f} s; "
        f"median epoch {per_epoch:.3f} s = {len(fold.train) / per_epoch:,.0f} samples/s (incl. validation)"
    )

    start = time.perf_counter()
    walk_forward_train(data, config, folds=3)
    print(f"walk-forward, 3 folds (what price_predictor trains): {time.perf_counter() - start:.2f} s")

    window = fold.test.x[:1]
    torch.set_num_threads(1)
    eager = latency_ms(lambda x: predict(trained.model, x), window)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "p.onnx"
        export_onnx(trained.model, path, fold.test.x)
        onnx = latency_ms(OnnxPredictor(path).predict, window)
    print(
        f"one-window inference, 1 thread: eager p50 {eager[0]:.3f} ms p99 {eager[1]:.3f} ms; "
        f"ONNX Runtime p50 {onnx[0]:.3f} ms p99 {onnx[1]:.3f} ms"
    )


if __name__ == "__main__":
    main()

"""The predictor's serving artifact: ONNX, run by ONNX Runtime, checked equal to the eager model.

ONNX Runtime runs the small LSTM several times faster than eager PyTorch for one request and
loads without torch, which keeps the serving path lean.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from torch import nn

from nexus_assets.ml.predictor.lstm import predict

INPUT_NAME = "features"
OUTPUT_NAME = "predicted_return"
PARITY_TOLERANCE = 1e-5
"""Largest absolute difference (in log return) allowed between ONNX and eager outputs."""


class ArtifactMismatchError(RuntimeError):
    """The exported artifact does not reproduce the eager model."""


def export_onnx(model: nn.Module, path: Path, example: np.ndarray) -> None:
    """Write ``model`` to ``path`` with a dynamic batch axis."""
    model.eval()
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        # The exporter warns that LSTMs exported at one batch size may fail at another; the
        # parity check below runs batch sizes 1 and many, so a real problem cannot slip through.
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.onnx.export(
            model,
            (torch.from_numpy(example[:2]),),
            str(path),
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
            dynamo=False,
        )


class OnnxPredictor:
    """ONNX Runtime session for the predictor; one intra-op thread suits one small request."""

    def __init__(self, path: Path, threads: int = 1) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        shape = self.session.get_inputs()[0].shape
        self.window, self.n_features = int(shape[1]), int(shape[2])

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.session.run([OUTPUT_NAME], {INPUT_NAME: np.ascontiguousarray(x, dtype=np.float32)})[0]


def check_parity(model: nn.Module, artifact: OnnxPredictor, sample: np.ndarray) -> float:
    """Largest difference between eager and ONNX outputs, over one row and a batch; raises if too big."""
    worst = 0.0
    for batch in (sample[:1], sample):
        worst = max(worst, float(np.abs(artifact.predict(batch) - predict(model, batch)).max()))
    if not worst <= PARITY_TOLERANCE:
        raise ArtifactMismatchError(f"ONNX artifact differs from the eager model by {worst:.3g}")
    return worst

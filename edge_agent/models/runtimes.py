"""Inference runtimes: onnxruntime (TensorRT / CUDA / CPU provider selection) and a Hailo plug-in.

onnxruntime and HailoRT are imported when first needed; a missing one raises
:class:`RuntimeUnavailable` chained to the original ``ImportError`` with what to install.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from edge_agent.errors import ModelFileError, RuntimeUnavailable

RuntimeName = Literal["auto", "cpu", "cuda", "tensorrt"]
_PREFERENCE: dict[str, tuple[str, ...]] = {
    "auto": ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"),
    "tensorrt": ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"),
    "cuda": ("CUDAExecutionProvider", "CPUExecutionProvider"),
    "cpu": ("CPUExecutionProvider",),
}


def _ort() -> Any:
    try:
        return importlib.import_module("onnxruntime")
    except ImportError as err:
        raise RuntimeUnavailable("onnxruntime is not installed; `pip install vad-edge` (CPU) or "
                                 "`pip install 'vad-edge[gpu]'` (CUDA/TensorRT)") from err


def available_providers() -> list[str]:
    return list(_ort().get_available_providers())


def choose_providers(runtime: RuntimeName = "auto") -> list[str]:
    """Providers to use, best first. Asking for cuda/tensorrt without them is an error."""
    if runtime not in _PREFERENCE:
        raise RuntimeUnavailable(f"unknown runtime {runtime!r}; allowed: {sorted(_PREFERENCE)}")
    have = set(available_providers())
    chosen = [p for p in _PREFERENCE[runtime] if p in have]
    if runtime in ("cuda", "tensorrt") and chosen[:1] != [_PREFERENCE[runtime][0]]:
        raise RuntimeUnavailable(f"runtime {runtime!r} asked for but onnxruntime offers only {sorted(have)}; "
                                 "install `vad-edge[gpu]` (onnxruntime-gpu) on a machine with CUDA")
    return chosen


def onnx_session(path: Path | str, runtime: RuntimeName = "auto", threads: int = 1) -> Any:
    """An ``onnxruntime.InferenceSession`` for a user-supplied model file (errors name the file)."""
    ort = _ort()
    p = Path(path)
    if not p.is_file():
        raise ModelFileError(f"ONNX model file {p} does not exist")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    try:
        return ort.InferenceSession(str(p), sess_options=opts, providers=choose_providers(runtime))
    except RuntimeUnavailable:
        raise
    except Exception as err:  # onnxruntime raises its own Fail/InvalidGraph/... classes
        raise ModelFileError(f"cannot load ONNX model {p}: {str(err).splitlines()[0]}") from err


def check_input(session: Any, path: Path | str, expected: Sequence[int | str | None]) -> list[int | str | None]:
    """Compare the session's first input shape with ``expected``; None in expected = any value.

    A dimension the model leaves symbolic (str/None) matches anything. Wrong rank or a fixed
    dimension that differs raises :class:`ModelFileError` naming the file and both shapes.
    """
    inp = session.get_inputs()[0]
    actual = list(inp.shape)
    ok = len(actual) == len(expected) and all(
        e is None or isinstance(a, str) or a is None or a == e for a, e in zip(actual, expected, strict=True))
    if not ok:
        shown = ["any" if e is None else e for e in expected]
        raise ModelFileError(f"ONNX model {path}: input {inp.name!r} has shape {actual}; expected {shown}")
    return actual


class HailoRuntime:
    """Runs a compiled ``.hef`` on a Hailo accelerator through HailoRT (``hailo_platform``)."""

    def __init__(self, hef_path: Path | str) -> None:
        try:
            hailo = importlib.import_module("hailo_platform")
        except ImportError as err:
            raise RuntimeUnavailable("Hailo runtime not available: install HailoRT and its Python wheel "
                                     "(`hailo_platform`, from the Hailo developer zone) on the device") from err
        p = Path(hef_path)
        if not p.is_file():
            raise ModelFileError(f"Hailo model file {p} does not exist")
        self.hef = hailo.HEF(str(p))
        self.device = hailo.VDevice()
        self.network_groups = self.device.configure(self.hef)
        self.inputs = [i.name for i in self.hef.get_input_vstream_infos()]
        self.outputs = [o.name for o in self.hef.get_output_vstream_infos()]


def hailo_status() -> tuple[bool, str]:
    """(available, detail) for ``vad-edge doctor``."""
    try:
        mod = importlib.import_module("hailo_platform")
    except ImportError as err:
        return False, f"hailo_platform not importable ({err})"
    return True, f"hailo_platform {getattr(mod, '__version__', '?')}"


def one_thread_per_camera() -> None:
    """OpenCV and the BLAS behind numpy run each call on the calling thread only.

    Every camera has a thread of its own, and the models' per-frame work (a few small crops, a
    kNN over a few thousand rows) is far too small to split: on a 2-core box a multi-threaded BLAS
    made the appearance model's kNN 4x slower (0.9 -> 4 ms) while anything else was running.
    Not for training, where torch and large matrices do use the cores."""
    import cv2

    cv2.setNumThreads(1)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # optional: without it numpy keeps its default threads
        return
    threadpool_limits(1, user_api="blas")

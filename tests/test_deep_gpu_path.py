"""The GPU path, checked on a CPU: the autocast dtype per device capability, a training
step without host syncs, losses fetched every ``log_every`` steps, weights checked
before any image is decoded, and ``deterministic=true`` in a fresh process and in a
multi-method run."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
import warnings
from pathlib import Path
from typing import Any

import pytest
import torch
import torchvision
from torch.utils._python_dispatch import TorchDispatchMode

import reidbench.methods.deep.zoo  # noqa: F401  (registers the deep methods)
from reidbench.data.sysu import SysuDataset
from reidbench.errors import ReidbenchError
from reidbench.methods.base import RunContext
from reidbench.methods.deep.engine import Engine
from reidbench.methods.deep.meter import StepMeter
from reidbench.methods.deep.task import Amp, amp_dtype
from reidbench.registry import create_method
from reidbench.runner import RunOptions, run

FAST = {"backbone": "resnet_tiny", "input": "cpu_64x32", "steps": 12, "eval_every": 6,
        "ids_per_batch": 4, "imgs_per_modality": 2}


def context(tmp_path: Path, work: str = "work") -> RunContext:
    return RunContext(seed=3, device="cpu", cache_dir=tmp_path / "cache", work_dir=tmp_path / work, progress=False)


# ------------------------------------------------------------------ autocast dtype
@pytest.mark.parametrize("capability, dtype", [((7, 0), torch.float16), ((7, 5), torch.float16),
                                               ((8, 0), torch.bfloat16), ((9, 0), torch.bfloat16)])
def test_auto_amp_is_bf16_only_where_the_runs_own_device_has_it(capability: tuple[int, int], dtype: torch.dtype,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[Any] = []

    def capability_of(device: Any = None) -> tuple[int, int]:
        asked.append(device)
        return capability

    def current_device_query(*args: Any, **kwargs: Any) -> bool:
        raise AssertionError("asked the current device, not the run's")

    monkeypatch.setattr(torch.cuda, "get_device_capability", capability_of)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", current_device_query)
    run_device = torch.device("cuda", 1)
    assert amp_dtype("auto", run_device) == dtype
    assert asked == [run_device]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a GradScaler made on a machine without CUDA warns and idles
        amp = Amp("auto", run_device, ["g", "d"])
    assert amp.dtype == dtype and amp.mode == ("fp16" if dtype == torch.float16 else "bf16")
    assert set(amp.scalers) == ({"g", "d"} if dtype == torch.float16 else set())  # fp16: one scaler each
    assert amp_dtype("fp16", run_device) == torch.float16 and amp_dtype("off", run_device) is None
    if capability < (8, 0):
        with pytest.raises(ReidbenchError, match="amp=bf16 needs compute capability 8.0"):
            amp_dtype("bf16", run_device)


def test_cpu_runs_stay_in_float32() -> None:
    amp = Amp("auto", torch.device("cpu"), ["g"])
    assert amp.mode == "off" and amp.dtype is None and amp.scalers == {}
    assert amp_dtype("bf16", torch.device("cpu")) is None


# ------------------------------------------------------------------ sync-free step
class _NoHostSync(TorchDispatchMode):
    """Fails on every op that makes the host wait for the device (on a GPU) or has a data-dependent shape."""

    SYNCING = {"aten::_local_scalar_dense", "aten::nonzero", "aten::nonzero_static", "aten::masked_select",
               "aten::_unique2", "aten::unique_dim", "aten::unique_consecutive", "aten::is_nonzero",
               "aten::equal", "aten::allclose", "aten::repeat_interleave"}

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        name = func._schema.name
        bool_index = name in ("aten::index", "aten::index_put", "aten::index_put_", "aten::_index_put_impl_") and \
            any(t is not None and t.dtype == torch.bool for t in args[1])
        if name in self.SYNCING or bool_index:
            raise AssertionError(f"host sync inside the training step: {name}")
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("name, extra", [("cmgan", {"mining": "random"}), ("cmgan", {"mining": "batch_hard"}),
                                         ("two_stream", {}), ("agw", {})])
def test_a_training_step_never_waits_for_the_device(name: str, extra: dict[str, Any], tiny: SysuDataset,
                                                    tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    inside = {"steps": 0, "now": False}

    def forbidden(method: str) -> Any:
        real = getattr(torch.Tensor, method)

        def guarded(self: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
            if inside["now"]:
                raise AssertionError(f"Tensor.{method}() inside the training step")
            return real(self, *args, **kwargs)
        return guarded

    for method in ("item", "tolist", "numpy", "cpu", "__bool__", "__float__", "__int__"):
        monkeypatch.setattr(torch.Tensor, method, forbidden(method))
    real_step = Engine._train_step

    def guarded_step(self: Engine, *args: Any) -> None:
        inside["now"] = True
        try:
            with _NoHostSync():
                real_step(self, *args)
        finally:
            inside["now"] = False
        inside["steps"] += 1

    monkeypatch.setattr(Engine, "_train_step", guarded_step)
    config = {**FAST, **extra, "log_every": 100}
    if name == "agw":
        config["imgs_per_modality"] = 2
    create_method(name, config).fit(tiny.train, tiny.val, context(tmp_path))
    assert inside["steps"] == 12


def test_losses_reach_the_log_every_log_every_steps_without_changing_training(
        tiny: SysuDataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fetched: list[int] = []
    real_fetch = StepMeter.fetch

    def counting_fetch(self: StepMeter, *args: Any) -> Any:
        fetched.append(len(self.pending))
        return real_fetch(self, *args)

    monkeypatch.setattr(StepMeter, "fetch", counting_fetch)
    every_4 = create_method("cmgan", {**FAST, "log_every": 4})
    every_4.fit(tiny.train, tiny.val, context(tmp_path, "a"))
    assert fetched == [4, 2, 2, 4]  # steps 4, 6 (validation), 8, 12 (validation and end)
    every_1 = create_method("cmgan", {**FAST, "log_every": 1})
    every_1.fit(tiny.train, tiny.val, context(tmp_path, "b"))
    log_a, log_b = ((tmp_path / w / "losses.csv").read_text() for w in "ab")
    assert log_a == log_b and len(log_a.splitlines()) == 13
    wa, wb = (m.engine.task.networks["generator"].state_dict() for m in (every_4, every_1))
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


# ------------------------------------------------------------------ weights before decoding
def _offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def no_network(*args: Any, **kwargs: Any) -> None:
        raise urllib.error.URLError("no route to host")

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # nothing cached there
    monkeypatch.setattr(urllib.request, "urlopen", no_network)


def test_missing_imagenet_weights_stop_a_run_before_any_image_is_decoded(
        tiny_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _offline(monkeypatch, tmp_path)
    cache = tmp_path / "cache"
    for overrides, expected in (({"preset": "paper"}, "cannot be downloaded"),
                                ({"weights": "imagenet", "backbone": "resnet18"}, "cannot be downloaded"),
                                ({"weights": str(tmp_path / "missing.pth")}, "weights file not found")):
        with pytest.raises(ReidbenchError) as err:
            run(RunOptions(methods=["cmgan"], data=tiny_root, results=tmp_path / "r", cache=cache, progress=False,
                           device="cpu", overrides={"cmgan": overrides}))
        message = str(err.value)
        assert expected in message and "\n" not in message
        if "download" in expected:
            assert "offline" in message and "--set weights=PATH" in message and "--set weights=none" in message
    assert not (cache / "validated").exists() and not (cache / "deep_decoded").exists()


def test_the_engine_loads_weights_before_decoding_training_images(
        tiny: SysuDataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # preset=auto decides on the device, so only the engine can check: it builds the networks first
    (tmp_path / "torch" / "hub" / "checkpoints").mkdir(parents=True)
    (tmp_path / "torch" / "hub" / "checkpoints" / "resnet18-f37072fd.pth").write_bytes(b"broken")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))

    def unreadable(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("invalid hash")

    monkeypatch.setattr(torchvision.models.WeightsEnum, "get_state_dict", unreadable)
    method = create_method("one_stream", {**FAST, "backbone": "resnet18", "weights": "imagenet"})
    with pytest.raises(ReidbenchError, match="weights=none"):
        method.fit(tiny.train, tiny.val, context(tmp_path))
    assert not (tmp_path / "cache" / "deep_decoded").exists()


# ------------------------------------------------------------------ determinism
DETERMINISTIC_RUN = """
import json, sys
import torch
from pathlib import Path
from reidbench.runner import RunOptions, run

data, out = Path(sys.argv[1]), Path(sys.argv[2])
small = {"backbone": "resnet_tiny", "input": "cpu_64x32", "steps": 8, "eval_every": 4, "imgs_per_modality": 2}
digests = {}
for cache, methods in (("c1", ["cmgan", "two_stream", "agw"]), ("c2", ["agw", "cmgan"])):
    overrides = {m: {**small, "deterministic": m != "two_stream"} for m in methods}
    for path in run(RunOptions(methods=methods, data=data, results=out / cache, cache=out / cache, progress=False,
                               device="cpu", modes=("all",), shots=("single",), overrides=overrides)):
        result = json.loads(path.read_text())
        digest = result["settings"]["all-single"]["embeddings_digest"]
        digests.setdefault(result["method"]["name"], []).append(digest)
print(json.dumps({"digests": digests, "deterministic_after": torch.are_deterministic_algorithms_enabled()}))
"""


def test_deterministic_runs_in_a_fresh_process_and_beside_other_methods(tiny_root: Path, tmp_path: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    done = subprocess.run([sys.executable, "-c", DETERMINISTIC_RUN, str(tiny_root), str(tmp_path)], env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert not out["deterministic_after"]  # the global setting comes back after each method
    for name in ("cmgan", "agw"):  # trained first, last, after a non-deterministic method: the same features
        first, second = out["digests"][name]
        assert first == second, name

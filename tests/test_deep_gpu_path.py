"""The GPU path, checked on a CPU: the autocast dtype per device capability, a training
step without host syncs, losses fetched every ``log_every`` steps, weights checked
before any image is decoded, ``deterministic=true`` in a fresh process and in a
multi-method run, float32 features, heads and losses under (CPU bf16) autocast, the
fp16-safe non-local block, ``compile=true`` against the eager step, progress bars from
rank 0 only and DDP without per-forward buffer broadcasts."""
from __future__ import annotations

import csv
import json
import math
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
from reidbench import runner
from reidbench.data.sysu import SysuDataset
from reidbench.errors import ReidbenchError
from reidbench.methods.base import RunContext
from reidbench.methods.deep import engine as engine_module
from reidbench.methods.deep.agw import NonLocal
from reidbench.methods.deep.data import get_profile
from reidbench.methods.deep.distributed import DistInfo
from reidbench.methods.deep.engine import COMPILE_OPTIONS, Engine, EngineSettings
from reidbench.methods.deep.meter import StepMeter
from reidbench.methods.deep.task import Amp, Batch, amp_dtype
from reidbench.registry import create_method
from reidbench.runner import RunOptions, run

FAST = {"backbone": "resnet_tiny", "input": "cpu_64x32", "steps": 12, "eval_every": 6,
        "ids_per_batch": 4, "imgs_per_modality": 2}


def context(tmp_path: Path, work: str = "work") -> RunContext:
    return RunContext(seed=3, device="cpu", cache_dir=tmp_path / "cache", work_dir=tmp_path / work, progress=False)


# ------------------------------------------------------------------ autocast dtype
@pytest.mark.parametrize("capability, dtype", [((5, 2), None), ((6, 1), None), ((7, 0), torch.float16),
                                               ((7, 5), torch.float16), ((8, 0), torch.bfloat16),
                                               ((9, 0), torch.bfloat16)])
def test_auto_amp_is_bf16_only_where_the_runs_own_device_has_it(capability: tuple[int, int],
                                                                 dtype: torch.dtype | None,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """bf16 from 8.0, fp16 on 7.x (tensor cores), float32 below (Pascal gains nothing from fp16)."""
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
    assert amp.dtype == dtype and amp.mode == {torch.float16: "fp16", torch.bfloat16: "bf16", None: "off"}[dtype]
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


# ------------------------------------------------------------------ float32 where numbers are decided
def _task(name: str, extra: dict[str, Any] | None = None) -> Any:
    method = create_method(name, {**FAST, **(extra or {})})
    torch.manual_seed(0)
    return method.build_task(method.resolved_config("cpu"), 4, torch.device("cpu"), progress=False)


def _bf16_batch() -> Batch:
    """Two identities x 2 images per modality, RGB rows first, as the engine builds a batch."""
    torch.manual_seed(1)
    return Batch(torch.rand(8, 3, 64, 32), torch.tensor([0, 0, 1, 1] * 2), torch.tensor([0] * 4 + [1] * 4), 4)


def _trunk_dtypes(net: torch.nn.Module) -> list[torch.dtype]:
    """Records the dtype of every trunk convolution's output (to show that autocast did act); a
    non-local block's output projection runs in float32 by design."""
    seen: list[torch.dtype] = []
    for name, m in net.named_modules():
        if isinstance(m, torch.nn.Conv2d) and ".out." not in name:
            m.register_forward_hook(lambda mod, args, out: seen.append(out.dtype))
    return seen


@pytest.mark.parametrize("name, extra", [("cmgan", {}), ("cmgan", {"embedding": "fc", "normalize": "false"}),
                                         ("one_stream", {}), ("two_stream", {}), ("asym_fc", {}),
                                         ("zero_padding", {}), ("agw", {})])
def test_pooled_features_heads_and_embeddings_are_float32_under_cpu_bf16_autocast(
        name: str, extra: dict[str, Any]) -> None:
    task, batch = _task(name, extra), _bf16_batch()
    net = next(iter(task.networks.values()))
    trunk = _trunk_dtypes(net)
    outputs: list[torch.Tensor] = []
    with torch.autocast("cpu", dtype=torch.bfloat16):
        task.train(True)
        if name == "cmgan":
            feat, logits = net(batch.images, batch.modalities)
            outputs += [feat, logits, net.features(batch.images, batch.modalities), task.discriminator(feat)]
        elif name == "agw":
            outputs += list(net(batch.images, batch.modalities, batch.n_rgb))  # pooled, BNNeck, logits
        else:
            outputs += [net(batch.images, batch.modalities, batch.n_rgb),
                        net.features(batch.images, batch.modalities, batch.n_rgb)]
        task.train(False)
        with torch.no_grad():
            outputs.append(task.embed(batch.images, batch.modalities, batch.n_rgb))
    assert trunk and set(trunk) == {torch.bfloat16}  # the convolutions did run in bf16
    assert [t.dtype for t in outputs] == [torch.float32] * len(outputs)


@pytest.mark.parametrize("name", ["cmgan", "two_stream", "agw"])
def test_every_logged_loss_is_float32_when_training_under_bf16(name: str) -> None:
    task, batch = _task(name, {"k_gen": 1} if name == "cmgan" else {}), _bf16_batch()
    amp = Amp("off", torch.device("cpu"), list(task.optimizers))
    amp.dtype = torch.bfloat16  # CPU runs never pick bf16 themselves; the autocast path is the GPU's
    task.train(True)
    for step in range(2):  # cmGAN with k_gen=1: a generator step, then a discriminator step
        _, values = task.train_step(step, batch, task.networks, amp)
        logged = {k: v for k, v in values.items() if torch.is_tensor(v)}
        assert logged and all(v.dtype == torch.float32 and torch.isfinite(v) for v in logged.values()), logged


def _old_nonlocal(block: NonLocal, x: torch.Tensor) -> torch.Tensor:
    """The block as it was: theta.phi^T formed in the autocast dtype and only then divided by N."""
    b, _, h, w = x.shape

    def positions(t: torch.Tensor) -> torch.Tensor:
        return t.permute(0, 2, 3, 1).reshape(b, h * w, -1)

    attention = positions(block.theta(x)) @ positions(block.phi(x)).transpose(1, 2) / (h * w)
    y = (attention @ positions(block.g(x))).reshape(b, h, w, -1).permute(0, 3, 1, 2)
    return x + block.out(y)


def test_the_nonlocal_block_survives_fp16_where_the_old_form_overflows() -> None:
    block = NonLocal(8)
    with torch.no_grad():
        for conv in (block.theta, block.phi, block.g):  # grown 1x1 weights: theta.phi reaches ~1e5
            conv.weight.fill_(1.0)
            conv.bias.zero_()
        block.out[1].weight.fill_(1.0)  # a trained block, not the identity it starts as
    x = 40 * torch.rand(2, 8, 6, 4, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        reference = block(x)
        assert torch.equal(_old_nonlocal(block, x), reference)  # float32: the same numbers as before
        with torch.autocast("cpu", dtype=torch.float16):  # the residual stream reaches the block in fp16
            old, new = _old_nonlocal(block, x.half()), block(x.half())
    assert not torch.isfinite(old).all()
    assert new.dtype == torch.float16 and torch.isfinite(new).all()
    assert torch.allclose(new.float(), reference, rtol=1e-2, atol=0.05)


# ------------------------------------------------------------------ compile=true
def _losses(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def test_the_compiled_training_step_gives_the_eager_steps_losses_and_weights(
        tiny: SysuDataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """cmGAN's generator and discriminator steps with ``compile=true``. On the CPU torch.compile runs
    AOTAutograd's eager backend here (the forward and backward graphs captured as on CUDA, run by ATen):
    inductor's C++ code generation takes over a minute on 2 cores. No validation: it embeds with the
    plain modules either way."""
    graphs: list[Any] = []

    def counting_backend(gm: torch.fx.GraphModule, inputs: list[torch.Tensor]) -> Any:
        graphs.append(gm)
        return torch._dynamo.lookup_backend("aot_eager")(gm, inputs)

    monkeypatch.setitem(COMPILE_OPTIONS, "cpu", {"backend": counting_backend})
    config = {**FAST, "steps": 3, "eval_every": 3, "k_gen": 2, "log_every": 1}  # gen, gen, dis
    methods = {}
    try:
        for flag in (False, True):
            methods[flag] = create_method("cmgan", {**config, "compile": flag})
            methods[flag].fit(tiny.train, None, context(tmp_path, f"compile-{flag}"))
    finally:
        torch._dynamo.reset()
    assert len(graphs) >= 3  # the generator with and without gradients, the discriminator
    eager, compiled = (_losses(tmp_path / f"compile-{flag}" / "losses.csv") for flag in (False, True))
    assert [r["phase"] for r in compiled] == ["gen", "gen", "dis"]
    for a, b in zip(eager, compiled):
        numbers = [k for k, v in a.items() if k not in ("step", "epoch", "phase") and v != ""]
        assert numbers and all(math.isclose(float(a[k]), float(b[k]), rel_tol=1e-4, abs_tol=1e-6) for k in numbers)
    assert methods[True].provenance()["training"]["compile"] is True
    for name, net in methods[False].engine.task.networks.items():
        other = methods[True].engine.task.networks[name].state_dict()
        for key, value in net.state_dict().items():
            assert torch.allclose(value.float(), other[key].float(), rtol=1e-4, atol=1e-6), (name, key)


# ------------------------------------------------------------------ torchrun
@pytest.mark.parametrize("rank, bars", [("0", True), ("1", False)])
def test_under_torchrun_only_rank_0_draws_progress_bars(rank: str, bars: bool, tiny_root: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[bool] = []

    def stop_at_the_dataset(data: Any, dataset: Any, progress: bool = True) -> Any:
        seen.append(progress)  # the flag every later bar (dataset, image check, decode, training) reads
        raise KeyboardInterrupt

    monkeypatch.setenv("RANK", rank)
    monkeypatch.setattr(runner, "load_dataset", stop_at_the_dataset)
    with pytest.raises(KeyboardInterrupt):
        run(RunOptions(methods=["cmgan"], data=tiny_root, results=tmp_path / "r", device="cpu", progress=True))
    assert seen == [bars]


def test_ddp_leaves_buffers_to_the_engines_own_broadcasts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rank 0's BN statistics reach the other ranks before every validation and at the end, not per forward."""
    wrapped: list[dict[str, Any]] = []
    monkeypatch.setattr(engine_module, "DistributedDataParallel", lambda net, **kw: wrapped.append(kw) or net)
    task = _task("cmgan")
    settings = EngineSettings(method="cmgan", config={}, steps=1, eval_every=1, ckpt_every=1, ids_per_batch=2,
                              per_modality=1, profile=get_profile("cpu_64x32"))
    nets = Engine(settings, lambda n, d: task)._wrap(task, DistInfo(rank=0, world_size=2))
    assert set(nets) == {"generator", "discriminator"}
    assert wrapped == [{"device_ids": None, "broadcast_buffers": False}] * 2

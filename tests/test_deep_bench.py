"""``reidbench bench gpu`` without a GPU: a one-line error before any work; and its text table."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from reidbench.data.default import cache_home
from reidbench.errors import ReidbenchError
from reidbench.methods.deep.bench import deep_methods, format_bench, run_gpu_bench


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the machine without a GPU")
def test_without_a_gpu_the_bench_stops_at_once_with_one_line(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    with pytest.raises(ReidbenchError) as err:
        run_gpu_bench(out, minutes=1)
    message = str(err.value)
    assert message.startswith("no CUDA GPU") and "\n" not in message
    assert not out.exists() and not (cache_home() / "datasets").exists()  # no replica generated, nothing written


def test_every_deep_method_is_benched() -> None:
    names = deep_methods()
    assert {"cmgan", "cmgan_triplet_only", "cmgan_id_only", "cmgan_no_adv", "one_stream", "two_stream",
            "asym_fc", "zero_padding", "agw"} <= set(names)


def test_the_report_reads_as_one_line_per_run() -> None:
    ok = {"status": "ok", "train_images_per_s": 3125.4, "embed_images_per_s": 11873.0, "peak_memory_mib": 4321.0,
          "losses_finite": True, "features_finite": True, "resume_ok": True}
    report = {
        "gpu": {"name": "NVIDIA H100 80GB HBM3", "capability": "9.0", "memory_gib": 79.1, "count": 1},
        "setup": {"dataset": "synthetic-small", "steps": 200, "interrupted_at": 100},
        "runs": [{"method": "cmgan", "amp": "bf16", **ok},
                 {"method": "agw", "amp": "fp16", "status": "failed", "error": "RuntimeError: out of memory"},
                 {"method": "one_stream", "amp": "fp16", "status": "skipped", "reason": "time budget spent"}],
        "ddp": {"status": "skipped", "reason": "1 GPU(s); DDP needs 2"},
        "elapsed_s": 312.0, "budget_minutes": 8.0,
    }
    lines = format_bench(report).splitlines()
    assert "NVIDIA H100" in lines[0] and "interrupted at 100" in lines[0]
    cmgan = next(line for line in lines if line.startswith("cmgan "))
    assert cmgan.split()[:3] == ["cmgan", "bf16", "ok"] and "3,125" in cmgan and "11,873" in cmgan
    assert "out of memory" in next(line for line in lines if line.startswith("agw "))
    assert any("time budget spent" in line for line in lines)
    assert lines[-2] == "DDP: skipped (1 GPU(s); DDP needs 2)" and lines[-1].startswith("elapsed 312 s")

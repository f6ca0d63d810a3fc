"""Atomic writes: the target is either the old file or the complete new one."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from reidbench.atomic import atomic_open


def test_success_replaces_the_target_readable_by_others(tmp_path):
    target = tmp_path / "f.npz"
    target.write_bytes(b"old")
    with atomic_open(target) as fh:
        np.savez(fh, x=np.arange(3))
    with np.load(target) as npz:
        assert npz["x"].tolist() == [0, 1, 2]
    assert target.stat().st_mode & 0o777 == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.npz"]  # no temporary left


def test_failure_keeps_the_old_file_and_removes_the_temporary(tmp_path):
    target = tmp_path / "last.pt"
    torch.save({"step": 1}, target)
    with pytest.raises(RuntimeError, match="disk full"):
        with atomic_open(target) as fh:
            fh.write(b"half a checkpoint")
            raise RuntimeError("disk full")
    assert torch.load(target, weights_only=True) == {"step": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]


def test_text_mode(tmp_path):
    with atomic_open(tmp_path / "r.json", "w") as fh:
        fh.write('{"a": 1}\n')
    assert (tmp_path / "r.json").read_text() == '{"a": 1}\n'

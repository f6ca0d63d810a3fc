"""The SYSU-MM01 reader: the layout it accepts and the one-line errors for the rest."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from reidbench.data.sysu import load_sysu
from reidbench.errors import ReidbenchError


def test_reads_the_layout(tiny_root):
    data = load_sysu(tiny_root)
    assert data.ids("test") and data.ids("train") and data.ids("val")
    test = data.test
    assert all(p.startswith(f"cam{c}/{pid:04d}/") for p, c, pid in zip(test.paths, test.cams, test.pids))
    assert list(test.cams) == sorted(test.cams)  # camera-major
    img = test.read(0)
    assert img.ndim == 3 and img.shape[2] == 3 and img.dtype == np.uint8
    assert len(data.fingerprint) == 16 and data.fingerprint == load_sysu(tiny_root).fingerprint


@pytest.fixture
def copy(tiny_root, tmp_path):
    dst = tmp_path / "copy"
    shutil.copytree(tiny_root, dst)
    return dst


def test_missing_root(tmp_path):
    with pytest.raises(ReidbenchError, match="dataset root not found"):
        load_sysu(tmp_path / "nope")


def test_missing_camera_folder(copy):
    shutil.rmtree(copy / "cam4")
    with pytest.raises(ReidbenchError, match="missing camera folder .*cam4"):
        load_sysu(copy)


def test_missing_id_list(copy):
    (copy / "exp" / "val_id.txt").unlink()
    with pytest.raises(ReidbenchError, match="missing ID list: .*val_id.txt"):
        load_sysu(copy)


@pytest.mark.parametrize("text, message", [("1,2,x\n", "'x' is not a person ID"), ("", "empty"),
                                           ("1,2\n3,4\n", "one line"), ("1,1\n", "repeated")])
def test_malformed_id_list(copy, text, message):
    (copy / "exp" / "train_id.txt").write_text(text)
    with pytest.raises(ReidbenchError, match=message):
        load_sysu(copy)


def test_test_identity_without_ir_images(copy):
    pid = int((copy / "exp" / "test_id.txt").read_text().split(",")[0])
    for cam in (3, 6):
        shutil.rmtree(copy / f"cam{cam}" / f"{pid:04d}", ignore_errors=True)
    with pytest.raises(ReidbenchError, match=f"test identity {pid:04d} has no images in the IR cameras"):
        load_sysu(copy)


def test_corrupt_image_names_the_file(copy):
    data = load_sysu(copy)
    bad = copy / data.test.paths[0]
    bad.write_bytes(b"not a jpeg")
    with pytest.raises(ReidbenchError, match=f"corrupt or unreadable image: .*{data.test.paths[0]}"):
        load_sysu(copy).test.read(0)

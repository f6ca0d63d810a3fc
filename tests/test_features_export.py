"""``reidbench features``: a descriptor for every image of a folder, as an npz."""
from __future__ import annotations

import numpy as np
from PIL import Image

from reidbench.cli import main
from reidbench.methods.handcrafted.lomo import LOMO_DIM, lomo


def test_lomo_export_resizes_only_when_needed(tmp_path, capsys):
    rng = np.random.default_rng(0)
    exact = rng.integers(0, 256, (128, 48, 3), dtype=np.uint8)
    other = rng.integers(0, 256, (200, 70, 3), dtype=np.uint8)
    (tmp_path / "imgs" / "sub").mkdir(parents=True)
    Image.fromarray(exact).save(tmp_path / "imgs" / "a.png")
    Image.fromarray(other).save(tmp_path / "imgs" / "sub" / "b.png")
    out = tmp_path / "lomo.npz"
    assert main(["features", "--descriptor", "lomo", "--images", str(tmp_path / "imgs"), "--out", str(out)]) == 0
    npz = np.load(out)
    assert list(npz["paths"]) == ["a.png", "sub/b.png"]
    assert npz["features"].shape == (2, LOMO_DIM) and npz["features"].dtype == np.float32  # the default
    np.testing.assert_array_equal(npz["features"][0], lomo(exact).astype(np.float32))  # 128 x 48: used as it is
    resized = np.asarray(Image.fromarray(other).resize((48, 128), Image.BICUBIC))
    np.testing.assert_array_equal(npz["features"][1], lomo(resized).astype(np.float32))
    assert main(["features", "--descriptor", "lomo", "--images", str(tmp_path / "imgs"), "--out", str(out),
                 "--dtype", "float64"]) == 0
    full = np.load(out)["features"]
    assert full.dtype == np.float64
    np.testing.assert_array_equal(full[0], lomo(exact))


def test_export_errors(tmp_path, capsys):
    assert main(["features", "--descriptor", "lomo", "--images", str(tmp_path / "none"), "--out", "x.npz"]) == 2
    assert "image folder not found" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["features", "--descriptor", "sift", "--images", str(tmp_path / "empty"), "--out", "x.npz"]) == 2
    assert "--descriptor: invalid choice: 'sift'" in capsys.readouterr().err

"""Run in a subprocess by ``test_portability.py`` under one BLAS kernel / SIMD setting.

Prints one JSON object: the tiny replicas' content digests (SYSU-MM01, RegDB, LLCM), the
digest of a slice of the small SYSU-MM01 replica (rendered in memory), and hog_euclidean's
metrics on tiny.
"""
from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path

from reidbench.data import synth, synth_llcm, synth_regdb
from reidbench.runner import RunOptions, run
from reidbench.store import load_results

SMALL_SLICE_STEP = 8  # every 8th (camera, ID) folder of `small`


def small_slice_digest(seed: int = 0) -> str:
    pl, heights = synth.plan("small"), synth.PRESETS["small"].height_range
    h = hashlib.sha256()
    for cam, pid, n in pl.counts[::SMALL_SLICE_STEP]:
        idn = synth.identity(seed, pid)
        for i in range(1, n + 1):
            h.update(hashlib.sha256(synth.encode_jpeg(synth.render(seed, cam, pid, i, heights, idn))).digest())
    return h.hexdigest()


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tiny = synth.generate(Path(tmp) / "tiny", "tiny", seed=0, progress=False)
        run(RunOptions(methods=["hog_euclidean"], data=tiny, results=Path(tmp) / "r", cache=Path(tmp) / "c",
                       progress=False))
        (result,) = load_results(Path(tmp) / "r")
        regdb = synth_regdb.generate(Path(tmp) / "regdb", "tiny", seed=0, progress=False)
        llcm = synth_llcm.generate(Path(tmp) / "llcm", "tiny", seed=0, progress=False)
        out = {"tiny": synth.content_digest(tiny), "regdb_tiny": synth.content_digest(regdb),
               "llcm_tiny": synth.content_digest(llcm), "small_slice": small_slice_digest(),
               "hog_euclidean": {k: v["mean"] for k, v in result["settings"].items()}}
    print(json.dumps(out))


if __name__ == "__main__":
    main()

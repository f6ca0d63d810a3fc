"""The official SYSU-MM01 protocol (Wu et al., ICCV 2017; ``evaluation_SYSU_MM01.m``).

Trial t's gallery takes, for each gallery camera (camera-major) and each test ID
(ascending), the images at ``rand_perm_cam{cam}{id}(t, 1:N)`` of the official
``rand_perm_cam.mat``; entry k names the k-th file in sorted order. A dataset
whose per-(camera, ID) counts differ from the official table (the small
synthetic presets) gets a seeded table of the same structure, labelled as such.
"""
from __future__ import annotations

from functools import lru_cache
from importlib import resources

import numpy as np
import scipy.io

from reidbench.data.imageset import INFRARED, ImageSet
from reidbench.data.sysu import CAMERAS, SysuDataset
from reidbench.protocols.base import GALLERY_SOURCES, Galleries, Protocol
from reidbench.protocols.settings import ALL_SETTINGS, MAX_TRIALS, SysuSetting

OFFICIAL = "official_rand_perm"
SEEDED = "seeded_rand_perm"
TABLE_SEED = 2017  # seeds the substitute table; the cell (cam, pid) is mixed in
GALLERY_SOURCES[OFFICIAL] = "official trials (rand_perm_cam.mat)"
GALLERY_SOURCES[SEEDED] = "seeded trials shaped like the official table (not the official galleries)"

TrialTable = dict[tuple[int, int], np.ndarray]  # (cam, pid) -> 10 x n, 1-based positions


def _official_file(name: str):
    return resources.files("reidbench.protocols").joinpath("official", name)


@lru_cache(maxsize=1)
def official_table() -> TrialTable:
    """``rand_perm_cam.mat`` as {(cam, pid): int64 10 x n}; empty cells are left out."""
    with resources.as_file(_official_file("rand_perm_cam.mat")) as path:
        cells = scipy.io.loadmat(path)["rand_perm_cam"]
    table: TrialTable = {}
    for cam in CAMERAS:
        per_id = cells[cam - 1, 0]
        for i in range(per_id.shape[0]):
            perm = np.asarray(per_id[i, 0]).astype(np.int64)  # stored as uint8/16: cast first
            if perm.size:
                table[(cam, i + 1)] = perm
    return table


@lru_cache(maxsize=1)
def official_test_ids() -> tuple[int, ...]:
    with resources.as_file(_official_file("test_id.mat")) as path:
        return tuple(sorted(int(x) for x in scipy.io.loadmat(path)["id"].ravel()))


def seeded_table(data: SysuDataset) -> TrialTable:
    """A table shaped like the official one, drawn from a fixed seed per (camera, ID)."""
    table: TrialTable = {}
    for cam in CAMERAS:
        for pid in data.ids("test"):
            n = data.count(cam, pid)
            if n:
                rng = np.random.default_rng([TABLE_SEED, cam, pid])
                table[(cam, pid)] = np.stack([rng.permutation(n) + 1 for _ in range(MAX_TRIALS)])
    return table


def matches_official(data: SysuDataset) -> bool:
    """True when the test IDs and every test (camera, ID) image count equal the official table."""
    if data.ids("test") != official_test_ids():
        return False
    table = official_table()
    return all(table.get((cam, pid), np.empty((10, 0))).shape[1] == data.count(cam, pid)
               for cam in CAMERAS for pid in data.ids("test"))


def trial_table(data: SysuDataset) -> tuple[TrialTable, str]:
    """The official table when it fits the dataset, else a seeded one, with its label."""
    if matches_official(data):
        return official_table(), OFFICIAL
    return seeded_table(data), SEEDED


class SysuProtocol(Protocol):
    """What both SYSU-MM01 protocols share: every test image is embedded once; IR images are the
    probes (cameras 3 and 6, camera-major, then ID, then file order); galleries are RGB rows."""

    layout = "sysu"
    settings = ALL_SETTINGS

    def evaluation_set(self, data: SysuDataset, trial: int = 0) -> ImageSet:
        return data.split().test

    def probes(self, data: SysuDataset, setting: SysuSetting, trial: int = 0) -> np.ndarray:
        return np.flatnonzero(self.evaluation_set(data).modality == INFRARED)


def cell_offsets(data: SysuDataset) -> dict[tuple[int, int], int]:
    """Row of the first image of each (camera, test ID) in the evaluation set (same order as it)."""
    offsets, at = {}, 0
    for cam in CAMERAS:
        for pid in data.ids("test"):
            offsets[(cam, pid)] = at
            at += data.count(cam, pid)
    return offsets


class SysuOfficial(SysuProtocol):
    name = "sysu"
    label = "SYSU-MM01 protocol (Wu et al., ICCV 2017)"

    def _galleries(self, data: SysuDataset, setting: SysuSetting, trials: int) -> Galleries:
        table, source = trial_table(data)
        offsets = cell_offsets(data)
        short = 0
        indices = []
        for t in range(trials):
            rows = []
            for cam in setting.gallery_cams:
                for pid in data.ids("test"):
                    perm = table.get((cam, pid))
                    if perm is None:
                        continue
                    take = perm[t, :setting.num_shots] - 1
                    short += t == 0 and len(take) < setting.num_shots
                    rows.append(offsets[(cam, pid)] + take)
            indices.append(np.concatenate(rows) if rows else np.empty(0, np.int64))
        note = ""
        if source == SEEDED:
            note = "image counts differ from the official table: seeded table of the same structure"
        if short:
            note += f"; {short} (camera, ID) cells have fewer than {setting.num_shots} images and give all they have"
        return Galleries(tuple(indices), source, note.strip("; "))

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
from reidbench.data.sysu import CAMERAS, SysuDataset, official_ids
from reidbench.errors import ReidbenchError
from reidbench.protocols.base import Galleries, Protocol
from reidbench.protocols.settings import MAX_TRIALS, Setting
from reidbench.protocols.sysu_settings import ALL_SETTINGS, GALLERY_CAMS, SHOTS, SysuSetting

OFFICIAL = "official_rand_perm"
SEEDED = "seeded_rand_perm"
TABLE_SEED = 2017  # seeds the substitute table; the cell (cam, pid) is mixed in

TrialTable = dict[tuple[int, int], np.ndarray]  # (cam, pid) -> 10 x n, 1-based positions


def _official_file(name: str):
    """A file of the protocol's own package data (the trial table; the ID lists are the data layer's)."""
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
    if data.ids("test") != official_ids("test"):
        return False
    table = official_table()
    return all(table.get((cam, pid), np.empty((10, 0))).shape[1] == data.count(cam, pid)
               for cam in CAMERAS for pid in data.ids("test"))


def trial_table(data: SysuDataset) -> tuple[TrialTable, str]:
    """The official table when it fits the dataset, else a seeded one, with its label."""
    if matches_official(data):
        return official_table(), OFFICIAL
    return seeded_table(data), SEEDED


def missing_test_images(data: SysuDataset, reference: SysuDataset | None) -> int | None:
    """Test images of the reference listing absent from ``data`` (None: no reference fits).

    The reference is the dataset given with ``--data``, else SYSU-MM01's official listing
    when the test identities are the official ones.
    """
    cells = [(cam, pid) for cam in CAMERAS for pid in data.ids("test")]
    if reference is not None:
        return sum(max(0, reference.count(*c) - data.count(*c)) for c in cells)
    if data.ids("test") != official_ids("test"):
        return None
    table = official_table()
    return sum(max(0, (table[c].shape[1] if c in table else 0) - data.count(*c)) for c in cells)


class SysuProtocol(Protocol):
    """What both SYSU-MM01 protocols share: every test image is embedded once; IR images are the
    probes (cameras 3 and 6, camera-major, then ID, then file order); galleries are RGB rows."""

    layout = "sysu"
    settings = ALL_SETTINGS

    def select_settings(self, modes: tuple[str, ...] | None, shots: tuple[str, ...] | None) -> list[Setting]:
        """Search modes x gallery shots, in the order given (an omitted one means all of them)."""
        modes = tuple(GALLERY_CAMS) if modes is None else modes
        shots = tuple(SHOTS) if shots is None else shots
        if not modes or not shots:
            raise ReidbenchError("--modes and --shots each need at least one value")
        for mode in modes:
            if mode not in GALLERY_CAMS:
                raise ReidbenchError(f"unknown mode '{mode}' (known: {', '.join(GALLERY_CAMS)})")
        for shot in shots:
            if shot not in SHOTS:
                raise ReidbenchError(f"unknown shots '{shot}' (known: {', '.join(SHOTS)})")
        return [self.setting(f"{m}-{s}") for m in dict.fromkeys(modes) for s in dict.fromkeys(shots)]

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
    gallery_sources = {OFFICIAL: "official trials (rand_perm_cam.mat)",
                       SEEDED: "seeded trials shaped like the official table (not the official galleries)"}

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

"""A synthetic SYSU-MM01 replica, written in the real dataset's layout.

The real images are licence-restricted, so tests, examples and the embedded default
dataset use procedurally rendered people instead. :func:`generate` writes::

    <out>/cam1..cam6/<pid %04d>/<image %04d>.jpg      images 0001.jpg ... per folder
    <out>/exp/{train,val,test,available}_id.txt      one comma-separated line each
    <out>/SYNTHETIC.json                             preset, seed, version, counts

so the real-dataset reader and the official protocol (``rand_perm_cam.mat``, which maps
permutation entries to sorted file positions) work on it unchanged.

Presets (``PRESETS``); IDs are always real SYSU-MM01 numbers, and only (camera, ID)
folders that exist in the real dataset are written:

- ``full``: every real (camera, ID) folder with its real image count
  (45,863 images, 2,298 folders, 513 IDs) and the real split: train = ``train_id.mat``
  (296), test = ``test_id.mat`` (96), val = IDs with RGB and IR images in neither list
  (99: 334-433 except 347), available = their union (491). The 22 IDs with images
  outside ``available`` keep their folders, as in the real dataset. Crops 160-400 px tall.
- ``small`` (the embedded default): 64 train, 16 val and 32 test IDs, evenly spaced
  through each sorted official list (so 14 test IDs lack cams 1 and 2, as in reality).
  Count per (camera, ID) = min(real, cap); cap 12 for test IDs in the RGB gallery
  cameras 1, 2, 4, 5 (the real minimum is 13, so 10-shot never runs short), 8 for test
  IDs in the IR cameras 3, 6, and 6 for train/val IDs: 3,854 images in 523 folders,
  crops 96-192 px tall.
- ``tiny`` (for tests): 8 train, 4 val and 8 test IDs chosen the same way (3 test IDs
  lack cams 1 and 2; every test ID has IR images and RGB images); caps 10 / 4 / 3 in
  the same order: 467 images in 92 folders, crops 64-128 px tall.

Appearance. Each identity (a numpy Generator seeded by (seed, pid)) has a body shape,
garments with RGB colours, a pattern (plain, horizontal or vertical stripes, checks, a
front logo) and a frequency, hair and skin tones, accessories (backpack, handbag, hat,
scarf), and a per-material infrared reflectance. As with real fabrics, whose NIR
brightness only loosely follows their visible lightness, a garment's reflectance is
``IR_COUPLING`` (0.6) times its visible luminance plus 0.4 times an independent draw:
hue carries nothing across modalities beyond its share in lightness, and grey level
only part of the identity, so matching also needs shape, pattern and accessories.
(Version 1 drew reflectance fully independently; deep models trained from scratch on
``small`` then stayed at chance.) Each image (a Generator seeded by
(seed, cam, pid, index), so output never depends on generation order) draws the crop
size and aspect (2:1-3:1), the viewpoint (front/back/side: which accessories show, width
squeeze, mirroring), pose jitter and exposure. Cameras differ in scene (1: room 1;
2 and 3: room 2, RGB and IR; 4: outdoor gate; 5: garden; 6: IR passage), colour cast,
gain, blur and noise. IR images are grey (3 equal channels, like the real ones), with
illuminator fall-off, glow and stronger noise. JPEGs are written by Pillow at a fixed
quality, so the same preset and seed give byte-identical files.

Portability. The bytes are the same on every machine, whatever BLAS kernel, thread count
or CPU SIMD level runs the generator: pixel arithmetic uses only IEEE basic operations
(see :mod:`reidbench.data.portable`), never numpy's vectorised transcendental functions
or a BLAS product, and libjpeg-turbo's integer DCT is bit-exact across its SIMD paths.
``tests/test_portability.py`` checks it in subprocesses under several kernels and keeps
golden content digests. (Version 2 used ``np.exp``/``np.sin`` and a BLAS dot product; its
pixels changed with ``OPENBLAS_CORETYPE`` and ``NPY_DISABLE_CPU_FEATURES``.)
"""
from __future__ import annotations

import colorsys
import hashlib
import io
import json
import os
import secrets
import shutil
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable, Mapping

import numpy as np
from PIL import Image
from tqdm import tqdm

from reidbench.data.sysu import IR_CAMS, RGB_CAMS, official_counts, official_ids
from reidbench.data.portable import exp_neg, gaussian_blur, positive_half_wave
from reidbench.data.presets import PRESETS, Preset
from reidbench.errors import ReidbenchError

GENERATOR_VERSION = 3
JPEG_QUALITY = 90
EXPECTED_FULL_VAL = tuple(i for i in range(334, 434) if i != 347)
IR_COUPLING = 0.6  # share of a garment's IR reflectance that follows its visible luminance
LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601, as rgb2gray

# Seed-sequence domain tags: without them [seed, pid] and [seed, pid, 0] would collide,
# because numpy's SeedSequence pads short entropy with zeros.
_TAG_IDENTITY = 1
_TAG_IMAGE = 2
_PARALLEL_MIN_IMAGES = 1000


@dataclass(frozen=True)
class SynthPlan:
    """What a preset writes: image count per (cam, pid) and the four exp lists."""

    preset: str
    counts: tuple[tuple[int, int, int], ...]  # (cam, pid, n_images), sorted
    train: tuple[int, ...]
    val: tuple[int, ...]
    test: tuple[int, ...]

    @property
    def available(self) -> tuple[int, ...]:
        return tuple(sorted(self.train + self.val + self.test))

    @property
    def n_images(self) -> int:
        return sum(n for _, _, n in self.counts)


# --------------------------------------------------------------------------- planning


@dataclass(frozen=True)
class _Official:
    counts: Mapping[tuple[int, int], int]
    train: tuple[int, ...]
    test: tuple[int, ...]


@lru_cache(maxsize=1)
def _official() -> _Official:
    """The real per-(cam, pid) counts and the official train/test lists (the data layer's package data)."""
    return _Official(official_counts(), official_ids("train"), official_ids("test"))


def _real_val(off: _Official) -> tuple[int, ...]:
    """IDs with images in both modalities that are in neither official list."""
    rgb = {p for (c, p) in off.counts if c in RGB_CAMS}
    ir = {p for (c, p) in off.counts if c in IR_CAMS}
    val = tuple(sorted((rgb & ir) - set(off.train) - set(off.test)))
    if val != EXPECTED_FULL_VAL:
        raise ReidbenchError("packaged SYSU-MM01 lists are inconsistent: val is not 334-433 minus 347")
    return val


def _evenly(ids: tuple[int, ...], k: int | None) -> tuple[int, ...]:
    """k IDs evenly spaced through a sorted list (all of them for None)."""
    if k is None:
        return ids
    pick = np.round(np.linspace(0, len(ids) - 1, k)).astype(np.int64)
    return tuple(ids[i] for i in pick)


def _cap(p: Preset, cam: int, pid: int, test: set[int]) -> int | None:
    if pid not in test:
        return p.cap_other
    return p.cap_test_rgb if cam in RGB_CAMS else p.cap_test_ir


def _preset(name: str) -> Preset:
    if name not in PRESETS:
        raise ReidbenchError(f"unknown synthetic preset {name!r}; valid: {', '.join(PRESETS)}")
    return PRESETS[name]


def plan(preset: str = "small") -> SynthPlan:
    """The per-(cam, pid) counts and split of a preset, without rendering anything."""
    p = _preset(preset)
    off = _official()
    train = _evenly(off.train, p.n_train)
    val = _evenly(_real_val(off), p.n_val)
    test = _evenly(off.test, p.n_test)
    keep = set(train) | set(val) | set(test)
    test_set = set(test)
    counts = []
    for (cam, pid), n in sorted(off.counts.items()):
        if pid in keep or p.include_unavailable:
            cap = _cap(p, cam, pid, test_set)
            counts.append((cam, pid, n if cap is None else min(n, cap)))
    return SynthPlan(p.name, tuple(counts), train, val, test)


# --------------------------------------------------------------------------- identities

# Material indices of the label map; 0 is the background.
BG, SKIN, HAIR, TOP_A, TOP_B, BOTTOM_A, BOTTOM_B, SHOES, BACKPACK, BAG, HAT, SCARF = range(12)
N_MATERIALS = 12
TOP_PATTERNS = ("plain", "hstripes", "vstripes", "checks", "logo")
BOTTOM_PATTERNS = ("plain", "vstripes", "checks")


@dataclass(frozen=True, eq=False)
class Identity:
    """The appearance of one person, shared by all cameras.

    ``rgb`` (N_MATERIALS x 3) and ``ir`` (N_MATERIALS) are per-material colours and
    infrared reflectances; a garment's ``ir`` only partly follows its ``rgb`` lightness.
    """

    pid: int
    stature: float
    head_r: float
    shoulder: float
    waist: float
    hip: float
    leg_w: float
    rgb: np.ndarray
    ir: np.ndarray
    top_pattern: str
    top_freq: float
    bottom_pattern: str
    bottom_freq: float
    pattern_phase: float
    long_sleeves: bool
    bottom_kind: str
    long_hair: bool
    backpack: bool
    bag: bool
    bag_side: int
    hat: bool
    scarf: bool


def _garment_rgb(rng: np.random.Generator) -> tuple[float, float, float]:
    """A clothing colour: a third greys/blacks/whites, the rest saturated hues."""
    hue = rng.random()
    sat = rng.uniform(0.0, 0.15) if rng.random() < 0.33 else rng.uniform(0.35, 0.95)
    return colorsys.hsv_to_rgb(hue, sat, rng.uniform(0.12, 0.95))


def _skin_rgb(rng: np.random.Generator) -> tuple[float, float, float]:
    tone = rng.uniform(0.35, 0.9)
    return (tone, tone * rng.uniform(0.72, 0.82), tone * rng.uniform(0.58, 0.7))


def _hair_rgb(rng: np.random.Generator) -> tuple[float, float, float]:
    base = rng.choice([0.06, 0.1, 0.25, 0.55], p=[0.55, 0.25, 0.15, 0.05])
    return (base * 1.2, base, base * 0.8)


def luminance(rgb: np.ndarray) -> np.ndarray:
    """BT.601 luma of ... x 3 colours, summed in a fixed order (a BLAS dot product's order is not)."""
    return rgb[..., 0] * LUMA[0] + rgb[..., 1] * LUMA[1] + rgb[..., 2] * LUMA[2]


def identity(seed: int, pid: int, tag: int = _TAG_IDENTITY) -> Identity:
    """Appearance of ``pid``; depends only on (seed, pid) and the dataset's ``tag``."""
    rng = np.random.default_rng([tag, seed, pid])
    rgb = np.zeros((N_MATERIALS, 3), np.float32)
    rgb[SKIN], rgb[HAIR] = _skin_rgb(rng), _hair_rgb(rng)
    garments = [TOP_A, TOP_B, BOTTOM_A, BOTTOM_B, SHOES, BACKPACK, BAG, HAT, SCARF]
    for m in garments:
        rgb[m] = _garment_rgb(rng)
    ir = rng.uniform(0.08, 0.95, N_MATERIALS).astype(np.float32)
    ir[garments] = IR_COUPLING * luminance(rgb[garments]) + (1 - IR_COUPLING) * ir[garments]
    ir[SKIN], ir[HAIR] = rng.uniform(0.68, 0.88), rng.uniform(0.25, 0.6)
    ir[BG] = rgb[BG] = 0.0
    return Identity(
        pid=pid,
        stature=rng.uniform(0.9, 1.0),
        head_r=rng.uniform(0.056, 0.068),
        shoulder=rng.uniform(0.095, 0.135),
        waist=rng.uniform(0.78, 1.0),
        hip=rng.uniform(0.47, 0.53),
        leg_w=rng.uniform(0.034, 0.05),
        rgb=rgb,
        ir=ir,
        top_pattern=str(rng.choice(TOP_PATTERNS)),
        top_freq=rng.uniform(2.5, 6.0),
        bottom_pattern=str(rng.choice(BOTTOM_PATTERNS, p=[0.7, 0.1, 0.2])),
        bottom_freq=rng.uniform(2.0, 4.0),
        pattern_phase=rng.uniform(0, 2 * np.pi),
        long_sleeves=bool(rng.random() < 0.5),
        bottom_kind=str(rng.choice(["trousers", "shorts", "skirt"], p=[0.65, 0.2, 0.15])),
        long_hair=bool(rng.random() < 0.35),
        backpack=bool(rng.random() < 0.35),
        bag=bool(rng.random() < 0.25),
        bag_side=int(rng.choice([-1, 1])),
        hat=bool(rng.random() < 0.15),
        scarf=bool(rng.random() < 0.15),
    )


# --------------------------------------------------------------------------- cameras


@dataclass(frozen=True)
class Camera:
    """Fixed properties of one SYSU-MM01 camera as rendered here."""

    ir: bool
    scene: str
    size: float  # centre of the crop height within the preset's range, 0..1
    aspect: float  # mean height:width
    views: tuple[float, float, float]  # P(front), P(back), P(side)
    gain: float
    cast: tuple[float, float, float]
    blur: float  # Gaussian sigma in px at a 128 px crop
    noise: float


CAMERAS: dict[int, Camera] = {
    1: Camera(False, "room1", 0.65, 2.4, (0.5, 0.3, 0.2), 1.0, (1.06, 1.0, 0.86), 0.6, 0.012),
    2: Camera(False, "room2", 0.55, 2.5, (0.3, 0.3, 0.4), 0.95, (0.94, 1.0, 1.08), 0.8, 0.015),
    3: Camera(True, "room2", 0.45, 2.5, (0.3, 0.3, 0.4), 0.9, (1.0, 1.0, 1.0), 1.1, 0.035),
    4: Camera(False, "gate", 0.5, 2.6, (0.45, 0.45, 0.1), 1.12, (0.97, 1.0, 1.05), 0.7, 0.012),
    5: Camera(False, "garden", 0.4, 2.6, (0.25, 0.45, 0.3), 0.88, (0.95, 1.04, 0.9), 1.0, 0.015),
    6: Camera(True, "passage", 0.35, 2.7, (0.4, 0.4, 0.2), 1.0, (1.0, 1.0, 1.0), 1.3, 0.04),
}


@dataclass(frozen=True)
class Shot:
    """Per-image draws: crop size, pose and lighting."""

    h: int
    w: int
    view: str
    flip: bool
    ph: float  # person height in px
    cx: float
    top: float
    arm_swing: float  # slope of a swinging arm (horizontal per vertical unit)
    stride: float  # slope of a striding leg
    exposure: float
    scene_x: float
    horizon: float


def _draw_shot(cam: Camera, ident: Identity, rng: np.random.Generator,
               heights: tuple[int, int]) -> Shot:
    lo, hi = heights
    h = int(round(lo + (hi - lo) * np.clip(cam.size + rng.normal(0, 0.18), 0, 1)))
    w = max(16, int(round(h / np.clip(rng.normal(cam.aspect, 0.2), 2.0, 3.0))))
    tight = rng.random() < 0.08  # a slightly too tight detection cuts head or feet
    scale = rng.uniform(1.0, 1.06) if tight else rng.uniform(0.86, 0.99)
    ph = h * scale * ident.stature
    return Shot(
        h=h, w=w,
        view=str(rng.choice(["front", "back", "side"], p=cam.views)),
        flip=bool(rng.random() < 0.5),
        ph=ph,
        cx=w / 2 + rng.normal(0, 0.05) * w,
        top=(h - ph) / 2 + rng.normal(0, 0.02) * h,
        arm_swing=rng.normal(0, 0.12),
        stride=abs(rng.normal(0, 0.12)),
        exposure=rng.normal(1.0, 0.08),
        scene_x=rng.uniform(0, 8),
        horizon=rng.uniform(0.5, 0.72),
    )


# --------------------------------------------------------------------------- the person


def _ellipse(u: np.ndarray, v: np.ndarray, cu: float, cv: float, ru: float, rv: float) -> np.ndarray:
    return ((u - cu) / ru) ** 2 + ((v - cv) / rv) ** 2 <= 1.0


def _limb(u: np.ndarray, v: np.ndarray, u0: float, slope: float, half: float,
          v0: float, v1: float) -> np.ndarray:
    """A slanted band: centre u0 at v0, moving by ``slope`` per unit of v."""
    return (np.abs(u - u0 - (v - v0) * slope) < half) & (v >= v0) & (v < v1)


def _pattern(kind: str, pu: np.ndarray, pv: np.ndarray, freq: float, phase: float,
             front: bool) -> np.ndarray:
    """Where a garment shows its second colour, in garment-local coordinates.

    The result broadcasts against the image (it may be a single row or column).
    """
    h = positive_half_wave(2 * np.pi * freq * pv + phase)
    v = positive_half_wave(2 * np.pi * freq * pu + phase)
    if kind == "hstripes":
        return h
    if kind == "vstripes":
        return v
    if kind == "checks":
        return h ^ v
    if kind == "logo" and front:
        return (np.abs(pu) < 0.2) & (pv > 0.2) & (pv < 0.45)
    return np.zeros((1, 1), bool)


def _paint_legs(lab: np.ndarray, u: np.ndarray, v: np.ndarray, idn: Identity, s: Shot,
                half_hip: float) -> None:
    hip, foot = idn.hip, 0.965
    taper = idn.leg_w * (1 - 0.3 * np.clip((v - hip) / (foot - hip), 0, 1))
    if s.view == "side":
        legs = [(0.0, s.stride), (0.0, -s.stride)]
    else:
        sep = half_hip - idn.leg_w
        legs = [(-sep, -0.02), (sep, 0.02)]
    pattern = _pattern(idn.bottom_pattern, u / (2 * half_hip), (v - hip) / (foot - hip),
                       idn.bottom_freq, idn.pattern_phase, True)
    bottom = np.broadcast_to(np.where(pattern, BOTTOM_B, BOTTOM_A), lab.shape)
    cloth_end = {"trousers": foot, "shorts": hip + 0.16, "skirt": hip}[idn.bottom_kind]
    for u0, slope in legs:
        centre = u0 + (v - hip) * slope
        leg = (np.abs(u - centre) < taper) & (v >= hip) & (v < foot)
        lab[leg] = np.where(v < cloth_end, bottom, SKIN)[leg]
        shoe_u = centre + (0.02 if s.view == "side" else 0.0)
        lab[(np.abs(u - shoe_u) < taper * 1.25) & (v >= foot - 0.01) & (v < 1.0)] = SHOES
    if idn.bottom_kind == "skirt":
        skirt = (v >= hip) & (v < hip + 0.2) & (np.abs(u) < half_hip + (v - hip) * 0.45)
        lab[skirt] = bottom[skirt]


def _paint_torso_arms(lab: np.ndarray, u: np.ndarray, v: np.ndarray, idn: Identity,
                      s: Shot, sw: float) -> None:
    sh, hip = 0.155, idn.hip
    half = sw * (1 - (1 - idn.waist) * np.clip((v - sh) / (hip - sh), 0, 1))
    cap = (v >= sh) & (v < sh + 0.04) & _ellipse(u, v, 0, sh + 0.04, sw, 0.045)
    torso = cap | ((v >= sh + 0.04) & (v < hip + 0.01) & (np.abs(u) < half))
    pattern = _pattern(idn.top_pattern, u / (2 * sw), (v - sh) / (hip - sh), idn.top_freq,
                       idn.pattern_phase, s.view == "front")
    top = np.broadcast_to(np.where(pattern, TOP_B, TOP_A), lab.shape)
    lab[torso] = top[torso]
    aw = 0.24 * sw if s.view != "side" else 0.3 * sw
    arm_end = hip - 0.02
    sleeve_end = arm_end - 0.03 if idn.long_sleeves else sh + 0.11
    arms = [(0.0, s.arm_swing)] if s.view == "side" else \
        [(-(sw + 0.8 * aw), -abs(s.arm_swing) * 0.3), (sw + 0.8 * aw, abs(s.arm_swing) * 0.3)]
    for u0, slope in arms:
        arm = _limb(u, v, u0, slope, aw, sh + 0.01, arm_end)
        lab[arm] = np.broadcast_to(np.where(v < sleeve_end, TOP_A, SKIN), lab.shape)[arm]
        hand_u = u0 + (arm_end - sh) * slope
        lab[_ellipse(u, v, hand_u, arm_end, aw * 1.1, aw * 1.3)] = SKIN


def _paint_head(lab: np.ndarray, u: np.ndarray, v: np.ndarray, idn: Identity, s: Shot) -> None:
    r = idn.head_r
    ru, cv = r * (0.78 if s.view != "side" else 0.85), r * 1.05
    lab[(np.abs(u) < ru * 0.45) & (v >= cv) & (v < 0.165)] = SKIN  # neck
    head = _ellipse(u, v, 0, cv, ru, r)
    lab[head] = SKIN
    if s.view == "back":
        hair = head
    elif s.view == "side":
        hair = head & ((v < cv - 0.35 * r) | (u < -0.15 * ru))
    else:
        hair = head & ((v < cv - 0.45 * r) | ((np.abs(u) > 0.75 * ru) & (v < cv)))
    lab[hair] = HAIR
    if idn.hat:
        lab[_ellipse(u, v, 0, cv - 0.55 * r, ru * 1.12, 0.6 * r) & (v < cv - 0.3 * r)] = HAT
        if s.view == "side":
            lab[(u >= 0) & (u < ru * 1.7) & (np.abs(v - (cv - 0.32 * r)) < 0.007)] = HAT


def _paint_accessories(lab: np.ndarray, u: np.ndarray, v: np.ndarray, idn: Identity,
                       s: Shot, sw: float) -> None:
    r, hip = idn.head_r, idn.hip
    if idn.scarf:
        lab[(v >= 0.125) & (v < 0.175) & (np.abs(u) < r * 0.75 + (v - 0.125) * 0.8)] = SCARF
    if idn.long_hair and s.view != "front":
        side = (u < 0.1 * r) if s.view == "side" else True
        lab[(np.abs(u) < r * 0.9) & (v >= r) & (v < 0.23) & side] = HAIR
    if idn.backpack:
        if s.view == "back":
            pack = (np.abs(u) < sw * 0.78) & (v >= 0.18) & (v < 0.43)
        elif s.view == "side":
            pack = (u > -sw - 0.075) & (u < -sw * 0.6) & (v >= 0.18) & (v < 0.43)
        else:
            pack = (np.abs(np.abs(u) - sw * 0.6) < 0.012) & (v >= 0.155) & (v < 0.36)
        lab[pack] = BACKPACK
    if idn.bag:
        side = idn.bag_side * (-1 if s.view == "back" else 1)
        bu = 0.01 if s.view == "side" else side * (sw + 0.06)
        lab[(np.abs(u - bu) < 0.045) & (v >= hip - 0.1) & (v < hip + 0.02)] = BAG
        if s.view != "side":
            lab[_limb(u, v, side * sw * 0.6, side * 0.27, 0.006, 0.16, hip - 0.1)] = BAG


def _paint_person(idn: Identity, s: Shot) -> tuple[np.ndarray, np.ndarray]:
    """Material label map (h x w, 0 = background) and body shading of one shot."""
    u = ((np.arange(s.w, dtype=np.float32) + 0.5 - s.cx) / s.ph)[None, :]
    v = ((np.arange(s.h, dtype=np.float32) + 0.5 - s.top) / s.ph)[:, None]
    lab = np.zeros((s.h, s.w), np.uint8)
    sw = idn.shoulder * (0.62 if s.view == "side" else 1.0)
    if idn.long_hair and s.view == "front":  # hair falling behind the shoulders
        lab[(np.abs(u) < idn.head_r * 1.05) & (v >= idn.head_r) & (v < 0.21)] = HAIR
    _paint_legs(lab, u, v, idn, s, sw * idn.waist * 0.95)
    _paint_torso_arms(lab, u, v, idn, s, sw)
    _paint_head(lab, u, v, idn, s)
    _paint_accessories(lab, u, v, idn, s, sw)
    shade = (1.0 - 0.3 * np.clip((u / (sw * 1.4)) ** 2, 0, 1)) * (1.06 - 0.12 * np.clip(v, 0, 1))
    return lab, shade.astype(np.float32)


# --------------------------------------------------------------------------- scenes


def _smooth_noise(rng: np.random.Generator, h: int, w: int, cell: float) -> np.ndarray:
    """Bilinear value noise in [0, 1] with features about ``cell`` px wide."""
    gh, gw = int(h / cell) + 2, int(w / cell) + 2
    grid = rng.random((gh, gw), dtype=np.float32)
    y = np.arange(h, dtype=np.float32) / cell
    x = np.arange(w, dtype=np.float32) / cell
    y0, x0 = y.astype(np.int64), x.astype(np.int64)
    fy, fx = (y - y0)[:, None], (x - x0)[None, :]
    a, b = grid[y0][:, x0], grid[y0][:, x0 + 1]
    c, d = grid[y0 + 1][:, x0], grid[y0 + 1][:, x0 + 1]
    return (a * (1 - fx) + b * fx) * (1 - fy) + (c * (1 - fx) + d * fx) * fy


class _Canvas:
    """Paints scene surfaces, each given as (RGB colour, IR reflectance)."""

    def __init__(self, h: int, w: int, ir: bool) -> None:
        self.ir = ir
        self.img = np.zeros((h, w, 1 if ir else 3), np.float32)

    def colour(self, rgb: tuple[float, float, float], ir: float) -> np.ndarray:
        return np.array([ir] if self.ir else rgb, np.float32)

    def fill(self, mask: np.ndarray, rgb: tuple[float, float, float], ir: float,
             tex: np.ndarray | float = 1.0) -> None:
        value = self.colour(rgb, ir) * np.asarray(tex, np.float32)[..., None]
        mask = np.broadcast_to(mask, self.img.shape[:2])
        self.img[mask] = np.broadcast_to(value, self.img.shape)[mask]


def _scene_grid(s: Shot) -> tuple[np.ndarray, np.ndarray]:
    """Scene coordinates in crop heights; scene_x moves the person along the scene."""
    x = (np.arange(s.w, dtype=np.float32) / s.h + s.scene_x)[None, :]
    y = (np.arange(s.h, dtype=np.float32) / s.h)[:, None]
    return x, y


def _room1(c: _Canvas, s: Shot, rng: np.random.Generator) -> None:
    x, y = _scene_grid(s)
    hz = s.horizon + 0.08
    tex = 0.9 + 0.1 * _smooth_noise(rng, s.h, s.w, s.h / 6)
    c.fill(y < hz, (0.8, 0.72, 0.6), 0.6, tex * (1.05 - 0.15 * y))
    c.fill((np.mod(x, 1.6) < 0.35) & (y > 0.08) & (y < hz), (0.45, 0.3, 0.18), 0.72, tex)
    c.fill((np.mod(x + 0.8, 1.6) < 0.18) & (y > 0.22) & (y < 0.4), (0.2, 0.45, 0.7), 0.3)
    depth = 0.3 / (np.maximum(y - hz, 0) + 0.03)  # floor lines crowd towards the horizon
    tiles = (np.mod(depth, 1) < 0.08) | (np.mod(x * 5, 1) < 0.05)
    c.fill(y >= hz, (0.52, 0.47, 0.42), 0.45, np.where(tiles, 0.75, 1.0) * tex)


def _room2(c: _Canvas, s: Shot, rng: np.random.Generator) -> None:
    """Room 2 as seen by camera 2 (RGB) and camera 3 (IR): one layout, two modalities."""
    x, y = _scene_grid(s)
    hz = s.horizon + 0.05
    tex = 0.88 + 0.12 * _smooth_noise(rng, s.h, s.w, s.h / 5)
    c.fill(y < hz, (0.68, 0.73, 0.78), 0.52, tex)
    wx = np.mod(x, 2.0)
    window = (wx < 0.9) & (y > 0.1) & (y < 0.45)
    c.fill(window, (0.88, 0.92, 0.97), 0.1)
    c.fill(window & ((np.abs(wx - 0.45) < 0.015) | (np.abs(y - 0.28) < 0.012)), (0.3, 0.3, 0.32), 0.35)
    c.fill((np.mod(x + 1.1, 2.0) < 0.55) & (y > 0.3) & (y < hz + 0.06), (0.38, 0.27, 0.2), 0.78, tex)
    c.fill(y >= hz + 0.06, (0.6, 0.6, 0.57), 0.36, tex * (0.9 + 0.1 * y))


def _gate(c: _Canvas, s: Shot, rng: np.random.Generator) -> None:
    x, y = _scene_grid(s)
    hz = s.horizon
    tex = 0.85 + 0.15 * _smooth_noise(rng, s.h, s.w, s.h / 12)
    c.fill(y < hz, (0.82, 0.8, 0.74), 0.7, tex)
    bars = ((np.mod(x * 7, 1) < 0.18) & (y > 0.05)) | (np.abs(y - 0.1) < 0.02)
    c.fill(bars & (y < hz), (0.2, 0.22, 0.25), 0.3)
    paving = (np.mod(x * 4 + np.floor(y * 10) * 0.5, 1) < 0.04) | (np.mod(y * 10, 1) < 0.06)
    c.fill(y >= hz, (0.56, 0.54, 0.5), 0.5, np.where(paving, 0.7, 1.0) * tex)


def _garden(c: _Canvas, s: Shot, rng: np.random.Generator) -> None:
    x, y = _scene_grid(s)
    hz = s.horizon - 0.05
    leaves = 0.6 * _smooth_noise(rng, s.h, s.w, s.h / 5) + 0.4 * _smooth_noise(rng, s.h, s.w, s.h / 25)
    c.fill(y < hz, (0.25, 0.5, 0.18), 0.85, 0.45 + 0.9 * leaves)
    c.fill((y >= hz) & (y < hz + 0.06), (0.35, 0.55, 0.2), 0.8)
    bricks = (np.mod(y * 12, 1) < 0.1) | (np.mod(x * 5 + np.floor(y * 12) * 0.5, 1) < 0.06)
    tex = 0.85 + 0.15 * _smooth_noise(rng, s.h, s.w, s.h / 8)
    c.fill(y >= hz + 0.06, (0.62, 0.42, 0.34), 0.55, np.where(bricks, 0.72, 1.0) * tex)


def _passage(c: _Canvas, s: Shot, rng: np.random.Generator) -> None:
    x, y = _scene_grid(s)
    hz = s.horizon
    tex = 0.8 + 0.2 * _smooth_noise(rng, s.h, s.w, s.h / 6)
    c.fill(y < hz, (0.6, 0.6, 0.6), 0.45, tex * (0.7 + 0.5 * y))
    foliage = (np.mod(x, 1.3) < 0.6) & (y < 0.3 + 0.1 * _smooth_noise(rng, s.h, s.w, s.h / 10))
    c.fill(foliage, (0.2, 0.45, 0.2), 0.9, tex)
    c.fill(y >= hz, (0.45, 0.45, 0.45), 0.3, tex)


SCENES: dict[str, Callable[[_Canvas, Shot, np.random.Generator], None]] = {
    "room1": _room1, "room2": _room2, "gate": _gate, "garden": _garden, "passage": _passage,
}


# --------------------------------------------------------------------------- one image


def _camera_response(img: np.ndarray, cam: Camera, s: Shot, rng: np.random.Generator) -> np.ndarray:
    """Gain, colour cast, IR illuminator fall-off and glow, blur and sensor noise."""
    img = img * (cam.gain * s.exposure)
    if cam.ir:
        yy = (np.arange(s.h, dtype=np.float64)[:, None] / s.h - 0.45) / 0.6
        xx = (np.arange(s.w, dtype=np.float64)[None, :] - s.cx) / s.w
        falloff = exp_neg(yy * yy) * exp_neg(xx * xx)  # exp(-(yy^2 + xx^2)), separable
        img = img * (0.55 + 0.55 * falloff.astype(np.float32))[..., None]
    else:
        img = img * np.array(cam.cast, np.float32)
    sigma = cam.blur * s.h / 128
    img = gaussian_blur(img, sigma)
    if cam.ir:
        img = img + 0.35 * gaussian_blur(np.clip(img - 0.6, 0, None), s.h / 25)
    img = img + rng.normal(0, cam.noise, img.shape).astype(np.float32)
    return np.clip(img * 255 + 0.5, 0, 255).astype(np.uint8)


def render(seed: int, cam: int, pid: int, index: int,
           heights: tuple[int, int], idn: Identity | None = None) -> np.ndarray:
    """Image ``index`` (1-based) of ``pid`` in SYSU camera ``cam`` as H x W x 3 uint8.

    IR images come out grey with three equal channels, like the real ones.
    """
    return render_shot([_TAG_IMAGE, seed, cam, pid, index], CAMERAS[cam], idn or identity(seed, pid), heights)


def render_shot(key: list[int], camera: Camera, idn: Identity, heights: tuple[int, int]) -> np.ndarray:
    """One image of ``idn`` seen by ``camera``; every draw comes from a generator seeded by ``key``.

    Other datasets' replicas (RegDB, LLCM) use it with their own cameras and key tags.
    """
    rng = np.random.default_rng(key)
    s = _draw_shot(camera, idn, rng, heights)
    canvas = _Canvas(s.h, s.w, camera.ir)
    SCENES[camera.scene](canvas, s, rng)
    x = (np.arange(s.w, dtype=np.float64)[None, :] - s.cx) / (0.22 * s.ph)
    y = (np.arange(s.h, dtype=np.float64)[:, None] - s.top - s.ph) / (0.03 * s.ph)
    foot_shadow = (exp_neg(x * x) * exp_neg(y * y)).astype(np.float32)
    background = canvas.img * (1 - 0.4 * foot_shadow)[..., None]
    labels, shade = _paint_person(idn, s)
    palette = idn.ir[:, None] if camera.ir else idn.rgb
    img = np.where((labels > 0)[..., None], palette[labels] * shade[..., None], background)
    if s.flip:
        img = img[:, ::-1]
    out = _camera_response(img, camera, s, rng)
    return np.repeat(out, 3, axis=2) if camera.ir else out


def encode_jpeg(img: np.ndarray) -> bytes:
    """The JPEG file the replica writes for an H x W x 3 uint8 image."""
    buf = io.BytesIO()
    Image.fromarray(img, "RGB").save(buf, format="JPEG", quality=JPEG_QUALITY)
    return buf.getvalue()


def _write_jpeg(path: Path, img: np.ndarray) -> None:
    path.write_bytes(encode_jpeg(img))


def _write_folder(root: Path, seed: int, heights: tuple[int, int], cam: int, pid: int, n: int) -> int:
    """Render and write ``cam<cam>/<pid>/0001.jpg`` ... ; returns n for the progress bar."""
    folder = root / f"cam{cam}" / f"{pid:04d}"
    folder.mkdir(parents=True)
    idn = identity(seed, pid)
    for i in range(1, n + 1):
        _write_jpeg(folder / f"{i:04d}.jpg", render(seed, cam, pid, i, heights, idn))
    return n


# --------------------------------------------------------------------------- writing


def _ids_line(ids: tuple[int, ...]) -> str:
    return ",".join(str(i) for i in ids) + "\n"


METADATA = "SYNTHETIC.json"


def content_digest(root: Path) -> str:
    """SHA-256 over every file's relative path and bytes (the metadata file excluded).

    Equal digests mean byte-identical replicas; the golden digests in the tests and
    the one recorded in ``SYNTHETIC.json`` are of this.
    """
    root = Path(root)
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.name != METADATA):
        h.update(path.relative_to(root).as_posix().encode() + b"\0")
        h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


def _write_metadata(root: Path, pl: SynthPlan, p: Preset, seed: int) -> dict:
    exp = root / "exp"
    exp.mkdir()
    for name, ids in (("train", pl.train), ("val", pl.val), ("test", pl.test),
                      ("available", pl.available)):
        (exp / f"{name}_id.txt").write_text(_ids_line(ids), encoding="utf-8")
    per_cam = {str(c): sum(n for cc, _, n in pl.counts if cc == c) for c in range(1, 7)}
    return {
        "generator": "reidbench.data.synth",
        "generator_version": GENERATOR_VERSION,
        "preset": asdict(p),
        "seed": seed,
        "jpeg_quality": JPEG_QUALITY,
        "n_images": pl.n_images,
        "n_folders": len(pl.counts),
        "images_per_cam": per_cam,
        "n_ids": {"with_images": len({pid for _, pid, _ in pl.counts}), "train": len(pl.train),
                  "val": len(pl.val), "test": len(pl.test), "available": len(pl.available)},
    }


def _check_target(out: Path) -> None:
    if out.is_dir() and any(out.iterdir()):
        raise ReidbenchError(f"output directory is not empty: {out}")
    if out.exists() and not out.is_dir():
        raise ReidbenchError(f"output path exists and is not a directory: {out}")


def _default_workers(n_images: int) -> int:
    """Serial for small jobs (no pool start-up), else one process per usable core."""
    if n_images < _PARALLEL_MIN_IMAGES:
        return 1
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def run_jobs(fn: Callable[..., int], jobs: list[tuple], workers: int, bar: tqdm) -> None:
    """``fn(*job)`` for every job (each returns how many images it wrote), here or in worker processes."""
    if workers == 1:
        for job in jobs:
            bar.update(fn(*job))
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(fn, *job) for job in jobs]
        try:
            for fut in as_completed(futures):
                bar.update(fut.result())
        except BaseException:
            for fut in futures:
                fut.cancel()
            raise


def build_replica(out: Path, seed: int, n_images: int, desc: str, progress: bool,
                  fill: Callable[[Path, tqdm], dict]) -> Path:
    """Write a replica into a temporary sibling folder renamed to ``out`` at the end (never a partial dataset).

    ``fill(folder, bar)`` writes images and lists and returns the metadata; the content
    digest is added and everything goes into ``SYNTHETIC.json``. ``out`` must not exist
    or be an empty folder.
    """
    out = Path(out)
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ReidbenchError(f"seed must be a non-negative integer, got {seed!r}")
    _check_target(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.{os.getpid()}-{secrets.token_hex(4)}.partial"
    tmp.mkdir()
    try:
        with tqdm(total=n_images, desc=desc, unit="img", disable=not progress) as bar:
            meta = fill(tmp, bar)
        meta["content_digest"] = content_digest(tmp)
        (tmp / METADATA).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        _check_target(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def generate(out: Path, preset: str = "small", seed: int = 0, progress: bool = True,
             *, workers: int | None = None) -> Path:
    """Write a synthetic SYSU-MM01 replica to ``out`` and return ``out``.

    ``workers`` (default: serial below 1,000 images, else one process per core) does not
    change the output.
    """
    p = _preset(preset)
    pl = plan(preset)

    def fill(root: Path, bar: tqdm) -> dict:
        jobs = [(root, int(seed), p.height_range, c, pid, n) for c, pid, n in pl.counts]
        run_jobs(_write_folder, jobs, workers or _default_workers(pl.n_images), bar)
        return _write_metadata(root, pl, p, int(seed))

    return build_replica(Path(out), seed, pl.n_images, f"synth {preset}", progress, fill)

"""LOMO (Liao et al., CVPR 2015): an exact numpy port of the original package.

The original is MATLAB code (``LOMO.m``, ``SILTP.m``) plus a closed-source
Retinex MEX binary; ``shared/specs/lomo.md`` pins down both.  Every quirk of
the original that changes the numbers is kept on purpose, and the function
that keeps it says so.

Canonical choices
-----------------
* ``rgb2hsv`` follows GNU Octave 7 (``s = 1 - min/max``; hue assigned blue,
  then green, then red, so red wins ties), the free runtime on which anyone
  can re-run the original.  MATLAB's M-file rounds differently on the rare
  pixels whose H or S is exactly k/8.
* ``rgb2gray`` follows Octave: coefficients (0.298936, 0.587043, 0.114021),
  times 255, rounded half away from zero to uint8.
* ``hist`` becomes exact integer counts; ``normc`` becomes ``x / ||x||``.
* No resizing happens here: callers resize to 128 x 48 (the spec's default)
  and record the interpolation.  One-channel (IR) images must be replicated
  to three channels before the call.
* Logarithms are ``np.log``.  It differs from C's ``log`` by one ulp on about
  0.02 % of arguments, which could change a truncated Retinex pixel only if
  its value lay within a few ulps of an integer.

Layout of one descriptor (128 x 48 shown)::

    [HSV (40 strips x 512) | SILTP R=3 (40 x 81) | SILTP R=5 (40 x 81)]

Within a part, bins vary fastest, then strips top to bottom, then scales.
Each part is log-transformed and L2-normalised on its own.  Batches run in
chunks on a thread pool; every image is computed independently, so a batch
and single calls give identical bits.
"""
from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable

import numpy as np

# Fixed parameters of the original package.
NUM_SCALES = 3
BLOCK_SIZE = 10
BLOCK_STEP = 5
HSV_LEVELS = 8
HSV_BINS = HSV_LEVELS**3
SILTP_TAU = 0.3
SILTP_RADII = (3, 5)
SILTP_BINS = 3**4
RETINEX_SIGMAS = (5.0, 20.0)
RETINEX_OFFSET = 10.0
RETINEX_CLIP = 0.025

_CELL = BLOCK_STEP  # windows are 2 x 2 cells because BLOCK_SIZE == 2 * BLOCK_STEP
_MAX_COUNT = BLOCK_SIZE * BLOCK_SIZE
# log(count + 1) for every possible window count: the same np.log values, looked up.
_LOG_COUNTS = np.log(np.arange(_MAX_COUNT + 1, dtype=np.float64) + 1.0)
_CHUNK = 32
_WORKERS = max(1, min(4, os.cpu_count() or 1))


# --------------------------------------------------------------------------- layout


def _num_windows(length: int) -> int:
    """Window positions 0, 5, 10, ... <= length - 10 along one axis."""
    return 0 if length < BLOCK_SIZE else (length - BLOCK_SIZE) // BLOCK_STEP + 1


def _scale_shapes(height: int, width: int) -> list[tuple[int, int]]:
    """Image sizes of the pyramid: each 2 x 2 pooling drops an odd last row/column."""
    return [(height >> s, width >> s) for s in range(NUM_SCALES)]


def _strips(height: int, width: int, min_width: int = 0) -> tuple[int, ...]:
    """Strips per scale; a scale without windows (or too narrow) ends the pyramid."""
    counts = []
    for h, w in _scale_shapes(height, width):
        if w < min_width or _num_windows(w) == 0 or _num_windows(h) == 0:
            break
        counts.append(_num_windows(h))
    return tuple(counts)


@dataclass(frozen=True)
class LomoLayout:
    """Where each part and scale lies in the descriptor of a given image size."""

    height: int
    width: int
    hsv_strips: tuple[int, ...]
    siltp_strips: tuple[tuple[int, ...], ...]  # one tuple per radius in SILTP_RADII

    @property
    def hsv(self) -> slice:
        """The joint-HSV part."""
        return slice(0, HSV_BINS * sum(self.hsv_strips))

    @property
    def siltp(self) -> tuple[slice, ...]:
        """One SILTP part per radius, in SILTP_RADII order."""
        parts, start = [], self.hsv.stop
        for strips in self.siltp_strips:
            parts.append(slice(start, start + SILTP_BINS * sum(strips)))
            start = parts[-1].stop
        return tuple(parts)

    @property
    def parts(self) -> tuple[slice, ...]:
        """All normalisation groups in output order: HSV, then SILTP per radius."""
        return (self.hsv, *self.siltp)

    @property
    def hsv_scale_offsets(self) -> tuple[int, ...]:
        """Start of each HSV scale; (strip r, code k) of scale s is at offset_s + 512 r + k."""
        return tuple(HSV_BINS * sum(self.hsv_strips[:s]) for s in range(len(self.hsv_strips)))

    @property
    def dim(self) -> int:
        """Descriptor length."""
        return self.parts[-1].stop


def lomo_layout(height: int, width: int) -> LomoLayout:
    """Layout of the descriptor for H x W inputs; raises if a part would be empty."""
    layout = LomoLayout(
        height, width, _strips(height, width),
        tuple(_strips(height, width, 2 * r + 1) for r in SILTP_RADII))
    if any(p.stop == p.start for p in layout.parts):
        raise ValueError(f"LOMO needs images of at least {BLOCK_SIZE} x "
                         f"{2 * max(SILTP_RADII) + 1}, got {height} x {width}")
    return layout


DEFAULT_LAYOUT = lomo_layout(128, 48)
LOMO_DIM = DEFAULT_LAYOUT.dim  # 26,960
HSV_SLICE = DEFAULT_LAYOUT.hsv  # [0, 20480)
SILTP_R3_SLICE, SILTP_R5_SLICE = DEFAULT_LAYOUT.siltp  # [20480, 23720), [23720, 26960)
HSV_OFFSET = HSV_SLICE.start
SILTP_R3_OFFSET = SILTP_R3_SLICE.start
SILTP_R5_OFFSET = SILTP_R5_SLICE.start
HSV_SCALE_OFFSETS = DEFAULT_LAYOUT.hsv_scale_offsets  # (0, 12288, 17920)


# -------------------------------------------------------------------------- batching


def _as_batch(images: np.ndarray) -> tuple[np.ndarray, bool]:
    """B x H x W x 3 uint8 view of the input, and whether it was a single image."""
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise ValueError(f"LOMO works on uint8 images (the Retinex is integer-based), got {images.dtype}")
    if images.ndim == 3:
        images = images[None]
        single = True
    else:
        single = False
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"expected H x W x 3 or B x H x W x 3 images, got shape {images.shape}")
    return images, single


def _run_chunks(count: int, work: Callable[[slice], None]) -> None:
    """Call ``work`` on consecutive chunks of the batch on a small thread pool.

    numpy releases the GIL inside its loops, so chunks run on several cores
    at once; chunks of 32 images keep the recursion's working set small while
    amortising its per-step call overhead.
    """
    chunks = [slice(s, min(s + _CHUNK, count)) for s in range(0, count, _CHUNK)]
    if len(chunks) <= 1 or _WORKERS == 1:
        for chunk in chunks:
            work(chunk)
        return
    with ThreadPoolExecutor(max_workers=_WORKERS) as pool:
        for future in [pool.submit(work, chunk) for chunk in chunks]:
            future.result()


# --------------------------------------------------------------------------- Retinex


def recursive_gaussian_coefficients(sigma: float) -> tuple[float, float, float, float, float]:
    """(b0, b1, b2, b3, B) of the Young-van Vliet recursive Gaussian, as GIMP codes them."""
    if sigma >= 2.5:
        q = 0.98711 * sigma - 0.96330
    elif sigma >= 0.5:
        q = 3.97156 - 4.14554 * math.sqrt(1.0 - 0.26891 * sigma)
    else:
        q = 0.1147705018520355
    q2 = q * q
    q3 = q * q2
    b0 = 1.57825 + 2.44413 * q + 1.4281 * q2 + 0.422205 * q3
    b1 = 2.44413 * q + 2.85619 * q2 + 1.26661 * q3
    b2 = -(1.4281 * q2 + 1.26661 * q3)
    b3 = 0.422205 * q3
    big_b = 1.0 - (b1 + b2 + b3) / b0
    return b0, b1, b2, b3, big_b


def _recursive_gaussian_axis0(x: np.ndarray, coefs: np.ndarray) -> np.ndarray:
    """Smooth x (n x 1 x M) along axis 0 with S coefficient rows (S x 5); n x S x M out.

    The recursion runs over the n positions and is vectorised over all other
    lines (and all sigmas) at once.  Its parenthesisation is the binary's, for
    bit-exactness.  The backward pass reads ``w[i]`` rather than ``w[i + 3]``:
    that is the old, unfixed GIMP code the binary was built from, and it
    shifts the output by 3 samples; it is copied, not fixed.
    """
    n, m = x.shape[0], x.shape[2]
    b0, b1, b2, b3, big_b = (coefs[:, k:k + 1] for k in range(5))
    lines = (coefs.shape[0], m)
    t = np.empty(lines)
    u = np.empty(lines)
    w = np.empty((n + 3, *lines))
    w[:3] = x[0]
    for i in range(n):  # w[i+3] = ((b2 w[i+1] + b1 w[i+2]) + b3 w[i]) / b0 + B x[i]
        np.multiply(b2, w[i + 1], out=t)
        np.multiply(b1, w[i + 2], out=u)
        t += u
        np.multiply(b3, w[i], out=u)
        t += u
        t /= b0
        np.multiply(big_b, x[i], out=u)
        np.add(t, u, out=w[i + 3])
    v = np.empty((n + 3, *lines))
    v[n:] = w[n + 2]
    for i in range(n - 1, -1, -1):  # v[i] = ((b2 v[i+2] + b1 v[i+1]) + b3 v[i+3]) / b0 + B w[i]
        np.multiply(b2, v[i + 2], out=t)
        np.multiply(b1, v[i + 1], out=u)
        t += u
        np.multiply(b3, v[i + 3], out=u)
        t += u
        t /= b0
        np.multiply(big_b, w[i], out=u)  # the quirk: w[i], the forward output of sample i - 3
        np.add(t, u, out=v[i])
    return v[:n]


def recursive_gaussian(x: np.ndarray, sigma: float, axis: int = -1) -> np.ndarray:
    """The Retinex's 1-D recursive Gaussian (3-sample shift included) along ``axis``."""
    x = np.moveaxis(np.asarray(x, dtype=np.float64), axis, 0)
    coefs = np.array([recursive_gaussian_coefficients(sigma)])
    out = _recursive_gaussian_axis0(x.reshape(x.shape[0], 1, -1), coefs)
    return np.moveaxis(out.reshape(x.shape), 0, axis)


_SIGMA_COEFS = np.array([recursive_gaussian_coefficients(s) for s in RETINEX_SIGMAS])


def _move_pixels(a: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    """Contiguous transpose of every axis but the last (colour) one, which stays last.

    Viewing each pixel's colour values as one opaque item lets numpy move whole
    pixels, about twice as fast as moving the doubles one by one.
    """
    a = np.ascontiguousarray(a)
    pixels = a.view(np.dtype((np.void, a.shape[-1] * a.itemsize)))[..., 0]
    return np.ascontiguousarray(pixels.transpose(axes))[..., None].view(a.dtype)


def _surrounds(offset_images: np.ndarray) -> np.ndarray:
    """H x S x B x W x 3 Gaussian surrounds of B x H x W x 3 images, one per sigma.

    Rows first, then columns, as the binary does; both sigmas share each pass.
    """
    b, h, w, _ = offset_images.shape
    s = len(RETINEX_SIGMAS)
    rows = _move_pixels(offset_images, (2, 0, 1)).reshape(w, 1, -1)
    rows = _recursive_gaussian_axis0(rows, _SIGMA_COEFS).reshape(w, s, b, h, 3)
    cols = _move_pixels(rows, (3, 1, 2, 0)).reshape(h, s, -1)
    return _recursive_gaussian_axis0(cols, _SIGMA_COEFS).reshape(h, s, b, w, 3)


def _multiscale_retinex(offset_images: np.ndarray) -> np.ndarray:
    """B x H x W x 3 sum over sigma (5, then 20) of 0.5 log(1 + I / max(S, 1e-6)).

    log(1 + I/S), not log I - log S: that is what the binary computes.
    """
    terms = _surrounds(offset_images)
    np.maximum(terms, 1e-6, out=terms)
    np.divide(offset_images.transpose(1, 0, 2, 3)[:, None], terms, out=terms)
    terms += 1.0
    np.log(terms, out=terms)
    terms *= 0.5
    total = terms[:, 0]
    for k in range(1, terms.shape[1]):
        total += terms[:, k]
    return np.ascontiguousarray(total.transpose(1, 0, 2, 3))


def _stretch(msr: np.ndarray) -> np.ndarray:
    """Gain/offset from the pooled 2.5 % / 97.5 % order statistics of each image.

    The binary clips on all three channels pooled (not per channel) and uses
    exact order statistics at trunc(0.025 N) and trunc(0.975 N).
    """
    flat = msr.reshape(msr.shape[0], -1)
    count = flat.shape[1]
    lo_k, hi_k = int(RETINEX_CLIP * count), int((1.0 - RETINEX_CLIP) * count)
    ordered = np.partition(flat, (lo_k, hi_k), axis=1)
    lo, hi = ordered[:, lo_k], ordered[:, hi_k]
    span = hi - lo
    span[span == 0] = 1.0
    gain = (1.0 / span) * 255.0
    offset = (-lo / span) * 255.0
    shape = (-1,) + (1,) * (msr.ndim - 1)
    out = msr * gain.reshape(shape)
    out += offset.reshape(shape)
    out -= RETINEX_OFFSET
    return np.clip(out, 0.0, 255.0, out=out)


def _colour_restoration(offset_images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """log(1 + 3 I_c / (I_R + I_G + I_B)) and its per-image mean.

    The mean is accumulated strictly left to right (row-major pixels, channels
    of a pixel consecutively) as the binary's loop does; pairwise ``np.sum``
    differs in the last bits.
    """
    total = offset_images[..., 0] + offset_images[..., 1]
    total += offset_images[..., 2]
    cr = 3.0 * offset_images
    cr /= total[..., None]
    cr += 1.0
    np.log(cr, out=cr)
    flat = cr.reshape(cr.shape[0], -1)
    mean = np.add.accumulate(flat, axis=1)[:, -1] / flat.shape[1]
    return cr, mean


def _retinex_batch(images: np.ndarray) -> np.ndarray:
    """Retinex of a B x H x W x 3 uint8 batch (see :func:`retinex`)."""
    offset_images = images.astype(np.float64)
    offset_images += RETINEX_OFFSET
    enhanced = _stretch(_multiscale_retinex(offset_images))
    cr, mean = _colour_restoration(offset_images)
    enhanced *= cr
    enhanced /= mean.reshape(-1, 1, 1, 1)
    np.clip(enhanced, 0.0, 255.0, out=enhanced)
    np.maximum(enhanced, images, out=enhanced)  # never darker than the input
    return enhanced.astype(np.uint8)  # truncation toward zero, as the binary does


def retinex(images: np.ndarray) -> np.ndarray:
    """The original package's Retinex MEX (MSRCR, sigma 5 and 20), bit for bit.

    uint8 B x H x W x 3 (or H x W x 3) in, uint8 of the same shape out.  The
    output is truncated, not rounded, and never darker than the input.
    """
    batch, single = _as_batch(images)
    out = np.empty_like(batch)

    def work(chunk: slice) -> None:
        out[chunk] = _retinex_batch(batch[chunk])

    _run_chunks(len(batch), work)
    return out[0] if single else out


# ------------------------------------------------------------------------ HSV and grey


def _level(values: np.ndarray) -> np.ndarray:
    """min(floor(8 x), 7) for x in [0, 1], as uint8."""
    return np.minimum(values * HSV_LEVELS, HSV_LEVELS - 1).astype(np.uint8)


def _hsv_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-value tables of Octave's rgb2hsv terms, so each pixel needs only lookups.

    Every entry is computed with exactly the per-pixel formula, so the lookups
    are bit-identical to evaluating it pixel by pixel.  Pair tables are indexed
    by ``256 * x + y``.
    """
    unit = np.arange(256) / 255.0  # the original's im2double
    x, y = unit.repeat(256), np.tile(unit, 256)
    hue_numerator = (1.0 / 6.0) * (x - y)  # 1/6 * (g - b), (b - r) or (r - g)
    chroma = np.where(x == y, 1.0, x - y)  # max - min; 1 on grey so its hue is 0
    with np.errstate(divide="ignore", invalid="ignore"):
        sat = np.where(x > y, 1.0 - y / x, 0.0)  # s = 1 - min / max, 0 on grey
    return hue_numerator, chroma, _level(sat), _level(unit)


_HUE_NUMERATOR, _CHROMA, _SAT_LEVEL, _VAL_LEVEL = _hsv_tables()
_HUE_BASE = np.array([0.0, 1.0 / 3.0, 2.0 / 3.0])  # red, green, blue sector


def quantised_hsv(images: np.ndarray) -> np.ndarray:
    """B x H x W x 3 uint8 levels (qH, qS, qV) = min(floor(8 x), 7) of Octave's rgb2hsv.

    Octave's formulas, not MATLAB's: they round differently, and pixels whose
    H or S is exactly k/8 change bin (see the module docstring).  Octave
    assigns the hue for blue, then green, then red maxima, each overwriting the
    last, so red wins ties, then green.
    """
    r, g, b = (images[..., c].astype(np.uint16) for c in range(3))
    top = np.maximum(np.maximum(r, g), b)
    bottom = np.minimum(np.minimum(r, g), b)
    red, green = r == top, g == top
    sector = np.where(red, np.uint8(0), np.where(green, np.uint8(1), np.uint8(2)))
    r <<= 8
    g <<= 8
    b <<= 8
    pair = np.where(red, g | (b >> 8), np.where(green, b | (r >> 8), r | (g >> 8)))
    top <<= 8
    top |= bottom
    hue = _HUE_NUMERATOR[pair]
    hue /= _CHROMA[top]
    hue += _HUE_BASE[sector]  # 0 + x == x, so red's formula (no base) is unchanged
    hue += hue < 0
    levels = np.empty(images.shape, dtype=np.uint8)
    levels[..., 0] = _level(hue)
    levels[..., 1] = _SAT_LEVEL[top]
    levels[..., 2] = _VAL_LEVEL[top >> 8]
    return levels


def rgb2gray_octave(images: np.ndarray) -> np.ndarray:
    """Octave's rgb2gray of uint8 images: weighted sum of x/255, times 255, rounded half up."""
    grey = (images[..., 0] / 255.0) * 0.298936
    grey += (images[..., 1] / 255.0) * 0.587043
    grey += (images[..., 2] / 255.0) * 0.114021
    grey *= 255.0
    floor = np.floor(grey)
    rounded = floor + (grey - floor >= 0.5)  # half away from zero (values are >= 0)
    return np.clip(rounded, 0, 255).astype(np.uint8)


def _pool_sum(x: np.ndarray) -> np.ndarray:
    """Sum of each 2 x 2 block over axes 1-2 (odd last row/column dropped).

    Summed in MATLAB's column-major order (top-left, bottom-left, top-right,
    bottom-right) so that float sums match the original bit for bit.
    """
    h, w = x.shape[1] // 2 * 2, x.shape[2] // 2 * 2
    total = x[:, 0:h:2, 0:w:2] + x[:, 1:h:2, 0:w:2]
    total += x[:, 0:h:2, 1:w:2]
    total += x[:, 1:h:2, 1:w:2]
    return total


def pool_levels(levels: np.ndarray) -> np.ndarray:
    """2 x 2 floor-mean of quantised levels: the original pools indices, not colours."""
    return _pool_sum(levels) >> 2


def pool_grey(grey: np.ndarray) -> np.ndarray:
    """2 x 2 plain mean of grey images, not floored."""
    total = _pool_sum(grey)
    total /= 4.0
    return total


def siltp(grey: np.ndarray, radius: int, tau: float = SILTP_TAU) -> np.ndarray:
    """B x H x W SILTP codes (0..80) of float grey images, 4 neighbours at ``radius``.

    Digits are right, up, left, down (weights 1, 3, 9, 27), each 1 if the
    neighbour is < (1 - tau) c, 2 if > (1 + tau) c, strict; borders replicate.
    """
    _, h, w = grey.shape
    padded = np.pad(grey, ((0, 0), (radius, radius), (radius, radius)), mode="edge")
    low = (1.0 - tau) * grey
    high = (1.0 + tau) * grey
    rows, cols = slice(radius, radius + h), slice(radius, radius + w)
    neighbours = (
        padded[:, rows, 2 * radius:2 * radius + w],  # right
        padded[:, 0:h, cols],  # up (row - R)
        padded[:, rows, 0:w],  # left
        padded[:, 2 * radius:2 * radius + h, cols],  # down
    )
    codes = np.zeros(grey.shape, dtype=np.uint8)
    for weight, nb in zip((1, 3, 9, 27), neighbours):
        codes += (nb < low) * np.uint8(weight)
        codes += (nb > high) * np.uint8(2 * weight)
    return codes


# ------------------------------------------------------------------------ histograms


def _cell_keys(h: int, w: int, nbins: int) -> np.ndarray:
    """For the pixels covered by windows: (cell row * cells per row + cell col) * nbins."""
    rows, cols = _num_windows(h) + 1, _num_windows(w) + 1
    cell = (np.arange(rows * _CELL) // _CELL)[:, None] * cols + np.arange(cols * _CELL) // _CELL
    return cell * nbins


def strip_histograms(codes: np.ndarray, nbins: int) -> np.ndarray:
    """B x strips x nbins max-occurrence histograms (uint8) of B x H x W integer codes.

    Each 10 x 10 window (step 5) is counted exactly; the maximum is taken over
    the windows of one row only (horizontal pooling), and pixels outside every
    window are ignored.  Windows are summed from 5 x 5 cells, since
    BLOCK_SIZE == 2 * BLOCK_STEP; counts never exceed 100, so uint8 holds them.
    One bincount per image keeps its table in cache.
    """
    b, h, w = codes.shape
    rows, cols = _num_windows(h), _num_windows(w)
    keys = _cell_keys(h, w, nbins)
    keys = (keys + codes[:, :keys.shape[0], :keys.shape[1]]).reshape(b, -1)
    cells = np.empty((b, (rows + 1) * (cols + 1) * nbins), dtype=np.uint8)
    for image in range(b):
        cells[image] = np.bincount(keys[image], minlength=cells.shape[1])
    cells = cells.reshape(b, rows + 1, cols + 1, nbins)
    pairs = cells[:, :-1] + cells[:, 1:]
    windows = pairs[:, :, :-1] + pairs[:, :, 1:]
    return windows.max(axis=2)


def _normalised_log(counts: list[np.ndarray]) -> np.ndarray:
    """log(x + 1) of the stacked strip histograms of one part, L2-normalised per image."""
    part = np.concatenate([c.reshape(c.shape[0], -1) for c in counts], axis=1)
    feats = _LOG_COUNTS[part]
    norm = np.sqrt(np.add.reduce(feats * feats, axis=1))
    feats /= norm[:, None]
    return feats


# ------------------------------------------------------------------------- descriptor


def _hsv_part(enhanced: np.ndarray, strips: tuple[int, ...]) -> np.ndarray:
    """Joint HSV part over the pyramid of floor-pooled quantised levels."""
    levels = quantised_hsv(enhanced)
    counts = []
    for scale in range(len(strips)):
        if scale:
            levels = pool_levels(levels)
        codes = (levels[..., 0] + HSV_LEVELS * levels[..., 1].astype(np.int16)
                 + HSV_LEVELS**2 * levels[..., 2].astype(np.int16))
        counts.append(strip_histograms(codes, HSV_BINS))
    return _normalised_log(counts)


def _siltp_part(grey: np.ndarray, radius: int, strips: tuple[int, ...]) -> np.ndarray:
    """SILTP part for one radius over the pyramid of mean-pooled grey images."""
    counts = []
    for scale in range(len(strips)):
        if scale:
            grey = pool_grey(grey)
        counts.append(strip_histograms(siltp(grey, radius), SILTP_BINS))
    return _normalised_log(counts)


def _lomo_batch(images: np.ndarray, layout: LomoLayout, out: np.ndarray) -> None:
    """Write the descriptors of a B x H x W x 3 uint8 batch into ``out`` (B x D)."""
    out[:, layout.hsv] = _hsv_part(_retinex_batch(images), layout.hsv_strips)
    grey = rgb2gray_octave(images) / 255.0
    for radius, strips, part in zip(SILTP_RADII, layout.siltp_strips, layout.siltp):
        out[:, part] = _siltp_part(grey, radius, strips)


def hsv_part(enhanced: np.ndarray) -> np.ndarray:
    """The joint-HSV part of LOMO for images that already went through :func:`retinex`."""
    batch, single = _as_batch(enhanced)
    part = _hsv_part(batch, lomo_layout(batch.shape[1], batch.shape[2]).hsv_strips)
    return part[0] if single else part


def siltp_part(images: np.ndarray, radius: int) -> np.ndarray:
    """The SILTP part of LOMO for one radius, from the original (not enhanced) images."""
    batch, single = _as_batch(images)
    strips = _strips(batch.shape[1], batch.shape[2], 2 * radius + 1)
    if not strips:
        raise ValueError(f"images of width {batch.shape[2]} are too small for SILTP radius {radius}")
    part = _siltp_part(rgb2gray_octave(batch) / 255.0, radius, strips)
    return part[0] if single else part


def lomo(images: np.ndarray) -> np.ndarray:
    """LOMO descriptors of uint8 RGB images, exactly as the original package.

    B x H x W x 3 in, B x D float64 out (or H x W x 3 in, D out); D = 26,960
    at 128 x 48 and 35,722 at 160 x 60 (see :func:`lomo_layout`).  Equal to
    ``[hsv_part(retinex(x)), siltp_part(x, 3), siltp_part(x, 5)]``, computed
    in chunks on a thread pool.
    """
    batch, single = _as_batch(images)
    layout = lomo_layout(batch.shape[1], batch.shape[2])
    out = np.empty((len(batch), layout.dim))
    _run_chunks(len(batch), lambda chunk: _lomo_batch(batch[chunk], layout, out[chunk]))
    return out[0] if single else out

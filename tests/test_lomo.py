"""LOMO: the fast port against a literal reference, plus layout facts and quirks.

The reference below transcribes shared/specs/lomo.md line by line with plain
Python loops (per pixel, per line, per window).  It shares no code with the
port; only the elementary ``log`` is numpy's, as in the port.
"""
from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import pytest

from reidbench.methods.handcrafted.lomo import (
    HSV_OFFSET,
    HSV_SCALE_OFFSETS,
    HSV_SLICE,
    LOMO_DIM,
    SILTP_R3_OFFSET,
    SILTP_R3_SLICE,
    SILTP_R5_OFFSET,
    SILTP_R5_SLICE,
    hsv_part,
    lomo,
    lomo_layout,
    pool_grey,
    pool_levels,
    quantised_hsv,
    recursive_gaussian,
    retinex,
    rgb2gray_octave,
    siltp,
    siltp_part,
)

# ----------------------------------------------------------------- literal reference


def ref_log(x: float) -> float:
    """The port's elementary log (numpy's); libm's differs by an ulp on rare inputs."""
    return float(np.log(x))


def ref_coefficients(sigma: float) -> tuple[float, float, float, float, float]:
    if sigma >= 2.5:
        q = 0.98711 * sigma - 0.96330
    elif sigma >= 0.5:
        q = 3.97156 - 4.14554 * math.sqrt(1 - 0.26891 * sigma)
    else:
        q = 0.1147705018520355
    q2 = q * q
    q3 = q2 * q
    b0 = 1.57825 + 2.44413 * q + 1.4281 * q2 + 0.422205 * q3
    b1 = 2.44413 * q + 2.85619 * q2 + 1.26661 * q3
    b2 = -(1.4281 * q2 + 1.26661 * q3)
    b3 = 0.422205 * q3
    return b0, b1, b2, b3, 1 - (b1 + b2 + b3) / b0


def ref_gauss_line(x: list[float], sigma: float) -> list[float]:
    b0, b1, b2, b3, big_b = ref_coefficients(sigma)
    n = len(x)
    w = [x[0], x[0], x[0]] + [0.0] * n
    for i in range(n):
        w[i + 3] = ((b2 * w[i + 1] + b1 * w[i + 2]) + b3 * w[i]) / b0 + big_b * x[i]
    v = [0.0] * n + [w[n + 2]] * 3
    for i in range(n - 1, -1, -1):
        v[i] = ((b2 * v[i + 2] + b1 * v[i + 1]) + b3 * v[i + 3]) / b0 + big_b * w[i]
    return v[:n]


def ref_retinex(img: np.ndarray) -> np.ndarray:
    h, w, _ = img.shape
    p = img.tolist()
    i_ = [[[p[y][x][c] + 10.0 for c in range(3)] for x in range(w)] for y in range(h)]
    r_ = [[[0.0, 0.0, 0.0] for _ in range(w)] for _ in range(h)]
    for c in range(3):
        for sigma in (5.0, 20.0):
            rows = [ref_gauss_line([i_[y][x][c] for x in range(w)], sigma) for y in range(h)]
            cols = [ref_gauss_line([rows[y][x] for y in range(h)], sigma) for x in range(w)]
            for y in range(h):
                for x in range(w):
                    r_[y][x][c] += 0.5 * ref_log(1 + i_[y][x][c] / max(cols[x][y], 1e-6))
    values = sorted(r_[y][x][c] for y in range(h) for x in range(w) for c in range(3))
    n = len(values)
    lo, hi = values[int(0.025 * n)], values[int((1 - 0.025) * n)]
    span = hi - lo
    if span == 0:
        span = 1.0
    gain = (1 / span) * 255
    offset = (-lo / span) * 255
    cr = [[[ref_log(1 + 3 * i_[y][x][c] / (i_[y][x][0] + i_[y][x][1] + i_[y][x][2]))
            for c in range(3)] for x in range(w)] for y in range(h)]
    total = 0.0
    for y in range(h):
        for x in range(w):
            for c in range(3):
                total += cr[y][x][c]
    mean = total / n
    out = np.zeros((h, w, 3), dtype=np.uint8)
    for y in range(h):
        for x in range(w):
            for c in range(3):
                v = min(max(r_[y][x][c] * gain + offset - 10, 0.0), 255.0)
                v = min(max(v * cr[y][x][c] / mean, 0.0), 255.0)
                out[y, x, c] = int(max(v, p[y][x][c]))
    return out


def ref_hsv_levels(red: int, green: int, blue: int) -> tuple[int, int, int]:
    """Octave 7 rgb2hsv (blue, then green, then red overwrite), then min(floor(8x), 7)."""
    r, g, b = red / 255, green / 255, blue / 255
    mx, mn = max(r, g, b), min(r, g, b)
    h = s = 0.0
    if mx != mn:
        s = 1 - mn / mx
        if b == mx:
            h = 2 / 3 + 1 / 6 * (r - g) / (mx - mn)
        if g == mx:
            h = 1 / 3 + 1 / 6 * (b - r) / (mx - mn)
        if r == mx:
            h = 1 / 6 * (g - b) / (mx - mn)
        if h < 0:
            h += 1
    return min(math.floor(8 * h), 7), min(math.floor(8 * s), 7), min(math.floor(8 * mx), 7)


def ref_gray(red: int, green: int, blue: int) -> int:
    v = (red / 255 * 0.298936 + green / 255 * 0.587043 + blue / 255 * 0.114021) * 255
    return min(int(Decimal(v).quantize(Decimal(1), rounding=ROUND_HALF_UP)), 255)


def ref_siltp(g: list[list[float]], radius: int) -> list[list[int]]:
    h, w = len(g), len(g[0])

    def at(y: int, x: int) -> float:
        return g[min(max(y, 0), h - 1)][min(max(x, 0), w - 1)]

    codes = []
    for y in range(h):
        row = []
        for x in range(w):
            c = g[y][x]
            lo, hi = (1 - 0.3) * c, (1 + 0.3) * c
            code = 0
            for weight, (dy, dx) in zip((1, 3, 9, 27), ((0, radius), (-radius, 0), (0, -radius), (radius, 0))):
                n = at(y + dy, x + dx)
                code += weight * (1 if n < lo else 2 if n > hi else 0)
            row.append(code)
        codes.append(row)
    return codes


def ref_strips(codes: list[list[int]], nbins: int) -> list[int]:
    h, w = len(codes), len(codes[0])
    out = []
    for r0 in range(0, h - 10 + 1, 5):
        best = [0] * nbins
        for c0 in range(0, w - 10 + 1, 5):
            hist = [0] * nbins
            for y in range(r0, r0 + 10):
                for x in range(c0, c0 + 10):
                    hist[codes[y][x]] += 1
            best = [max(a, b) for a, b in zip(best, hist)]
        out.extend(best)
    return out


def ref_pool(a: list[list], combine) -> list[list]:
    return [[combine(a[2 * y][2 * x], a[2 * y + 1][2 * x], a[2 * y][2 * x + 1], a[2 * y + 1][2 * x + 1])
             for x in range(len(a[0]) // 2)] for y in range(len(a) // 2)]


def ref_normalise(counts: list[int]) -> list[float]:
    f = [math.log(c + 1) for c in counts]
    norm = math.sqrt(sum(v * v for v in f))
    return [v / norm for v in f]


def ref_lomo(img: np.ndarray) -> np.ndarray:
    enhanced = ref_retinex(img).tolist()
    levels = [[ref_hsv_levels(*px) for px in row] for row in enhanced]
    hsv = []
    for scale in range(3):
        if scale:
            levels = ref_pool(levels, lambda a, b, c, d: tuple(
                math.floor((a[k] + b[k] + c[k] + d[k]) / 4) for k in range(3)))
        if len(levels) < 10 or len(levels[0]) < 10:
            break
        hsv += ref_strips([[q[0] + 8 * q[1] + 64 * q[2] for q in row] for row in levels], 512)
    feature = ref_normalise(hsv)
    grey0 = [[ref_gray(*px) / 255 for px in row] for row in img.tolist()]
    for radius in (3, 5):
        grey, part = grey0, []
        for scale in range(3):
            if scale:
                grey = ref_pool(grey, lambda tl, bl, tr, br: (tl + bl + tr + br) / 4)
            if len(grey[0]) < 2 * radius + 1 or len(grey) < 10 or len(grey[0]) < 10:
                break
            part += ref_strips(ref_siltp(grey, radius), 81)
        feature += ref_normalise(part)
    return np.array(feature)


# ------------------------------------------------------------------------ test images


def _structured(h: int, w: int, seed: int) -> np.ndarray:
    """Gradients, saturated colours, tied channels, grey and black/white patches."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([(255 * x / (w - 1)), (255 * y / (h - 1)), (255 - 255 * x / (w - 1))], -1)
    img = img.round().astype(np.uint8)
    palette = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0], [0, 255, 255],
                        [255, 0, 255], [200, 200, 40], [40, 200, 200], [200, 40, 200],
                        [128, 128, 128], [0, 0, 0], [255, 255, 255], [204, 193, 92]], np.uint8)
    for _ in range(12):
        y0, x0 = rng.integers(0, h - 4), rng.integers(0, w - 4)
        img[y0:y0 + rng.integers(3, 12), x0:x0 + rng.integers(3, 12)] = palette[rng.integers(len(palette))]
    return img


def _images() -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    return [
        rng.integers(0, 256, (40, 24, 3), dtype=np.uint8),
        _structured(40, 24, 1),
        np.full((40, 24, 3), (90, 160, 30), np.uint8),  # flat: the stretch amplifies rounding noise
        np.repeat(rng.integers(0, 256, (40, 24, 1), dtype=np.uint8), 3, axis=2),  # IR-like grey
        _structured(48, 40, 2),  # scale 3 is 12 x 10: R = 5 skips it, R = 3 and HSV do not
        _structured(43, 27, 4),  # odd sizes: pooling drops the last row and column
        _structured(128, 48, 3),
    ]


@pytest.fixture(scope="module")
def images() -> list[np.ndarray]:
    return _images()


@pytest.fixture(scope="module")
def references(images: list[np.ndarray]) -> list[np.ndarray]:
    return [ref_lomo(img) for img in images]


def _img128(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(_structured(128, 48, seed).astype(int) + rng.integers(-30, 31, (128, 48, 3)),
                   0, 255).astype(np.uint8)


# -------------------------------------------------------------- exactness vs reference


def test_retinex_matches_reference_exactly(images: list[np.ndarray]) -> None:
    for img in images:
        out = retinex(img)
        assert out.dtype == np.uint8 and out.shape == img.shape
        np.testing.assert_array_equal(out, ref_retinex(img))


def test_lomo_matches_reference(images: list[np.ndarray], references: list[np.ndarray]) -> None:
    for img, ref in zip(images, references):
        fast = lomo(img)
        assert fast.shape == ref.shape
        assert np.max(np.abs(fast - ref)) <= 1e-12


def test_batched_lomo_matches_reference(images: list[np.ndarray], references: list[np.ndarray]) -> None:
    small = [i for i, img in enumerate(images) if img.shape == (40, 24, 3)]
    batch = lomo(np.stack([images[i] for i in small]))
    for row, i in zip(batch, small):
        assert np.max(np.abs(row - references[i])) <= 1e-12


def test_grey_retinex_keeps_the_sequential_mean() -> None:
    # Grey pixels have CR = log 2 exactly; at 128 x 48 the sequential mean of 18,432 copies
    # ends slightly above log 2, so stretched 255s become 254.99999999994... and truncate to
    # 254.  A pairwise (np.sum) mean is exactly log 2 here and would keep 255.
    rng = np.random.default_rng(8)
    ir = np.repeat(rng.integers(0, 251, (128, 48, 1), dtype=np.uint8), 3, axis=2)
    out = retinex(ir)
    np.testing.assert_array_equal(out, ref_retinex(ir))
    assert out.max() == 254


def test_pyramid_pooling_order_and_floor() -> None:
    rng = np.random.default_rng(9)
    grey = rng.random((2, 9, 7))  # odd sizes: the last row and column are dropped
    expected = [ref_pool(g.tolist(), lambda tl, bl, tr, br: (tl + bl + tr + br) / 4) for g in grey]
    np.testing.assert_array_equal(pool_grey(grey), expected)  # MATLAB's summation order, exactly
    levels = rng.integers(0, 8, (2, 9, 7, 3)).astype(np.uint8)
    expected = [ref_pool(lv.tolist(), lambda a, b, c, d: [(a[k] + b[k] + c[k] + d[k]) // 4 for k in range(3)])
                for lv in levels]
    np.testing.assert_array_equal(pool_levels(levels), expected)


def test_quantised_hsv_matches_octave_formulas() -> None:
    rng = np.random.default_rng(3)
    grid = np.arange(0, 256, 5)
    a, b = np.meshgrid(grid, grid)
    a, b = a.ravel(), b.ravel()
    ties = np.concatenate([np.stack(t, -1) for t in ((a, a, b), (a, b, a), (b, a, a), (a, a, a))])
    colours = np.concatenate([ties, rng.integers(0, 256, (20000, 3))]).astype(np.uint8)
    fast = quantised_hsv(colours[None, None])[0, 0]
    ref = np.array([ref_hsv_levels(*px) for px in colours.tolist()])
    np.testing.assert_array_equal(fast, ref)


def test_rgb2gray_matches_octave_rounding() -> None:
    rng = np.random.default_rng(4)
    greys = np.repeat(np.arange(256)[:, None], 3, axis=1)
    colours = np.concatenate([greys, rng.integers(0, 256, (20000, 3))]).astype(np.uint8)
    fast = rgb2gray_octave(colours[None])[0]
    np.testing.assert_array_equal(fast, [ref_gray(*px) for px in colours.tolist()])
    np.testing.assert_array_equal(fast[:256], np.arange(256))  # weights sum to 1


# ------------------------------------------------------------------------------ layout


def test_lengths_and_offsets() -> None:
    assert LOMO_DIM == 26960
    assert lomo(_img128()).shape == (26960,)
    assert (HSV_SLICE.start, HSV_SLICE.stop) == (0, 20480)
    assert (SILTP_R3_SLICE.start, SILTP_R3_SLICE.stop) == (20480, 23720)
    assert (SILTP_R5_SLICE.start, SILTP_R5_SLICE.stop) == (23720, 26960)
    assert (HSV_OFFSET, SILTP_R3_OFFSET, SILTP_R5_OFFSET) == (0, 20480, 23720)
    assert HSV_SCALE_OFFSETS == (0, 12288, 17920)
    big = lomo_layout(160, 60)
    assert big.hsv_strips == (31, 15, 7) and big.dim == 35722
    img160 = np.random.default_rng(1).integers(0, 256, (160, 60, 3), dtype=np.uint8)
    assert lomo(img160).shape == (35722,)
    # R = 5 drops scale 3 when its width (10) is below 2R + 1; HSV and R = 3 keep it.
    small = lomo_layout(48, 40)
    assert small.hsv_strips == (8, 3, 1) and small.siltp_strips == ((8, 3, 1), (8, 3))


def test_parts_have_unit_norm_and_compose() -> None:
    imgs = np.stack([_img128(s) for s in range(3)])
    feats = lomo(imgs)
    for part in (HSV_SLICE, SILTP_R3_SLICE, SILTP_R5_SLICE):
        np.testing.assert_allclose(np.linalg.norm(feats[:, part], axis=1), 1.0, rtol=0, atol=1e-12)
    assert np.all(feats >= 0)
    np.testing.assert_array_equal(feats[:, HSV_SLICE], hsv_part(retinex(imgs)))
    np.testing.assert_array_equal(feats[:, SILTP_R3_SLICE], siltp_part(imgs, 3))
    np.testing.assert_array_equal(feats[:, SILTP_R5_SLICE], siltp_part(imgs, 5))


def test_hue_is_the_fastest_digit() -> None:
    colour = (204, 193, 92)
    assert ref_hsv_levels(*colour) == (1, 4, 6)  # distinct digits: any other order moves the bin
    code = 1 + 8 * 4 + 64 * 6
    part = hsv_part(np.full((128, 48, 3), colour, np.uint8))
    expected = [off + 512 * r + code for off, n in zip(HSV_SCALE_OFFSETS, (24, 11, 5)) for r in range(n)]
    np.testing.assert_array_equal(np.flatnonzero(part), expected)


def test_max_pooling_is_horizontal_only() -> None:
    white, colour = 448, 1 + 8 * 4 + 64 * 6  # codes of (255, 255, 255) and (204, 193, 92)
    img = np.full((128, 48, 3), 255, np.uint8)
    img[0:10, 0:10] = (204, 193, 92)
    f = hsv_part(img)
    # Strip 0: one window is all colour, others all white: both maxima are 100, not sums.
    assert f[colour] == pytest.approx(f[white], abs=0, rel=1e-15)
    # Strip 1 (rows 5-14) sees half the block; strip 2 none: no vertical pooling.
    assert f[512 + colour] / f[white] == pytest.approx(math.log(51) / math.log(101), rel=1e-14)
    assert f[2 * 512 + colour] == 0
    assert f[2 * 512 + white] == f[white]


def test_siltp_digit_order_right_up_left_down() -> None:
    grey = np.full((1, 31, 31), 0.4)
    grey[0, 15, 15] = 0.9
    codes = siltp(grey, 3)[0]
    assert codes[15, 12] == 2  # its right neighbour is bright: digit 1, value 2
    assert codes[18, 15] == 2 * 3  # up (row - R) is bright
    assert codes[15, 18] == 2 * 9  # left
    assert codes[12, 15] == 2 * 27  # down
    assert codes[15, 15] == 1 + 3 + 9 + 27  # all four neighbours are darker
    assert np.count_nonzero(codes) == 5


def test_siltp_inequalities_are_strict_and_borders_replicate() -> None:
    c = 0.5
    for neighbour, expected in [((1 + 0.3) * c, 0), (np.nextafter((1 + 0.3) * c, 1), 2),
                                ((1 - 0.3) * c, 0), (np.nextafter((1 - 0.3) * c, 0), 1)]:
        grey = np.full((1, 7, 7), c)
        grey[0, 3, 6] = neighbour
        assert siltp(grey, 3)[0, 3, 3] == expected
    # Edge replication: a border pixel's outside neighbours equal itself (zero padding would not).
    ramp = np.tile(np.linspace(0.2, 0.8, 20), (20, 1))[None]
    assert not np.any(siltp(ramp, 3)[0, :, 0] % 27 // 9)  # left digit of column 0
    assert not np.any(siltp(np.full((1, 12, 12), 0.6), 5))


def test_grey_image_uses_only_zero_hue_and_saturation() -> None:
    rng = np.random.default_rng(5)
    ir = np.repeat(rng.integers(0, 256, (2, 128, 48, 1), dtype=np.uint8), 3, axis=3)
    enhanced = retinex(ir)
    assert np.array_equal(enhanced[..., 0], enhanced[..., 1]) and np.array_equal(enhanced[..., 1], enhanced[..., 2])
    feats = lomo(ir)
    codes = np.flatnonzero(feats[0, HSV_SLICE]) % 512
    assert codes.size > 8 and np.all(codes % 64 == 0)


# ------------------------------------------------------------------- batch and edge cases


def test_batch_equals_single_calls() -> None:
    rng = np.random.default_rng(6)
    imgs = np.concatenate([np.stack([_img128(s) for s in range(4)]),
                           rng.integers(0, 256, (33, 128, 48, 3), dtype=np.uint8)])
    batch = lomo(imgs)  # 37 images: more than one chunk, so the thread pool runs
    for i in (0, 3, 20, 36):
        np.testing.assert_array_equal(batch[i], lomo(imgs[i]))
    np.testing.assert_array_equal(retinex(imgs)[36], retinex(imgs[36]))
    np.testing.assert_array_equal(lomo(imgs), batch)  # deterministic


def test_constant_images_give_finite_features() -> None:
    for value in ((0, 0, 0), (255, 255, 255), (100, 150, 200)):
        f = lomo(np.full((128, 48, 3), value, np.uint8))
        assert np.all(np.isfinite(f))
        assert np.linalg.norm(f[SILTP_R3_SLICE]) == pytest.approx(1.0)


def test_retinex_never_darkens() -> None:
    img = _img128(9)
    assert np.all(retinex(img) >= img)


def test_bad_inputs_are_rejected() -> None:
    with pytest.raises(ValueError):
        lomo(np.zeros((128, 48, 3), np.float64))
    with pytest.raises(ValueError):
        lomo(np.zeros((128, 48), np.uint8))
    with pytest.raises(ValueError):
        lomo(np.zeros((9, 48, 3), np.uint8))


# ----------------------------------------------------------------- recursive Gaussian


def test_recursive_gaussian_impulse_is_shifted_by_three() -> None:
    x = np.zeros(101)
    x[50] = 1.0
    y = recursive_gaussian(x, 5.0)
    np.testing.assert_array_equal(y, ref_gauss_line(x.tolist(), 5.0))
    assert np.argmax(y) == 53  # the quirk: centred on 50 + 3, not 50
    # Symmetric about 53 (a plain shift of the true Gaussian), up to edge effects.
    np.testing.assert_allclose(y[53 - np.arange(1, 20)], y[53 + np.arange(1, 20)], rtol=0, atol=1e-9)
    assert y.sum() == pytest.approx(1.0, abs=1e-5)  # unit DC gain


def test_surround_is_shifted_three_pixels_along_both_axes() -> None:
    img = np.zeros((80, 48))
    img[40, 24] = 1.0
    out = recursive_gaussian(recursive_gaussian(img, 5.0, axis=1), 5.0, axis=0)
    assert np.unravel_index(np.argmax(out), out.shape) == (43, 27)

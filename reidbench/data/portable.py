"""Arithmetic that gives the same bits on every x86-64 machine, for the synthetic replicas.

numpy picks its ``exp``/``sin``/``log`` kernels by CPU feature level (SSE, AVX2,
AVX-512) and they differ in the last bit; a BLAS dot product sums in an order that
depends on the OpenBLAS kernel; glibc's scalar ``exp`` has an FMA variant. A
one-ulp change is enough to move a pixel across a rounding boundary, and it once
changed the replica's JPEG bytes between machines. Everything here is built from
IEEE-754 basic operations (``+ - * /``, ``floor``, ``ldexp``, ``fmod``), which
every CPU and SIMD width rounds identically, applied one numpy ufunc at a time so
nothing is fused into an FMA.
"""
from __future__ import annotations

import math

import numpy as np
from scipy.ndimage import correlate1d

_LN2 = 0.6931471805599453
_TAYLOR_TERMS = 14  # |r| < ln 2 after range reduction: truncation error < 4e-15


def exp_neg(t: np.ndarray | float) -> np.ndarray:
    """``exp(-t)`` for ``t >= 0`` (float64, relative error < 1e-14).

    Range reduction ``t = n ln2 + r`` then a Horner-form Taylor series of ``exp(-r)``,
    scaled by ``2**-n`` exactly.
    """
    t = np.clip(np.asarray(t, np.float64), 0.0, 700.0)
    n = np.floor(t / _LN2)
    x = -(t - n * _LN2)
    p = np.ones_like(x)
    for k in range(_TAYLOR_TERMS, 0, -1):
        p = 1.0 + p * x / k
    return np.ldexp(p, -n.astype(np.int64))


def gaussian_kernel(sigma: float, truncate: float = 4.0) -> np.ndarray:
    """Normalised 1-D Gaussian weights, radius ``int(truncate * sigma + 0.5)`` (as scipy)."""
    radius = int(truncate * sigma + 0.5)
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    w = exp_neg(0.5 * (x * x) / (sigma * sigma))
    return w / math.fsum(w.tolist())  # fsum: exact, so independent of numpy's summation kernel


def gaussian_blur(img: np.ndarray, sigma: float) -> np.ndarray:
    """Blur the two spatial axes of an H x W (x C) image, reflecting at the border.

    ``scipy.ndimage.correlate1d`` accumulates in a fixed order in plain C; the
    weights come from :func:`gaussian_kernel`, not from numpy's ``exp``.
    """
    if sigma <= 1e-15:
        return img
    weights = gaussian_kernel(sigma)
    out = correlate1d(img, weights, axis=0, mode="reflect")
    return correlate1d(out, weights, axis=1, mode="reflect")


def positive_half_wave(theta: np.ndarray) -> np.ndarray:
    """Where ``sin(theta) > 0``, from ``fmod`` (exact) instead of a sine kernel."""
    return np.mod(theta, 2 * np.pi) < np.pi

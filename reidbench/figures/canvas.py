"""Writing matplotlib figures: PNG for people, PDF for papers, base64 PNG for HTML.

Figures are built with :class:`matplotlib.figure.Figure` directly, never pyplot,
so nothing needs a display and no global figure state leaks between plots.
"""
from __future__ import annotations

import base64
import io
from pathlib import Path

from matplotlib.figure import Figure

from reidbench.atomic import atomic_open
from reidbench.errors import ReidbenchError

FORMATS = ("png", "pdf")
DPI = 150


def new_figure(width: float, height: float) -> Figure:
    return Figure(figsize=(width, height), layout="constrained")


def save_figure(fig: Figure, stem: Path, formats: tuple[str, ...] = FORMATS) -> list[Path]:
    """Write ``stem.png`` and ``stem.pdf`` (folders created); return the paths."""
    stem = Path(stem)
    if stem.suffix.lstrip(".").lower() in FORMATS:
        stem = stem.with_suffix("")  # "--out cmc.png" means the stem "cmc"
    paths = []
    for fmt in formats:
        buf = io.BytesIO()
        fig.savefig(buf, format=fmt, dpi=DPI)
        paths.append(write_bytes_atomic(stem.with_name(f"{stem.name}.{fmt}"), buf.getvalue()))
    return paths


def png_base64(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def write_bytes_atomic(path: Path, data: bytes) -> Path:
    """Temporary file in the same folder, then rename: a reader never sees half a figure."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_open(path) as fh:
            fh.write(data)
    except OSError as exc:
        raise ReidbenchError(f"cannot write {path}: {exc.strerror}") from None
    return path

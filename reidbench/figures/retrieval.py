"""Retrieval examples (the paper's Fig. 6): IR queries and their top-k RGB gallery images.

Everything comes from a result file: its dataset root (checked against the
fingerprint), protocol, distance and cached embeddings, so the ranking shown is the
one the run was scored on: one trial's gallery, cam-3 queries skipping cam-2
images (same room), a stable sort of distances (ties keep gallery order).
Queries are drawn with a seed among the probes that have a true match in that
gallery. True matches are framed green, false ones red, the query blue.
"""
from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from reidbench.data.imageset import ImageSet
from reidbench.data.sysu import load_sysu
from reidbench.errors import ReidbenchError
from reidbench.evaluation import SYSU_LOCATIONS, distance_matrix
from reidbench.figures.canvas import write_bytes_atomic
from reidbench.protocols import Setting, get_protocol

CELL_W, CELL_H, FRAME, GAP, QUERY_GAP, HEADER, CAPTION = 64, 128, 4, 4, 18, 30, 14
GREEN, RED, BLUE, WHITE, TEXT = (0, 170, 60), (220, 30, 30), (40, 90, 220), (255, 255, 255), (30, 30, 30)


@dataclass(frozen=True)
class RunView:
    """A result's probes and pool with their features, and one trial's gallery (pool rows)."""

    name: str
    label: str
    probes: ImageSet
    pool: ImageSet
    probe_feats: np.ndarray
    pool_feats: np.ndarray
    gallery: np.ndarray
    distance: str
    setting: str
    trial: int


@dataclass(frozen=True)
class Retrieval:
    """One query (a probe row), its top-k pool rows best first, and which are true matches."""

    query: int
    ranked: np.ndarray
    matches: np.ndarray


def load_run(path: Path, setting: str, trial: int, data_root: Path | None = None) -> RunView:
    """The pieces of a result file needed to rank again exactly as it was scored."""
    if not Path(path).is_file():
        raise ReidbenchError(f"result file not found: {path}")
    try:
        result: dict[str, Any] = json.loads(Path(path).read_text())
        emb_path = Path(result["artifacts"]["embeddings"])
    except (OSError, ValueError, KeyError, TypeError):
        raise ReidbenchError(f"{path} is not a reidbench result file with artifacts.embeddings") from None
    if setting not in result["settings"]:
        raise ReidbenchError(f"{path} has no setting '{setting}' (has: {', '.join(result['settings'])})")
    trials = int(result["protocol"]["trials"])
    if not 0 <= trial < trials:
        raise ReidbenchError(f"--trial must be between 0 and {trials - 1} for this run, got {trial}")
    data = load_sysu(data_root or result["dataset"]["root"])
    if data.fingerprint != result["dataset"]["fingerprint"]:
        raise ReidbenchError(f"the dataset at {data.root} is not the one this run used (fingerprint "
                             f"{data.fingerprint}, run {result['dataset']['fingerprint']})")
    if not emb_path.is_file():
        raise ReidbenchError(f"embeddings not found: {emb_path} (cache cleared?); run `reidbench run` again")
    feats = np.load(emb_path)["features"]
    protocol = get_protocol(result["protocol"]["name"])
    probes, pool = protocol.probes(data), protocol.pool(data)
    if len(feats) != len(probes) + len(pool):
        raise ReidbenchError(f"embeddings {emb_path} have {len(feats)} rows, the protocol needs "
                             f"{len(probes)} probes + {len(pool)} gallery-pool images")
    mode, shots = setting.split("-")
    gallery = protocol.galleries(data, Setting(mode, shots), trials).indices[trial]
    return RunView(result["method"]["name"], result["method"]["label"], probes, pool,
                   feats[: len(probes)], feats[len(probes):], np.asarray(gallery, np.int64),
                   result["protocol"]["distance"], setting, trial)


def allowed(q_cam: int, g_cams: np.ndarray) -> np.ndarray:
    """Gallery images not at the query camera's location (cam 3 skips cam 2)."""
    g_locs = np.array([SYSU_LOCATIONS[int(c)] for c in g_cams])
    return g_locs != SYSU_LOCATIONS[int(q_cam)]


def choose_queries(view: RunView, n: int, seed: int) -> np.ndarray:
    """``n`` probe rows, drawn with ``seed`` among those with a true match in the gallery."""
    g_pids, g_cams = view.pool.pids[view.gallery], view.pool.cams[view.gallery]
    valid = [i for i in range(len(view.probes))
             if np.any(allowed(view.probes.cams[i], g_cams) & (g_pids == view.probes.pids[i]))]
    if n < 1:
        raise ReidbenchError(f"--queries must be at least 1, got {n}")
    if n > len(valid):
        raise ReidbenchError(f"--queries {n}: only {len(valid)} probes have a true match in this gallery")
    return np.sort(np.random.default_rng(seed).choice(valid, size=n, replace=False))


def retrieve(view: RunView, queries: np.ndarray, top_k: int) -> list[Retrieval]:
    """Top-k gallery images of each query under the run's distance."""
    if top_k < 1:
        raise ReidbenchError(f"--top-k must be at least 1, got {top_k}")
    dist = distance_matrix(view.probe_feats[queries], view.pool_feats[view.gallery], view.distance)
    g_pids, g_cams = view.pool.pids[view.gallery], view.pool.cams[view.gallery]
    out = []
    for q, row in zip(queries, dist):
        keep = np.flatnonzero(allowed(view.probes.cams[q], g_cams))
        order = keep[np.argsort(row[keep], kind="stable")][:top_k]
        out.append(Retrieval(int(q), view.gallery[order], g_pids[order] == view.probes.pids[q]))
    return out


@dataclass(frozen=True)
class Grid:
    """The rendered figure and the outer frame box (x0, y0, x1, y1) of every cell, query first."""

    image: Image.Image
    boxes: list[list[tuple[int, int, int, int]]]


def render_grid(view: RunView, rows: list[Retrieval]) -> Grid:
    top_k = max(len(r.ranked) for r in rows)
    cell_w, cell_h = CELL_W + 2 * FRAME, CELL_H + 2 * FRAME
    width = GAP + cell_w + QUERY_GAP + top_k * (cell_w + GAP)
    height = HEADER + len(rows) * (cell_h + CAPTION + GAP) + GAP
    canvas = Image.new("RGB", (width, height), WHITE)
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=11)
    xs = [GAP] + [GAP + cell_w + QUERY_GAP + j * (cell_w + GAP) for j in range(top_k)]
    draw.text((GAP, 1), f"{view.label}, {view.setting}, trial {view.trial + 1} ({view.distance}): "
                        "true matches green, false red", fill=TEXT, font=font)
    draw.text((xs[0] + 2, 15), "query (IR)", fill=TEXT, font=font)
    for j in range(top_k):
        draw.text((xs[j + 1] + cell_w // 2 - 4, 15), str(j + 1), fill=TEXT, font=font)
    boxes = []
    for i, r in enumerate(rows):
        y = HEADER + i * (cell_h + CAPTION + GAP)
        cells = [(view.probes, r.query, BLUE)] + [(view.pool, int(g), GREEN if ok else RED)
                                                  for g, ok in zip(r.ranked, r.matches)]
        row_boxes = []
        for x, (images, idx, colour) in zip(xs, cells):
            box = (x, y, x + cell_w - 1, y + cell_h - 1)
            draw.rectangle(box, fill=colour)
            thumb = Image.fromarray(images.read(idx)).resize((CELL_W, CELL_H), Image.Resampling.BILINEAR)
            canvas.paste(thumb, (x + FRAME, y + FRAME))
            draw.text((x + 2, y + cell_h + 1), f"id {images.pids[idx]} c{images.cams[idx]}", fill=TEXT, font=font)
            row_boxes.append(box)
        boxes.append(row_boxes)
    return Grid(canvas, boxes)


def image_bytes(image: Image.Image, fmt: str = "png") -> bytes:
    buf = io.BytesIO()
    image.save(buf, format={"jpg": "jpeg"}.get(fmt, fmt))
    return buf.getvalue()


def save_grid(grid: Grid, path: Path) -> Path:
    fmt = Path(path).suffix.lstrip(".").lower()
    if fmt not in ("png", "pdf", "jpg", "jpeg"):
        raise ReidbenchError(f"--out {path}: use a .png, .pdf or .jpg file name")
    return write_bytes_atomic(Path(path), image_bytes(grid.image, fmt))

"""Reading one image file, with a clear error for a broken one."""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image, UnidentifiedImageError

from reidbench.errors import ReidbenchError


@contextlib.contextmanager
def decoded(path: Path) -> Iterator[Image.Image]:
    """The fully decoded image; a missing or corrupt file is a one-line error naming it."""
    try:
        with Image.open(path) as img:
            img.load()
            yield img
    except FileNotFoundError:
        raise ReidbenchError(f"image not found: {path}") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ReidbenchError(f"corrupt or unreadable image: {path} ({exc})") from None


def read_rgb(path: Path) -> np.ndarray:
    """H x W x 3 uint8; grey (IR) images are replicated to three channels."""
    with decoded(path) as img:
        return np.asarray(img.convert("RGB"))

"""Reading one image file, with a clear error for a broken one."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from reidbench.errors import ReidbenchError


def read_rgb(path: Path) -> np.ndarray:
    """H x W x 3 uint8; grey (IR) images are replicated to three channels."""
    try:
        with Image.open(path) as img:
            img.load()
            arr = np.asarray(img.convert("RGB"))
    except FileNotFoundError:
        raise ReidbenchError(f"image not found: {path}") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ReidbenchError(f"corrupt or unreadable image: {path} ({exc})") from None
    return arr

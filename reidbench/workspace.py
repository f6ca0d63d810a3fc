"""Where runs and tuning points keep what they can redo: cached embeddings and work folders.

Both are named by :func:`model_key` (what makes two fits the same model) and the dataset
fingerprint, so the outputs of other code, configs, seeds or kernels are never reused.
The one home of these paths; the cache folder itself is ``data.default.cache_home()``'s.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reidbench import kernels
from reidbench.data.default import cache_home

if TYPE_CHECKING:
    from reidbench.registry import MethodSpec


def model_key(spec: MethodSpec, resolved: dict[str, Any], seed: int) -> str:
    """The method, its resolved config, the seed, the digest of its source and the CPU kernels."""
    blob = json.dumps({"method": spec.name, "config": resolved, "seed": seed, "code": spec.code_digest,
                       "kernels": kernels.signature()}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Workspace:
    """A cache folder: ``embeddings/<tag>.npz`` and ``work/<tag>/`` (checkpoints, loss logs)."""

    root: Path

    @classmethod
    def at(cls, cache: Path | None) -> Workspace:
        """``--cache``, else ``cache`` under the user cache folder (or ``$REIDBENCH_HOME``)."""
        return cls(Path(cache) if cache else cache_home() / "cache")

    def embeddings(self, tag: str) -> Path:
        return self.root / "embeddings" / f"{tag}.npz"

    def work_dir(self, tag: str) -> Path:
        return self.root / "work" / tag


def run_tag(method: str, key: str, fingerprint: str, trial: int | None = None) -> str:
    """A run's model; ``trial`` where each trial is its own split (one model per trial)."""
    return f"{method}-{key}-{fingerprint}" + (f"-trial{trial}" if trial is not None else "")


def tune_tag(method: str, key: str, fingerprint: str) -> str:
    """A tuning point's model (fitted on the training identities only)."""
    return f"tune-{method}-{key}-{fingerprint}"

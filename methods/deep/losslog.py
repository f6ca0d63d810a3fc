"""Per-step loss log: ``losses.csv`` in the work folder, and TensorBoard when installed.

Columns are ``step, epoch, phase`` followed by the task's own columns (see
CARD.md); a value a step does not produce is left empty. On resume the rows
after the checkpoint's step are dropped, since the resumed run writes them again.
"""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

HEAD = ("step", "epoch", "phase")


LOSS_LOG = "losses.csv"  # in the work folder, and beside the result file


class LossLog:
    """Appends one row per training step (rank 0 only)."""

    def __init__(self, path: Path, columns: tuple[str, ...], enabled: bool, resume_step: int | None):
        self.columns = HEAD + tuple(columns)
        self.enabled = enabled
        self.fh = None
        self.tb = None
        if not enabled:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        kept: list[list[str]] = []
        if resume_step is not None and path.exists():
            with path.open(newline="") as fh:
                rows = list(csv.reader(fh))
            if rows and tuple(rows[0]) == self.columns:
                kept = [r for r in rows[1:] if r and int(r[0]) < resume_step]
        with path.open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(self.columns)
            writer.writerows(kept)
        self.fh = path.open("a", newline="")
        self.writer = csv.writer(self.fh)
        try:  # optional: TensorBoard is not a dependency
            from torch.utils.tensorboard import SummaryWriter
            self.tb = SummaryWriter(str(path.parent / "tensorboard"))
        except ImportError:
            self.tb = None

    def write(self, step: int, epoch: int, phase: str, values: dict[str, float]) -> None:
        if not self.enabled:
            return
        row: list[Any] = [step, epoch, phase]
        row += [f"{values[c]:.8g}" if c in values else "" for c in self.columns[len(HEAD):]]
        self.writer.writerow(row)
        if self.tb is not None:
            for name, value in values.items():
                self.tb.add_scalar(f"{phase}/{name}", value, step)

    def flush(self) -> None:
        if self.fh is not None:
            self.fh.flush()
        if self.tb is not None:
            self.tb.flush()

    def close(self) -> None:
        if self.fh is not None:
            self.fh.close()
            self.fh = None
        if self.tb is not None:
            self.tb.close()
            self.tb = None

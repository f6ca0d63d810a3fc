"""What every protocol shares: an evaluation set per trial, probes, per-trial galleries, a CMC definition.

A protocol turns a dataset into what is scored: the images a method embeds for a
trial (its evaluation set), which of them are probes, and each trial's gallery (rows
of the same set); both depend only on (dataset, protocol, setting, trial), so every
method in a table is evaluated on identical galleries. Protocols register in
:data:`reidbench.protocols.PROTOCOLS` (entry-point group ``reidbench.protocols``).
"""
from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from reidbench.data.dataset import Dataset
from reidbench.data.imageset import ImageSet
from reidbench.errors import ReidbenchError
from reidbench.evaluation import MatchRule
from reidbench.protocols.settings import MAX_TRIALS, Setting


@dataclass(frozen=True)
class Galleries:
    """Gallery rows (of the trial's evaluation set) of each trial (trial i = row i + 1 of a table), and their source."""

    indices: tuple[np.ndarray, ...]
    source: str
    note: str = ""


class Protocol(abc.ABC):
    """An evaluation protocol of one dataset layout."""

    name: ClassVar[str]
    label: ClassVar[str]
    layout: ClassVar[str]  # the Dataset.kind it applies to
    settings: ClassVar[tuple[Setting, ...]]
    cmc: ClassVar[str] = "identity"  # or "image" (reidbench.evaluation.CMC_KINDS)
    table_metrics: ClassVar[tuple[str, ...]] = ("r1", "r10", "r20", "mAP")  # the columns its papers print
    max_trials: ClassVar[int] = MAX_TRIALS
    # gallery source (Galleries.source) -> what it means, for captions and reports
    # (read by reidbench.protocols.describe_source over every registered protocol)
    gallery_sources: ClassVar[dict[str, str]] = {}

    def setting(self, key: str) -> Setting:
        for s in self.settings:
            if s.key == key:
                return s
        raise ReidbenchError(f"protocol '{self.name}' has no setting '{key}' "
                             f"(known: {', '.join(s.key for s in self.settings)})")

    def select_settings(self, modes: tuple[str, ...] | None, shots: tuple[str, ...] | None) -> list[Setting]:
        """The settings that ``--modes``/``--shots`` name (at least one of them given). They are
        SYSU-MM01's options: a protocol without search modes and gallery shots refuses them."""
        raise ReidbenchError(f"--modes and --shots are SYSU-MM01's; protocol '{self.name}' has the settings "
                             f"{', '.join(s.key for s in self.settings)} (--settings)")

    def features_note(self, data: Dataset, reference: Dataset | None) -> str:
        """What readers of ``reidbench eval``'s numbers must know about features scored from their paths
        alone (``data``, built from a feature file's paths; ``reference``: the dataset of ``--data``)."""
        return ""

    def check_trials(self, trials: int) -> None:
        if not 1 <= trials <= self.max_trials:
            raise ReidbenchError(f"--trials must be between 1 and {self.max_trials}, got {trials}")

    def check_dataset(self, data: Dataset) -> None:
        if data.kind != self.layout:
            raise ReidbenchError(f"protocol '{self.name}' is for {self.layout} datasets; {data.name} is a "
                                 f"{data.kind} dataset (pick its protocol with --protocol)")

    def match_rule(self, data: Dataset) -> MatchRule:
        """How this protocol scores on ``data``: the cameras' places and what a probe never meets
        there (the dataset's facts), and this protocol's CMC definition."""
        return MatchRule(data.cameras.location, data.cameras.exclude, self.cmc)

    @abc.abstractmethod
    def evaluation_set(self, data: Dataset, trial: int = 0) -> ImageSet:
        """The images a method embeds to be scored in ``trial``."""

    @abc.abstractmethod
    def probes(self, data: Dataset, setting: Setting, trial: int = 0) -> np.ndarray:
        """Rows of the evaluation set that are probes in ``trial``."""

    def galleries(self, data: Dataset, setting: Setting, trials: int) -> Galleries:
        self.check_trials(trials)
        return self._galleries(data, setting, trials)

    @abc.abstractmethod
    def _galleries(self, data: Dataset, setting: Setting, trials: int) -> Galleries:
        """Rows of the evaluation set of trials 0..trials-1."""

"""Dataset layouts: how to recognise, read and replicate each dataset reidbench knows.

One entry per layout (``sysu``, ``regdb``, ``llcm``) in :data:`LAYOUTS`; a third-party
package adds its own under the entry-point group ``reidbench.datasets`` (a
:class:`Layout`). Named datasets are a layout's replica presets (``synthetic-small`` is
SYSU-MM01's, ``synthetic-regdb-small`` RegDB's, ...), generated on first use.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from reidbench.data.dataset import Dataset
from reidbench.errors import ReidbenchError
from reidbench.plugins import Registry


@dataclass(frozen=True)
class Layout:
    """A dataset layout: its reader, how to recognise it, its replica generator and default protocol."""

    dataset: type[Dataset]  # owns the layout's kind and label
    load: Callable[[Path, str | None], Dataset]  # (root, display name) -> validated dataset
    detect: Callable[[Path], bool]  # does this folder look like the layout?
    default_protocol: str
    shape: str  # what the layout looks like on disk, for error messages
    generate: Callable[..., Path] | None = None  # (out, preset, seed, progress) -> out
    presets: tuple[str, ...] = ()
    prefix: str = ""  # named replicas: prefix + preset
    version: int = 0  # the replica generator's version (in the named dataset's folder name)
    # (feature-file paths, the file, the dataset of --data or None) -> a listing-only dataset: a layout whose
    # paths alone say camera and identity lets `reidbench eval` score features without the dataset
    feature_dataset: Callable[[list[str], Path, Any], Dataset] | None = None

    @property
    def kind(self) -> str:
        return self.dataset.kind

    @property
    def label(self) -> str:
        return self.dataset.label

    def named(self) -> dict[str, str]:
        """Named replica datasets of this layout -> preset."""
        return {f"{self.prefix}{p}": p for p in self.presets} if self.generate else {}


def _builtins() -> None:
    from reidbench.data import llcm, regdb, sysu, synth, synth_llcm, synth_regdb

    sizes = ("tiny", "small", "full")
    LAYOUTS.add("sysu", Layout(sysu.SysuDataset, sysu.load_sysu, sysu.looks_like, "sysu",
                               "cam1..cam6/<id>/<nnnn>.jpg and exp/{train,val,test}_id.txt",
                               synth.generate, sizes, "synthetic-", synth.GENERATOR_VERSION, sysu.feature_dataset))
    LAYOUTS.add("regdb", Layout(regdb.RegdbDataset, regdb.load_regdb, regdb.looks_like, "regdb",
                                "Visible/<id>/, Thermal/<id>/ and idx/*.txt",
                                synth_regdb.generate, sizes, "synthetic-regdb-", synth_regdb.GENERATOR_VERSION))
    LAYOUTS.add("llcm", Layout(llcm.LlcmDataset, llcm.load_llcm, llcm.looks_like, "llcm",
                               "idx/*.txt, vis/, nir/, test_vis/cam<k>/, test_nir/cam<k>/",
                               synth_llcm.generate, sizes, "synthetic-llcm-", synth_llcm.GENERATOR_VERSION))


def _layout_of(name: str, obj: Any, source: str) -> Layout:
    if not isinstance(obj, Layout) or obj.kind != name:
        raise ReidbenchError(f"plugin entry point '{name}' ({source}) is not a reidbench Layout of kind '{name}'")
    return obj


LAYOUTS: Registry[Layout] = Registry("dataset layout", "reidbench.datasets", _builtins, _layout_of)


def named_datasets() -> dict[str, tuple[Layout, str]]:
    """Every named replica dataset -> (its layout, its preset)."""
    return {name: (layout, preset) for layout in LAYOUTS.all().values() for name, preset in layout.named().items()}


def detect_layout(root: Path) -> Layout:
    """The one layout ``root`` looks like; a clear error when none (or several) does."""
    found = [layout for layout in LAYOUTS.all().values() if layout.detect(root)]
    if len(found) == 1:
        return found[0]
    shapes = "; ".join(f"{layout.label}: {layout.shape}" for layout in LAYOUTS.all().values())
    if not found:
        raise ReidbenchError(f"{root} is not a dataset layout reidbench knows ({shapes})")
    raise ReidbenchError(f"{root} looks like several layouts ({', '.join(f.label for f in found)})")


def load(root: Path, name: str | None = None) -> Dataset:
    """Read and validate the dataset at ``root``, whatever its layout."""
    root = Path(root).expanduser()
    if not root.exists():
        raise ReidbenchError(f"dataset root not found: {root}")
    if not root.is_dir():
        raise ReidbenchError(f"dataset root is not a folder: {root}")
    return detect_layout(root).load(root, name)

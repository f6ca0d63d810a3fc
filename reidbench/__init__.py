"""reidbench: visible-infrared person re-identification benchmark (SYSU-MM01 and cmGAN Table 1, RegDB, LLCM).

From Python::

    import reidbench
    paths = reidbench.run(methods=["hog_euclidean"], dataset="synthetic-tiny")
    df = reidbench.load_results(paths)          # tidy: one row per ... x trial x metric
    reidbench.table(df)                         # the Table-1 view

The heavier pieces load on first use, so ``import reidbench`` (and the CLI) stay fast.
"""
from __future__ import annotations

from importlib import import_module
from pathlib import Path
from typing import Any, Sequence

# Python started in the repository root (``python -m reidbench``, pytest, torchrun and Slurm jobs)
# finds this folder before an installed reidbench, and ``reidbench.methods`` and
# ``reidbench.protocols`` then live beside it in the checkout (reidbench/package_map.py says where).
# A finder at the end of sys.meta_path maps exactly those names to their folders (subpackages
# follow from their ``__path__``), and only where nothing else (an install) provides them.
_CHECKOUT = Path(__file__).resolve().parent.parent
if (_CHECKOUT / "pyproject.toml").is_file():
    def _map_checkout() -> None:
        import sys
        from importlib.machinery import ModuleSpec
        from importlib.util import find_spec, spec_from_file_location

        from reidbench.package_map import FOLDERS

        folders = {name: _CHECKOUT / folder for name, folder in FOLDERS.items()
                   if (_CHECKOUT / folder / "__init__.py").is_file() and find_spec(name) is None}

        class CheckoutFinder:
            """``reidbench.methods`` -> ``<checkout>/methods`` (and so on), nothing else."""

            @staticmethod
            def find_spec(name: str, path: object = None, target: object = None) -> ModuleSpec | None:
                folder = folders.get(name)
                if folder is None:
                    return None
                return spec_from_file_location(name, folder / "__init__.py", submodule_search_locations=[str(folder)])

        if folders:
            sys.meta_path.append(CheckoutFinder())

    _map_checkout()
    del _map_checkout

from reidbench.registry import create_method, register_method  # noqa: E402

# numpy loads with the first of these, so a script can still pin the CPU kernels after
# ``import reidbench`` (reidbench.kernels.pin(), before importing numpy or torch).
_LAZY = {"load_results": "reidbench.frame", "table": "reidbench.frame", "tidy": "reidbench.frame",
         **{name: "reidbench.evaluation" for name in ("Metrics", "distance_matrix", "evaluate", "evaluate_features",
                                                      "evaluate_galleries")}}


def run(methods: Sequence[str] | str | None = None, dataset: str | None = None, data: str | Path | None = None,
        protocol: str | None = None, seeds: Sequence[int] | None = None, config: str | Path | None = None,
        **options: Any) -> list[Path]:
    """Run methods as ``reidbench run`` does and return the result files written.

    ``config`` is a run config (TOML) read exactly as ``reidbench run --config`` reads it
    (``[tuned.METHOD]`` values stay val-tuned); what is given here wins over it. ``protocol``
    defaults to the dataset layout's own, ``seeds`` to (0,). ``options`` are
    :class:`reidbench.runoptions.RunOptions` fields: ``modes``, ``shots``, ``settings``,
    ``trials``, ``device``, ``results``, ``cache``, ``overrides`` ({method: {key: value}}),
    ``defaults``, ``progress`` (False: no progress bars and no messages). Messages go to the
    ``logging`` logger ``"reidbench"`` (INFO). ``kernels`` (auto, pinned, native) pins the CPU
    kernels as ``--kernels`` does, if numpy and torch have not loaded yet (results record which).
    """
    from reidbench.kernels import pin
    from reidbench.messages import silenced

    pin(options.pop("kernels", "auto"), options.get("device") or "auto")  # before numpy loads, where it has not yet
    from reidbench.runner import run as run_methods
    from reidbench.runoptions import run_options

    opts = run_options(Path(config) if config is not None else None,
                       methods=[methods] if isinstance(methods, str) else methods, dataset=dataset,
                       data=Path(data) if data is not None else None, protocol=protocol, seeds=seeds, **options)
    with silenced(not opts.progress):
        return run_methods(opts)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'reidbench' has no attribute {name!r}")


__all__ = ["Metrics", "create_method", "distance_matrix", "evaluate", "evaluate_features", "evaluate_galleries",
           "load_results", "register_method", "run", "table", "tidy"]

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

# Python started in the repository root (``python -m reidbench``, torchrun and Slurm jobs) finds this
# folder before an installed reidbench; the method and protocol packages it maps in as
# ``reidbench.methods`` and ``reidbench.protocols`` then live beside it, in the checkout.
_CHECKOUT = Path(__file__).resolve().parent.parent
if (_CHECKOUT / "pyproject.toml").is_file() and (_CHECKOUT / "methods" / "__init__.py").is_file():
    __path__.append(str(_CHECKOUT))  # noqa: F821 (a package's own __path__)

from reidbench.registry import create_method, register_method  # noqa: E402

# numpy loads with the first of these, so a script can still pin the CPU kernels after
# ``import reidbench`` (reidbench.kernels.pin(), before importing numpy or torch).
_LAZY = {"load_results": "reidbench.frame", "table": "reidbench.frame", "tidy": "reidbench.frame",
         **{name: "reidbench.evaluation" for name in ("Metrics", "distance_matrix", "evaluate", "evaluate_features",
                                                      "evaluate_galleries")}}


def run(methods: Sequence[str] | str, dataset: str | None = None, data: str | Path | None = None,
        protocol: str | None = None, seeds: Sequence[int] = (0,), **options: Any) -> list[Path]:
    """Run methods as ``reidbench run`` does and return the result files written.

    ``protocol`` defaults to the dataset layout's own. ``options`` are
    :class:`reidbench.runner.RunOptions` fields: ``modes``, ``shots``, ``settings``,
    ``trials``, ``device``, ``results``, ``cache``, ``overrides`` ({method: {key: value}}),
    ``defaults``, ``progress`` (False: no progress bars and no messages). Messages go to the
    ``logging`` logger ``"reidbench"`` (INFO). ``kernels`` (auto, pinned, native) pins the CPU
    kernels as ``--kernels`` does, if numpy and torch have not loaded yet (results record which).
    """
    from reidbench.kernels import pin
    from reidbench.messages import silenced

    pin(options.pop("kernels", "auto"), options.get("device", "auto"))  # before numpy loads, where it has not yet
    from reidbench.runner import RunOptions, run as run_methods

    names = [methods] if isinstance(methods, str) else list(methods)
    for key in ("modes", "shots", "settings"):
        if key in options:
            options[key] = tuple(options[key])
    opts = RunOptions(methods=names, dataset=dataset, data=Path(data) if data is not None else None,
                      protocol=protocol, seeds=tuple(seeds), **options)
    with silenced(not opts.progress):
        return run_methods(opts)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'reidbench' has no attribute {name!r}")


__all__ = ["Metrics", "create_method", "distance_matrix", "evaluate", "evaluate_features", "evaluate_galleries",
           "load_results", "register_method", "run", "table", "tidy"]

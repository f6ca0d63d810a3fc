"""Published numbers, shipped as package data: Dai et al., IJCAI 2018, Table 1 (the numbers
reidbench reproduces) and other authors' reference numbers on the AGW-seeded SYSU-MM01
protocol, RegDB and LLCM (``published.csv``, each with its source).

All are results on the real datasets; wherever they are shown beside reidbench's own rows
they are labelled as the paper's or as published.
"""
from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

PAPER_DATASET = "SYSU-MM01"
PAPER_PROTOCOL = "sysu"  # Table 1 was measured under the official protocol


@lru_cache(maxsize=1)
def paper_table() -> "pd.DataFrame":
    """Table 1 indexed by reidbench method name, in the paper's row order."""
    import pandas as pd  # on first use: commands that never tabulate start without pandas

    with resources.files("reidbench").joinpath("paper_table1.csv").open() as fh:
        return pd.read_csv(fh, comment="#").set_index("method")


def paper_order() -> dict[str, int]:
    """Method name -> its row in Table 1."""
    return {name: i for i, name in enumerate(paper_table().index)}


@lru_cache(maxsize=1)
def published_all() -> "pd.DataFrame":
    """Every reference number of ``published.csv`` (column ``protocol`` says under which protocol)."""
    import pandas as pd

    with resources.files("reidbench").joinpath("published.csv").open() as fh:
        return pd.read_csv(fh, comment="#", dtype={"setting": str})


def published(protocol: str) -> "pd.DataFrame":
    """Reference numbers under ``protocol``: one row per method and setting (``method``, ``label``,
    ``setting``, the metrics, ``source``), in the file's order; empty for protocols without any."""
    table = published_all()
    return table[table["protocol"] == protocol].reset_index(drop=True)

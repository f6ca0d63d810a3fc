"""Dai et al., IJCAI 2018, Table 1: the numbers reidbench reproduces, shipped as package data.

They are SYSU-MM01 results under the official protocol; wherever they are shown
beside reidbench's own rows they are labelled as the paper's.
"""
from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

PAPER_DATASET = "SYSU-MM01"


@lru_cache(maxsize=1)
def paper_table() -> "pd.DataFrame":
    """Table 1 indexed by reidbench method name, in the paper's row order."""
    import pandas as pd  # on first use: commands that never tabulate start without pandas

    with resources.files("reidbench").joinpath("paper_table1.csv").open() as fh:
        return pd.read_csv(fh, comment="#").set_index("method")


def paper_order() -> dict[str, int]:
    """Method name -> its row in Table 1."""
    return {name: i for i, name in enumerate(paper_table().index)}

"""Messages of the library (what a run is doing) go through :mod:`logging`, logger ``"reidbench"``.

A notebook or script decides where they go (``logging.basicConfig(level=logging.INFO)`` shows
them; a handler on ``logging.getLogger("reidbench")`` redirects them); the command line installs
a stderr handler (:func:`stderr_handler`) that ``--quiet`` raises to warnings. Under torchrun only
rank 0 speaks: the other ranks would repeat every line.
"""
from __future__ import annotations

import logging
import os
import sys
from contextlib import contextmanager
from typing import Iterator

LOGGER = logging.getLogger("reidbench")


def say(message: str) -> None:
    """A progress message: INFO on rank 0, DEBUG on the other ranks of a distributed run."""
    LOGGER.log(logging.INFO if int(os.environ.get("RANK", "0")) == 0 else logging.DEBUG, message)


@contextmanager
def silenced(quiet: bool = True) -> Iterator[None]:
    """Drop the library's progress messages (INFO and below) inside the block when ``quiet``."""
    if not quiet:
        yield
        return
    level = LOGGER.level
    LOGGER.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        LOGGER.setLevel(level)


class _Stderr(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time (pytest and notebooks replace it)."""

    @property  # type: ignore[override]
    def stream(self):  # noqa: ANN201 (logging's own attribute)
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:  # noqa: ANN001
        pass


@contextmanager
def stderr_handler(quiet: bool = False) -> Iterator[None]:
    """The command line's handler, ``reidbench: MESSAGE`` on stderr, for the length of one command."""
    handler = _Stderr()
    handler.setFormatter(logging.Formatter("reidbench: %(message)s"))
    handler.setLevel(logging.WARNING if quiet else logging.INFO)
    level = LOGGER.level
    LOGGER.addHandler(handler)
    LOGGER.setLevel(logging.INFO)
    try:
        yield
    finally:
        LOGGER.removeHandler(handler)
        LOGGER.setLevel(level)

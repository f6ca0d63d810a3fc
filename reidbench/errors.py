"""User-facing errors.

Anything the user can fix (a bad path, option, dataset or feature file) is raised
as :class:`ReidbenchError`; the CLI prints its message on one line and exits 2,
never with a traceback.
"""


class ReidbenchError(Exception):
    """A problem with the user's input, reported as one clear line."""

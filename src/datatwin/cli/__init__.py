"""The ``datatwin`` command: a thin Typer layer over the Python API, with rich progress bars.

Every expected failure (bad input, bad model file, unwritable output) prints one line on stderr
and exits with status 1; nothing half-written is left behind.
"""

from rich.console import Console

from ._app import app, main

# The consoles every command and progress bar writes to. They are looked up here at call time
# (``cli.err``), so assigning another console (a test's captured terminal) redirects all output.
err = Console(stderr=True)
out = Console()

__all__ = ["app", "err", "main", "out"]

"""Shared test helpers (importable as ``helpers`` from test modules)."""

from __future__ import annotations

import os

import pytest

SHARED = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "datasets")

FAST_ARGN = {"max_epochs": 20}


def run_cli(*args: str) -> int:
    """Run ``datatwin ARGS`` in this process; its exit status (0 when it returns normally)."""
    from datatwin.cli import main

    with pytest.raises(SystemExit) as exc:
        main(list(args))
        raise SystemExit(0)
    return int(exc.value.code or 0)


def shared_csv(name: str) -> str:
    path = os.path.join(SHARED, name)
    if not os.path.exists(path):
        pytest.skip(f"{path} is not available")
    return path

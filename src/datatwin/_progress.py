"""One progress protocol for long work: the CLI draws it with rich, the web app will stream it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ProgressCallback", "ProgressEvent", "report"]


@dataclass(frozen=True)
class ProgressEvent:
    """``stage`` (e.g. "fit", "sample"), work done out of ``total`` (None if unknown), details."""

    stage: str
    completed: float
    total: float | None = None
    info: dict[str, Any] = field(default_factory=dict)


ProgressCallback = Callable[[ProgressEvent], None]


def report(callback: ProgressCallback | None, stage: str, completed: float, total: float | None = None,
           **info: Any) -> None:
    if callback is not None:
        callback(ProgressEvent(stage, completed, total, info))

"""Rich progress bars drawn from datatwin's progress events: one bar per stage."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from .._progress import ProgressEvent

# What each progress stage is called on screen: fit and sample, then the stages of evaluate.
STAGE_LABELS = {
    "fit": "training (epochs)", "sample": "sampling (rows)", "analyse": "analysing",
    "prepare": "evaluating: preparing", "fidelity": "evaluating: fidelity", "detection": "evaluating: detection",
    "utility": "evaluating: ML utility", "insights": "evaluating: insights", "privacy": "evaluating: privacy",
}


@contextlib.contextmanager
def progress_bars(console: Console) -> Iterator[Callable[[ProgressEvent], None]]:
    """A progress callback drawing on ``console``; nothing is drawn when it is not a terminal."""
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[info]}"), TimeElapsedColumn(), console=console, transient=False,
                  disable=not console.is_terminal) as bar:
        tasks: dict[str, Any] = {}

        def callback(ev: ProgressEvent) -> None:
            if ev.stage not in tasks:
                tasks[ev.stage] = bar.add_task(STAGE_LABELS.get(ev.stage, ev.stage), total=ev.total, info="")
            if "skipped" in ev.info:  # the reason is in the report; a bar has room for one word
                info = "skipped"
            else:
                info = " ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in ev.info.items())
            bar.update(tasks[ev.stage], completed=ev.completed, total=ev.total, info=info)

        yield callback

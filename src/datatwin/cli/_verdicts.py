"""The evaluation's verdicts as a table on the console (single tables and databases alike)."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from .. import cli  # the package: its consoles are looked up at call time (see cli/__init__.py)

COLOUR = {"pass": "green", "warn": "yellow", "fail": "red", "skip": "dim"}
RANK = {"fail": 0, "warn": 1, "pass": 2, "skip": 3}


def print_verdicts(result: Any) -> None:
    """The verdicts, one line each, worst first, with the overall verdict in the title."""
    table = Table(title=f"evaluation: [{COLOUR.get(result.overall, 'white')}]{result.overall}[/]")
    for col in ("check", "verdict", "what it means"):
        table.add_column(col)
    for v in sorted(result.verdicts, key=lambda v: RANK.get(v["status"], 9)):
        table.add_row(v["title"], f"[{COLOUR.get(v['status'], 'white')}]{v['status']}[/]", v["message"])
    cli.err.print(table)

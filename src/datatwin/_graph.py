"""One topological sort, shared by spec columns and constraint formulas/inequalities."""

from __future__ import annotations

import graphlib
from collections.abc import Hashable, Iterable, Mapping
from typing import TypeVar

__all__ = ["CycleError", "topological"]

T = TypeVar("T", bound=Hashable)


class CycleError(ValueError):
    """Nodes that depend on each other in a ring; each caller words its own message.

    Attributes:
        cycle: the ring as graphlib reports it, first node repeated at the end, each node
            followed by one that depends on it (``a -> b``: ``b`` needs ``a``).
    """

    def __init__(self, cycle: list[Hashable]) -> None:
        self.cycle = cycle
        super().__init__(" -> ".join(map(str, cycle)))


def topological(deps: Mapping[T, Iterable[T]] | Iterable[tuple[T, Iterable[T]]]) -> list[T]:
    """Every node after the nodes it depends on (nodes given more than once merge their edges).

    Among nodes that are free to go, the order is graphlib's (ready nodes in the order first
    seen), so the same input always gives the same order.

    Example:
        >>> topological({"total": ["price", "qty"], "price": [], "qty": []})
        ['price', 'qty', 'total']
    """
    sorter: graphlib.TopologicalSorter[T] = graphlib.TopologicalSorter()
    for node, before in (deps.items() if isinstance(deps, Mapping) else deps):
        sorter.add(node, *before)
    try:
        return list(sorter.static_order())
    except graphlib.CycleError as exc:
        raise CycleError(list(exc.args[1])) from None

"""Engines learn the joint distribution of the encoded sub-columns and sample from it.

Every engine has the same interface (:class:`~datatwin.engines._base.Engine`), so the
synthesizer, the model file and the tests treat them alike.
"""

from ._argn import ARGNEngine, block_worker, free_cores, keep_torch_threads
from ._base import CONDITIONS, CONTEXT, DIFFERENTIAL_PRIVACY, SAME_AS, Engine
from ._copula import CopulaEngine
from ._marginal import MarginalEngine

ENGINES: dict[str, type[Engine]] = {"argn": ARGNEngine, "copula": CopulaEngine, "marginal": MarginalEngine}



def engines_that_can(capability: str) -> list[str]:
    """Names of the engines that support ``capability``, for messages that suggest one."""
    return sorted(name for name, cls in ENGINES.items() if cls.can(capability))


__all__ = [
    "CONDITIONS",
    "CONTEXT",
    "DIFFERENTIAL_PRIVACY",
    "ENGINES",
    "SAME_AS",
    "ARGNEngine",
    "CopulaEngine",
    "Engine",
    "MarginalEngine",
    "block_worker",
    "engines_that_can",
    "free_cores",
    "keep_torch_threads",
]

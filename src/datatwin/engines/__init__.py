"""Engines learn the joint distribution of the encoded sub-columns and sample from it.

Every engine has the same interface (:class:`~datatwin.engines._base.Engine`), so the
synthesizer, the model file and the tests treat them alike.
"""

from ._argn import ARGNEngine
from ._base import Engine
from ._copula import CopulaEngine

ENGINES: dict[str, type[Engine]] = {"argn": ARGNEngine, "copula": CopulaEngine}

__all__ = ["ENGINES", "ARGNEngine", "CopulaEngine", "Engine"]

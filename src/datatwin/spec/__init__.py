"""Rule-based data from a spec, with no real data at all."""

from .._exceptions import SpecError
from ._generate import generate, generate_to_file, iter_generate
from ._model import Spec

__all__ = ["Spec", "SpecError", "generate", "generate_to_file", "iter_generate"]

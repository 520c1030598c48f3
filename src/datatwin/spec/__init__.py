"""Rule-based data from a spec, with no real data at all."""

from ._spec import Spec, SpecError, generate, generate_to_file

__all__ = ["Spec", "SpecError", "generate", "generate_to_file"]

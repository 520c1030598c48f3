"""Fake values for PII: Faker primitives, anonymizing real tables, scrubbing free text.

Modules, bottom up: ``_fakes`` (the Faker factory and pools of fakes), ``_text`` (PII spans in
free text), ``_anonymize`` (replace the PII of a real table).
"""

from ._anonymize import anonymize
from ._fakes import FAKER_METHODS, fake_people, fake_pool, fake_sentences, faker_for, faker_methods

__all__ = ["FAKER_METHODS", "anonymize", "fake_people", "fake_pool", "fake_sentences", "faker_for",
           "faker_methods"]

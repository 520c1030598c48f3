"""Fake values for PII: Faker primitives, anonymizing real tables, scrubbing free text."""

from ._anonymize import FAKER_METHODS, anonymize, fake_people, fake_pool, fake_sentences

__all__ = ["FAKER_METHODS", "anonymize", "fake_people", "fake_pool", "fake_sentences"]

"""PII inside free text: find the spans that identify someone and replace them with fakes.

:func:`datatwin.anonymize` runs this on every column of kind ``text``. Two detectors:

* **patterns** (regular expressions): emails, URLs (with a scheme or ``www.``), IBAN-like tokens,
  US SSNs, IPv4 addresses, card-like digit runs and phone numbers (7-15 digits);
* **known values**: the row's own values of its PII columns (name, city, company, ...) and every
  real value of the table's name columns (``first_name``, ``last_name``, ``name``), as whole
  words, case-insensitive.

A span takes, in this order: the fake its row's PII column got for it, the fake any row of the
table got for it (so a note names the row's fake person, and the same person gets one fake), or a
fresh fake of its type built from seeded Faker pools. A fresh fake is chosen by a keyed hash of the
span when a key is given (the same span gets the same fake in every run with that key) and by a
seeded generator otherwise (the same span still gets one fake within a call, and the fake carries
nothing of the real value). No fake equals the span it replaces. There is no NER model: a name
that is in no PII column of the table is not found.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ._fakes import FAKER_METHODS, ascii_slug, faker_for, keyed_hash

__all__ = ["TextScrubber"]

log = logging.getLogger(__name__)

_WORD_RE = re.compile(r"\w+")

# Each detector starts with a literal or a character set, so that the regex engine skips ahead to
# the few places where a match can start: one alternation with a look-behind first was tried at
# every character and cost ~35 us per 64-character note, 3.5 s per 100k notes.
_EMAIL_DOMAIN_RE = re.compile(r"@[\w-]+(?:\.[\w-]+)+")  # then extended to the left to the local part
_URL_RE = re.compile(r"(?:https?://|ftp://|www\.)[^\s<>\"'`]*[^\s<>\"'`.,;:!?)\]}]")
_IBAN_RE = re.compile(r"[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{1,4}){3,8}(?!\w)")
_NUMBER_START_RE = re.compile(r"[\d+(]\d*")  # a place a number can start, and its leading digits
# Tried where a number starts, in this order: the more specific forms first.
_NUMBER_RE = re.compile(r"""
 (?P<ssn>(?<![\w-])\d{3}-\d{2}-\d{4}(?![\w-]))
|(?P<ip_address>(?<![\w.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?!\.?\d|\w))
|(?P<credit_card>(?<![\w+-])(?:\d{4}[ -]){3}\d{1,7}(?![\w-])
    |(?<![\w+-])\d{4}[ -]\d{6}[ -]\d{5}(?![\w-])
    |(?<![\w+.])\d{12,19}(?![\w.]))
|(?P<phone>(?<![\w+])(?:\+\d{1,4}[ .-]?)?(?:\(\d{1,5}\)[ .-]?)?\d{1,12}(?:[ .-]\d{1,12}){0,6}
    (?:[ ]?(?:x|ext\.?)[ ]?\d{1,6})?(?!\w))
""", re.VERBOSE)
_EMAIL_LOCAL_CHARS = frozenset("._+'-")
_NON_DIGIT_RE = re.compile(r"\D+")
_DIGIT_RE = re.compile(r"\d")
_NON_ALNUM_RE = re.compile(r"[\W_]+")
_PHONE_CUT_RE = re.compile(r"[ .-]\d")
_COUNTRY_RE = re.compile(r"\+\d{1,3}(?:[ ]?\(0\))?")
_EXTENSION_RE = re.compile(r"[ ]?(?:x|ext\.?)[ ]?\d{1,6}$")
# Digit groups a phone pattern matches but that are dates or year ranges, not phones.
_DATE_RE = re.compile(r"(?:\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./]\d{2,4}"
                      r"|(?:1[89]|20)\d\d-(?:1[89]|20)\d\d)(?!\d)")

#: Types whose spans the patterns find; the names match ``PII_TYPES``.
PATTERN_TYPES = ("email", "url", "iban", "ssn", "ip_address", "credit_card", "phone")
# PII types whose real values are matched as words in the text; the others are left to the
# patterns (and to a literal search for the row's own value, for formats the patterns miss).
_WORD_TYPES = frozenset({"first_name", "last_name", "name", "address", "street", "city", "postcode", "company",
                         "username"})
# Name columns: their values are looked for in every row's text, not only their own row's.
_NAME_TYPES = ("name", "first_name", "last_name")
# Honorifics and suffixes: never taken for the first or last word of a full name.
_TITLES = frozenset({"mr", "mrs", "ms", "miss", "mx", "dr", "prof", "sir", "dame", "jr", "sr", "ii", "iii", "iv",
                     "md", "phd", "dds", "dvm", "esq", "herr", "frau", "mme", "mlle", "sig", "sra"})
_MAX_GAP = 3  # characters between two words of one multi-word value ("O'Brien", "Smith, John")

_Key = tuple[str, ...]


def _fold(text: str) -> str:
    """``text`` case-folded character for character, so positions in it are positions in ``text``."""
    low = text.casefold()
    if len(low) == len(text):  # no character folded to several (as "ß" to "ss" does)
        return low
    return "".join(f if len(f := ch.casefold()) == 1 else ch for ch in text)


def _word_key(text: str) -> _Key:
    """A value as the case-folded words it is matched by."""
    return tuple(_WORD_RE.findall(_fold(text)))


def _is_word_char(ch: str) -> bool:
    return ch.isalnum() or ch == "_"  # what ``\w`` matches


def norm(pii_type: str, text: str) -> str:
    """What two spans of a type must share to be the same value (a phone is its digits)."""
    if pii_type in ("phone", "ssn", "credit_card"):
        return _NON_DIGIT_RE.sub("", text)
    if pii_type == "iban":
        return _NON_ALNUM_RE.sub("", text).upper()
    if pii_type == "url":
        return text.casefold().rstrip("/")
    return text.strip().casefold()


def _phone_ok(span: str) -> bool:
    main = _EXTENSION_RE.sub("", span)
    digits = len(_NON_DIGIT_RE.sub("", main))
    if not 7 <= digits <= 15:
        return False
    if main.startswith("+") or "(" in main:
        return True
    seps = [ch for ch in main if ch in " .-"]
    if not seps:
        return 10 <= digits <= 11  # a bare run: a national number, not an order number or amount
    return seps != ["."]  # one dot: a decimal number


def _phone_end(text: str, start: int, end: int) -> int | None:
    """Where the phone number at ``start`` ends: the longest valid prefix of the match, or None.

    A phone next to another number ("555-123-4567 4111 1111") matches as one digit run that is
    too long to be a phone; dropping trailing groups finds the phone in it.
    """
    span = text[start:end]
    if len(_NON_DIGIT_RE.sub("", span)) < 7:
        return None  # nor will any shorter part be a phone
    if _phone_ok(span):
        return end
    for cut in reversed([m.start() for m in _PHONE_CUT_RE.finditer(span)]):
        if _phone_ok(span[:cut]):
            return start + cut
    return None


def _email_start(text: str, at: int) -> int | None:
    """Start of the local part that ends at the ``@`` at ``at``, or None if there is none."""
    start = at
    while start > 0 and (text[start - 1].isalnum() or text[start - 1] in _EMAIL_LOCAL_CHARS):
        start -= 1
    while start < at and text[start] in ".'-":  # punctuation before an address, not part of it
        start += 1
    return start if start < at else None


def _pattern_spans(text: str) -> list[tuple[int, int, str]]:
    """(start, end, PII type) of every span a pattern finds, without overlaps, in text order."""
    spans: list[tuple[int, int, str]] = []
    if "://" in text or "www." in text:  # URLs first: one may hold an email address ("?to=a@b.com")
        for m in _URL_RE.finditer(text):
            before = text[m.start() - 1] if m.start() else " "
            if not (before.isalnum() or before in "_@/."):
                spans.append((m.start(), m.end(), "url"))
    if "@" in text:
        for m in _EMAIL_DOMAIN_RE.finditer(text):
            start = _email_start(text, m.start())
            if start is not None and not _overlaps(spans, start, m.end()):
                spans.append((start, m.end(), "email"))
    for m in _IBAN_RE.finditer(text):
        alnum = norm("iban", m.group())
        if (m.start() == 0 or not text[m.start() - 1].isalnum()) and 15 <= len(alnum) <= 34 \
                and sum(ch.isdigit() for ch in alnum) >= 8 and not _inside(spans, m.start()):
            spans.append((m.start(), m.end(), "iban"))
    pos = 0
    while (start_m := _NUMBER_START_RE.search(text, pos)) is not None:
        start = start_m.start()
        pos = start_m.end()  # nothing starts inside a run of digits: the look-behinds forbid it
        if (inside := _inside(spans, start)) is not None:
            pos = inside
            continue
        if pos - start < 7 and (pos == len(text) or text[pos] not in " .-()"):
            continue  # a short number on its own ("Ticket 42"): too few digits for any pattern
        number = _NUMBER_RE.match(text, start)
        if number is None:
            continue
        kind = number.lastgroup or ""
        end: int | None = number.end()
        if kind == "phone":
            if (date := _DATE_RE.match(text, start)) is not None:
                pos = date.end()  # a date, and no part of it a phone
                continue
            end = _phone_end(text, start, number.end())
        if end is not None:
            spans.append((start, end, kind))
            pos = end
    spans.sort()
    return spans


def _overlaps(spans: list[tuple[int, int, str]], start: int, end: int) -> bool:
    return any(s < end and start < e for s, e, _ in spans)


def _inside(spans: list[tuple[int, int, str]], pos: int) -> int | None:
    """The end of the span that holds ``pos``, or None."""
    for start, end, _ in spans:
        if start <= pos < end:
            return end
    return None


def _match_case(fake: str, span: str) -> str:
    if span.islower():
        return fake.lower()
    if span.isupper() and len(span) > 1:
        return fake.upper()
    return fake


def _name_words(text: str) -> list[str]:
    """The words of a full name without titles (``Dr. Jane Doe MD`` -> ``Jane``, ``Doe``)."""
    return [w for w in text.split() if (k := _word_key(w)) and k[0] not in _TITLES]


def _name_parts(real: str, fake: str) -> list[tuple[_Key, tuple[str, str]]]:
    """A full name's parts, each with the fake's part and its type: first and last word, each."""
    real_words, fake_words = _name_words(real), _name_words(fake)
    if len(real_words) < 2 or len(fake_words) < 2:
        return []
    first, last = _word_key(real_words[0]), _word_key(real_words[-1])
    parts = [(first + last, (f"{fake_words[0]} {fake_words[-1]}", "name")),
             (first, (fake_words[0], "first_name")), (last, (fake_words[-1], "last_name"))]
    return [(k, f) for k, f in parts if k and len("".join(k)) >= 2]


def _luhn_digit(digits: list[int]) -> int:
    """The check digit that makes ``digits`` + it pass the Luhn test (as card numbers do)."""
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2 == 0:
            d *= 2
            d -= 9 if d > 9 else 0
        total += d
    return (10 - total % 10) % 10


def _iban_check(country: str, bban: str) -> str:
    numeric = "".join(str(int(ch, 36)) for ch in bban + country + "00")
    return f"{98 - int(numeric) % 97:02d}"


class _FreshFakes:
    """Fakes for spans that no PII column explains, from small seeded Faker pools.

    A fake is assembled from 32 bytes (a keyed hash of the span, or seeded random bytes): the
    bytes pick pool entries and replace digits, so a few hundred Faker calls per type give
    millions of distinct fakes and a call on 100k rows stays fast.
    """

    def __init__(self, locale: str, key: str | None, seed: int) -> None:
        self.locale, self.key, self.seed = locale, key, seed
        self._pools: dict[str, list[str]] = {}
        self._formats: dict[str, list[tuple[str, str]]] = {}
        self._memo: dict[tuple[str, str], str] = {}
        self._salt = hashlib.sha256(f"datatwin-text\x00{seed}".encode()).digest()
        self._drawn = 0

    def get(self, pii_type: str, span: str) -> str:
        """The fake for ``span`` (of ``pii_type``): the same span always gets the same one."""
        real = norm(pii_type, span)
        memo_key = (pii_type, real)
        fake = self._memo.get(memo_key)
        if fake is None:
            if self.key is not None:
                h = keyed_hash(self.key, f"text:{pii_type}", real)
            else:
                # The n-th new span gets the n-th seeded draw: the fake carries nothing of the
                # real value, so it cannot be inverted even by someone who knows the seed.
                self._drawn += 1
                h = hashlib.sha256(self._salt + self._drawn.to_bytes(8, "big")).digest()
            fake = self._build(pii_type, h)
            for _ in range(16):  # a fake never equals the span it replaces
                if norm(pii_type, fake) != real:
                    break
                h = hashlib.sha256(h).digest()
                fake = self._build(pii_type, h)
            self._memo[memo_key] = fake
        return fake

    def _pool(self, name: str, make: str, size: int = 256) -> list[str]:
        pool = self._pools.get(name)
        if pool is None:
            # With a key the pool depends on the key alone, so the mapping holds across runs.
            salt = f"{self.key}" if self.key is not None else f"seed:{self.seed}"
            pool_seed = int.from_bytes(hashlib.sha256(f"{salt}\x00text-pool\x00{name}".encode()).digest()[:4], "big")
            fake = faker_for(self.locale, pool_seed)
            method = getattr(fake, make)
            pool = [str(method()).replace("\n", ", ") for _ in range(size)]
            self._pools[name] = pool
        return pool

    def _pick(self, name: str, make: str, h: bytes, at: int) -> str:
        pool = self._pool(name, make)
        return pool[int.from_bytes(h[at:at + 2], "big") % len(pool)]

    def _layout(self, name: str, make: str, h: bytes) -> tuple[str, str]:
        """A Faker value of a numbered type as a format with a slot per digit, and its kept prefix."""
        formats = self._formats.get(name)
        if formats is None:
            formats = []
            for value in self._pool(name, make):
                value = _EXTENSION_RE.sub("", value)
                country = _COUNTRY_RE.match(value) if name == "phone" else None  # keep a country code
                prefix = country.group() if country else ""
                formats.append((prefix, _DIGIT_RE.sub("{}", value[len(prefix):].replace("{", "{{").replace("}", "}}"))))
            self._formats[name] = formats
        return formats[int.from_bytes(h[:2], "big") % len(formats)]

    def _build(self, pii_type: str, h: bytes) -> str:
        # 70 decimal digits from the bytes (the first few, less uniform, are skipped).
        digits = str(int.from_bytes(hashlib.sha256(h).digest() + h, "big"))[4:]
        if pii_type == "email":
            first = ascii_slug(self._pick("first_name", "first_name", h, 0))
            last = ascii_slug(self._pick("last_name", "last_name", h, 2))
            domain = self._pick("email_domain", "free_email_domain", h, 4) if h[6] % 2 else \
                self._pick("domain", "domain_name", h, 4)
            local = (f"{first}.{last}", f"{first[0]}{last}", f"{first}{last}{h[7] % 90 + 10}", f"{first}_{last}")
            return f"{local[h[8] % 4]}@{domain}"
        if pii_type == "url":
            base = self._pick("url", "url", h, 0)
            return base.rstrip("/") + "/" + self._pick("uri_path", "uri_path", h, 2)
        if pii_type == "ip_address":
            return f"{h[0] % 223 + 1}.{h[1]}.{h[2]}.{h[3] % 254 + 1}"
        if pii_type == "credit_card":
            template = _NON_DIGIT_RE.sub("", self._pick("credit_card", "credit_card_number", h, 0))
            body = template[:6] + digits[:len(template) - 7]  # keep the issuer prefix
            return body + str(_luhn_digit([int(ch) for ch in body]))
        if pii_type == "iban":
            _, fmt = self._layout("iban", "iban", h)
            bban = fmt[6:].format(*digits)  # after the country code and the two check-digit slots
            return fmt[:2] + _iban_check(fmt[:2], bban) + bban
        if pii_type in ("phone", "ssn"):
            prefix, fmt = self._layout(pii_type, FAKER_METHODS[pii_type], h)
            return prefix + fmt.format(*digits)
        return self._pick(pii_type, FAKER_METHODS[pii_type], h, 0)


@dataclass
class _Column:
    """One PII column as the scrubber sees it: its type and, per row, key, real and fake values."""

    pii_type: str
    real: list[Any]
    fake: list[Any]
    keys: list[_Key | None] = field(default_factory=list)
    norms: list[str | None] = field(default_factory=list)


class TextScrubber:
    """Replaces PII spans in the free text of one table, given how its PII columns were replaced.

    Args:
        df: the real table.
        pii: PII column -> PII type.
        fakes: PII column -> the fake of each row (as ``anonymize`` made them).
        key: the ``anonymize`` key, or None.
        locale: Faker locale of fresh fakes.
        seed: seed of fresh fakes when there is no key.
    """

    def __init__(self, df: pd.DataFrame, pii: dict[str, str], fakes: dict[str, np.ndarray], *,
                 key: str | None, locale: str, seed: int) -> None:
        self.fresh = _FreshFakes(locale, key, seed)
        self.common = _common_words(locale)
        self.columns: list[_Column] = []
        # Name columns first: where a row's name and username read the same, the name wins.
        order = sorted(pii, key=lambda c: (pii[c] not in _NAME_TYPES, list(df.columns).index(c)))
        for name in order:
            present = df[name].notna().to_numpy()
            real, fake = _texts(df[name].to_numpy(dtype=object), present), _texts(np.asarray(fakes[name]), present)
            col = _Column(pii[name], real, fake)
            distinct = {v for v in real if v is not None}
            if col.pii_type in _WORD_TYPES:
                # A value of one letter ("J") would replace every such word: not looked for.
                keys = {v: k for v in distinct if len("".join(k := _word_key(v))) >= 2}
                col.keys = [keys.get(v) if v is not None else None for v in real]
            if col.pii_type in PATTERN_TYPES:
                norms = {v: norm(col.pii_type, v) for v in distinct}
                col.norms = [norms[v] if v is not None else None for v in real]
            self.columns.append(col)
        self.word_columns = [c for c in self.columns if c.keys]
        self.pattern_columns = [c for c in self.columns if c.norms]
        # A first and a last name column: "first last" in a note is one person, whose fake is
        # the pair of fakes of one row (a surname that is also someone's first name stays a surname).
        firsts = [c for c in self.columns if c.pii_type == "first_name"]
        lasts = [c for c in self.columns if c.pii_type == "last_name"]
        self.person: tuple[_Column, _Column] | None = (firsts[0], lasts[0]) if firsts and lasts else None
        # Table-wide: every real name -> the fake its (first) row got; spans found by a pattern
        # that are a real value of a PII column of that type -> that column's fake.
        self.table_words: dict[_Key, tuple[str, str]] = {}
        self.table_patterns: dict[str, dict[str, str]] = {t: {} for t in PATTERN_TYPES}
        for k, f in _first_seen_people(self.person):
            self.table_words.setdefault(k, (f, "name"))
        for col in self.columns:
            if col.pii_type in _NAME_TYPES:
                for k, r, f in _first_seen(col.keys, col.real, col.fake):
                    self.table_words.setdefault(k, (f, col.pii_type))
                    for pk, pf in (_name_parts(r, f) if col.pii_type == "name" else []):
                        self.table_words.setdefault(pk, pf)
            if col.pii_type in PATTERN_TYPES:
                for n, _, f in _first_seen(col.norms, col.real, col.fake):
                    self.table_patterns[col.pii_type].setdefault(n, f)
        self.table_first: dict[str, int] = {}  # first word of a name -> most words of a name it begins
        for k in self.table_words:
            self.table_first[k[0]] = max(len(k), self.table_first.get(k[0], 0))
        self.table_starts = set(self.table_first)  # a set: set operations with a dict walk the dict

    def scrub(self, s: pd.Series) -> pd.Series:
        """``s`` (a text column of the table, same index) with its PII spans replaced."""
        values = s.tolist()
        present = s.notna().to_numpy()
        out = list(values)
        changed = 0
        for i, (v, ok) in enumerate(zip(values, present, strict=True)):
            if not ok:
                continue  # a missing note stays missing
            text = v if isinstance(v, str) else str(v)
            new = self._scrub_cell(text, i)
            if new != text:
                out[i] = new
                changed += 1
        log.info("text column %r: PII replaced in %d of %d cells", s.name, changed, int(present.sum()))
        if s.dtype == object or isinstance(s.dtype, pd.CategoricalDtype):
            return pd.Series(out, index=s.index, name=s.name, dtype=object)
        return pd.Series(pd.array(out, dtype=s.dtype), index=s.index, name=s.name)

    def _scrub_cell(self, text: str, row: int) -> str:
        spans = [(start, end, self._pattern_fake(kind, text[start:end], row))
                 for start, end, kind in _pattern_spans(text)]
        for col in self.pattern_columns:  # the row's own phone (email, ...) as written in its column
            real = col.real[row]
            if real is not None and len(real) >= 5 and real in text:
                found = [p for p in _find_word(text, real) if not _overlaps(spans, p, p + len(real))]
                spans.extend((p, p + len(real), col.fake[row]) for p in found)
        if self.word_columns:
            low = _fold(text)
            words = set(_WORD_RE.findall(low))
            row_cols = [c for c in self.word_columns if (k := c.keys[row]) is not None and not words.isdisjoint(k)]
            if row_cols or not words.isdisjoint(self.table_starts):
                spans.extend(self._word_spans(text, low, words, row, row_cols, spans))
        spans.sort()
        if not spans:
            return text
        pieces, pos = [], 0
        for start, end, fake in spans:
            pieces.append(text[pos:start])
            pieces.append(fake)
            pos = end
        pieces.append(text[pos:])
        return "".join(pieces)

    def _pattern_fake(self, kind: str, span: str, row: int) -> str:
        real = norm(kind, span)
        fake = None
        for col in self.pattern_columns:  # the row's own value first, so a note repeats the row's fake
            if col.pii_type == kind and col.norms[row] == real:
                fake = col.fake[row]
                break
        if fake is None:
            fake = self.table_patterns[kind].get(real)
        if fake is None or norm(kind, fake) == real:
            fake = self.fresh.get(kind, span)
        return fake

    def _word_spans(self, text: str, low: str, words: set[str], row: int, row_cols: list[_Column],
                    taken: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
        """Spans of the row's own PII values and of the table's real names, longest first."""
        row_words: dict[_Key, tuple[str, str]] = {}
        row_first: dict[str, int] = {}
        for col in row_cols:
            k, r, f = col.keys[row], col.real[row], col.fake[row]
            assert k is not None and r is not None and f is not None
            row_words.setdefault(k, (f, col.pii_type))
            if col.pii_type == "name":
                for pk, pf in _name_parts(r, f):
                    row_words.setdefault(pk, pf)
        if self.person is not None and all(c in row_cols for c in self.person):
            first, last = self.person
            k_first, k_last = first.keys[row], last.keys[row]
            assert k_first is not None and k_last is not None
            row_words.setdefault(k_first + k_last, (f"{first.fake[row]} {last.fake[row]}", "name"))
        for k in row_words:
            row_first[k[0]] = max(len(k), row_first.get(k[0], 0))
        # Look only where a value can start: at the (few) words of the text that begin one.
        firsts = (words & self.table_starts).union(w for w in row_first if w in words)
        starts = sorted((p, w) for w in firsts for p in _find_word(low, w))
        out: list[tuple[int, int, str]] = []
        done = 0
        for p, w in starts:
            if p < done or _inside(taken, p) is not None:
                continue
            toks, ends = [w], [p + len(w)]  # the word and the words that follow it closely
            longest = max(self.table_first.get(w, 0), row_first.get(w, 0))
            if longest > 1:
                for m in _WORD_RE.finditer(low, ends[0]):
                    if len(toks) == longest or m.start() - ends[-1] > _MAX_GAP or _inside(taken, m.start()):
                        break
                    toks.append(m.group())
                    ends.append(m.end())
            for n in range(len(toks), 0, -1):
                k = tuple(toks[:n])
                start, end = p, ends[n - 1]
                span = text[start:end]
                hit = row_words.get(k)
                if hit is None:
                    hit = self.table_words.get(k)
                if hit is None or (n == 1 and span.islower() and w in self.common):
                    continue  # "will" in lower case is the verb, not the name Will
                fake, pii_type = hit
                if fake.casefold() == span.casefold():
                    fake = self.fresh.get(pii_type, span)
                out.append((start, end, _match_case(fake, span)))
                done = end
                break
        return out


@functools.lru_cache(maxsize=8)
def _common_words(locale: str) -> frozenset[str]:
    """Common words of the locale's language and of English (Faker's word lists), case-folded.

    A one-word name written in lower case is left alone when it is one of these: the first name
    Will, May or Bill is also a common word, and "will" in a note is almost always the verb.
    """
    words = faker_for(locale, 0).get_words_list() + faker_for("en_US", 0).get_words_list()
    return frozenset(w.casefold() for w in words)


def _find_word(low: str, word: str) -> Iterable[int]:
    """Where ``word`` occurs in ``low`` as a whole word."""
    at = low.find(word)
    while at != -1:
        end = at + len(word)
        if (at == 0 or not _is_word_char(low[at - 1])) and (end == len(low) or not _is_word_char(low[end])):
            yield at
        at = low.find(word, at + 1)


def _first_seen(keys: list[Any], real: list[Any], fake: list[Any]) -> Iterable[tuple[Any, str, str]]:
    """(key, real, fake) of the first row of each distinct key."""
    first = ~pd.Series(keys, dtype=object).duplicated(keep="first").to_numpy()
    for i in np.flatnonzero(first):
        k, r, f = keys[i], real[i], fake[i]
        if k is not None and r is not None and f is not None:
            yield k, r, f


def _first_seen_people(person: tuple[_Column, _Column] | None) -> Iterable[tuple[_Key, str]]:
    """(first + last name words, "fake first fake last") of the first row of each real person."""
    if person is None:
        return
    first, last = person
    keys = [f + la if f is not None and la is not None else None for f, la in zip(first.keys, last.keys, strict=True)]
    fakes = [f"{f} {la}" if f is not None and la is not None else None
             for f, la in zip(first.fake, last.fake, strict=True)]
    for k, _, f in _first_seen(keys, keys, fakes):
        yield k, f


def _texts(values: np.ndarray, present: np.ndarray) -> list[str | None]:
    """The values as text, None where missing."""
    out: list[Any] = values.tolist()
    for i in np.flatnonzero(~present):
        out[i] = None
    if pd.api.types.infer_dtype(values[present], skipna=True) != "string":
        out = [v if v is None or isinstance(v, str) else str(v) for v in out]
    return out

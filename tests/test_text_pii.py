"""PII inside free text: anonymize scrubs emails, phones, ... and the table's own PII values from notes."""

import re

import numpy as np
import pandas as pd
import pytest
from faker import Faker
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import datatwin
from datatwin.pii._text import _FreshFakes, _name_words, _pattern_spans, norm

META = {"columns": {
    "first_name": {"kind": "pii", "pii_type": "first_name"},
    "last_name": {"kind": "pii", "pii_type": "last_name"},
    "email": {"kind": "pii", "pii_type": "email"},
    "phone": {"kind": "pii", "pii_type": "phone"},
    "notes": {"kind": "text"},
}}
KEPT = "asked about the premium renewal"  # in every note: must come out as it went in
EMAIL_RE = re.compile(r"[\w.+'-]+@[\w-]+(?:\.[\w-]+)+")
PHONE_RE = re.compile(r"\+?\(?\d[\d ().-]{6,}\d")


@pytest.fixture(scope="module")
def people() -> pd.DataFrame:
    """200 customers whose notes mention their own name, email and phone, others' names and stray PII."""
    fake = Faker("en_US")
    fake.seed_instance(11)
    n = 200
    first = [fake.first_name() for _ in range(n)]
    last = [fake.last_name() for _ in range(n)]
    email = [f"{f.lower()}.{la.lower()}{i}@example.com" for i, (f, la) in enumerate(zip(first, last, strict=True))]
    phone = [f"({200 + i}) 555-{1000 + 7 * i}" for i in range(n)]
    notes: list[str | None] = []
    for i in range(n):
        other = (i + 1) % n
        notes.append([
            f"Call {first[i]} {last[i]} at {phone[i]}: {KEPT}.",
            f"{first[i]} {KEPT}; mail {email[i]} or {first[i].lower()}.private{i}@gmail.com.",
            f"{KEPT} for {first[i]}. See https://www.example.org/u/{i} and call +44 20 7946 {i:04d}.",
            f"{last[i].upper()} {KEPT}, {first[other]} {last[other]} vouched; card 4111 1111 1111 {i:04d}.",
            f"Mr. {last[i]} {KEPT} from 10.0.{i % 256}.7, ssn 078-05-{i:04d}, IBAN DE89 3704 0044 0532 {i:04d} 00.",
        ][i % 5])
    notes[7] = None
    notes[8] = np.nan  # type: ignore[call-overload]
    df = pd.DataFrame({"first_name": first, "last_name": last, "email": email, "phone": phone})
    df["notes"] = pd.Series(notes, dtype=object)  # object: keeps None and NaN apart
    return df


@pytest.fixture(scope="module")
def seeded(people) -> pd.DataFrame:
    return datatwin.anonymize(people, META, seed=3)


@pytest.fixture(scope="module")
def keyed(people) -> pd.DataFrame:
    return datatwin.anonymize(people, META, key="s3cret", seed=1)


def _real_spans(note: str) -> list[str]:
    """The stray PII the fixture writes into a note (besides the row's own columns)."""
    return EMAIL_RE.findall(note) + re.findall(r"https://www\.example\.org/u/\d+|\+44 20 7946 \d{4}"
                                               r"|4111 1111 1111 \d{4}|10\.0\.\d+\.7|078-05-\d{4}"
                                               r"|DE89 3704 0044 0532 \d{4} 00", note)


def _words(text: str) -> set[str]:
    """Case-folded words of ``text`` outside email addresses and URLs (fake emails are made of names)."""
    text = re.sub(r"\S+@\S+|https?://\S+|www\.\S+", " ", text)
    return set(re.findall(r"\w+", text.casefold()))


@pytest.mark.parametrize("which", ["seeded", "keyed"])
def test_no_real_pii_survives_in_notes(request, people, which):
    out = request.getfixturevalue(which)
    real_emails = set(people["email"])
    real_phone_digits = {re.sub(r"\D", "", p) for p in people["phone"]}
    for i, (before, after) in enumerate(zip(people["notes"], out["notes"], strict=True)):
        if not isinstance(before, str):
            continue
        assert KEPT in after, (before, after)
        for span in _real_spans(before) + [people["email"][i], people["phone"][i]]:
            assert span not in after, (span, after)
        assert not set(EMAIL_RE.findall(after)) & real_emails, after
        assert not {re.sub(r"\D", "", p) for p in PHONE_RE.findall(after)} & real_phone_digits, after
        # The row's own names, and the other person a note mentions, are gone as words, unless a
        # fake that replaced them happens to be spelled the same way.
        mentioned = {people["first_name"][i], people["last_name"][i]}
        if i % 5 == 3:
            other = (i + 1) % len(people)
            mentioned |= {people["first_name"][other], people["last_name"][other]}
        fakes = _words(" ".join(str(out[c][j]) for c in ("first_name", "last_name")
                                for j in (i, (i + 1) % len(people))))
        leaked = {w.casefold() for w in mentioned} & _words(after) - fakes
        assert not leaked, (before, after)


def test_note_names_the_rows_fake_person(people, seeded, keyed):
    for out in (seeded, keyed):
        for i in range(0, len(people), 5):
            assert out["notes"][i].startswith(f"Call {out['first_name'][i]} {out['last_name'][i]} at "), \
                out["notes"][i]
            # The row's own email in its note becomes the row's fake email.
            assert out["notes"][i + 1].startswith(f"{out['first_name'][i + 1]} {KEPT}; mail {out['email'][i + 1]} ")
        # Another row's person mentioned in a note gets the fake that row got; the span's case is kept.
        assert out["notes"][3].startswith(f"{out['last_name'][3].upper()} {KEPT}, {out['first_name'][4]} "
                                          f"{out['last_name'][4]} vouched; card ")


def test_missing_notes_stay_missing(people, seeded):
    assert seeded["notes"].isna().tolist() == people["notes"].isna().tolist()
    assert seeded["notes"][7] is None and seeded["notes"][8] is not None and pd.isna(seeded["notes"][8])
    as_str = people.assign(notes=people["notes"].astype("str"))  # pandas' string dtype keeps NaN as missing
    out = datatwin.anonymize(as_str.head(20), META, seed=3)
    assert out["notes"].dtype == as_str["notes"].dtype
    assert out["notes"].isna().tolist() == as_str["notes"].head(20).isna().tolist()


def test_same_seed_same_bytes_other_seed_other_fakes(people, seeded):
    again = datatwin.anonymize(people, META, seed=3)
    pd.testing.assert_frame_equal(again, seeded)
    other = datatwin.anonymize(people, META, seed=4)
    assert other["notes"].dropna().tolist() != seeded["notes"].dropna().tolist()


def test_key_maps_the_same_span_to_the_same_fake_across_rows_and_runs(people):
    df = people.head(20).copy()
    df.loc[0, "notes"] = "Forward to shared.inbox@acme.org and ring +1 212 555 0199."
    df.loc[1, "notes"] = "Shared.Inbox@acme.org is the inbox; ring +1-212-555-0199 after 5."
    df.loc[2, "notes"] = f"Met {df['first_name'][5]} {df['last_name'][5]} today."
    a = datatwin.anonymize(df, META, key="s3cret", seed=1)
    b = datatwin.anonymize(df, META, key="s3cret", seed=2)
    pd.testing.assert_series_equal(a["notes"], b["notes"])
    email0, email1 = EMAIL_RE.findall(a["notes"][0])[0], EMAIL_RE.findall(a["notes"][1])[0]
    assert email0.casefold() == email1.casefold() != "shared.inbox@acme.org"
    phones = [re.sub(r"\D", "", PHONE_RE.findall(a["notes"][k])[0]) for k in (0, 1)]
    assert phones[0] == phones[1] != "12125550199"
    assert a["notes"][2] == f"Met {a['first_name'][5]} {a['last_name'][5]} today."
    c = datatwin.anonymize(df, META, key="other", seed=1)
    assert c["notes"][0] != a["notes"][0]


def test_common_words_and_short_numbers_are_kept():
    df = pd.DataFrame({
        "name": ["Will Turner", "May Parker", "Ann Lee"] * 4,
        "notes": ["Will will call back in May about the 2 bills; may upgrade. Order 1234567 on 2024-03-04.",
                  "Version 3.14 shipped 1999-2004 at $1,250.00 for May Parker; will sign.",
                  "ann lee and ANN LEE wrote; Lee will review."] * 4,
    })
    meta = {"columns": {"name": {"kind": "pii", "pii_type": "name"}, "notes": {"kind": "text"}}}
    out = datatwin.anonymize(df, meta, key="k")
    will, may, ann = (_name_words(out["name"][k]) for k in range(3))  # a fake may carry a title: Dr., MD
    assert out["notes"][0] == (f"{will[0]} will call back in {may[0]} about the 2 bills; may upgrade. "
                               "Order 1234567 on 2024-03-04.")
    assert out["notes"][1] == f"Version 3.14 shipped 1999-2004 at $1,250.00 for {out['name'][1]}; will sign."
    assert out["notes"][2] == f"{out['name'][2].lower()} and {out['name'][2].upper()} wrote; {ann[-1]} will review."


@pytest.mark.parametrize("text, found", [
    ("mail john.doe+x@mail.example.co.uk now", ["john.doe+x@mail.example.co.uk"]),
    ("see https://x.org/a?b=c@d.com, then www.acme.io.", ["https://x.org/a?b=c@d.com", "www.acme.io"]),
    ("call (555) 123-4567x89 or +1-555-123-4567 or 555.123.4567", ["(555) 123-4567x89", "+1-555-123-4567",
                                                                   "555.123.4567"]),
    ("ruf +49 (0) 30 1234567 an oder 030 12345678", ["+49 (0) 30 1234567", "030 12345678"]),
    ("appelez le 06 12 34 56 78", ["06 12 34 56 78"]),
    ("phone 555-123-4567 card 4111 1111 1111 1111", ["555-123-4567", "4111 1111 1111 1111"]),
    ("ssn 078-05-1120, ip 192.168.0.1, iban GB82 WEST 1234 5698 7654 32", ["078-05-1120", "192.168.0.1",
                                                                           "GB82 WEST 1234 5698 7654 32"]),
    ("cc 4111111111111111 or 5551234567", ["4111111111111111", "5551234567"]),
    ("on 2024-03-04 or 04/03/2024, order 1234567, v3.14, 1999-2004, $1,250.00, pi 3.14159265", []),
])
def test_patterns(text, found):
    assert [text[s:e] for s, e, _ in _pattern_spans(text)] == found


@pytest.mark.parametrize("pii_type", ["email", "url", "phone", "ssn", "credit_card", "iban", "ip_address",
                                      "first_name", "city"])
def test_fresh_fakes_differ_from_the_span_and_are_stable(pii_type):
    for key in (None, "k"):
        fakes = _FreshFakes("de_DE", key, 0)
        pool = [fakes.get(pii_type, f"{pii_type}-{i}") for i in range(50)]
        assert all(isinstance(f, str) and f for f in pool)
        assert [fakes.get(pii_type, f"{pii_type}-{i}") for i in range(50)] == pool  # memoised
        for f in pool[:10]:  # a span that is itself a typical fake gets another one
            assert norm(pii_type, fakes.get(pii_type, f)) != norm(pii_type, f)


def test_scrub_text_switch(people):
    head = people.head(10)
    kept = datatwin.anonymize(head, META, seed=3, scrub_text=False)
    pd.testing.assert_series_equal(kept["notes"], head["notes"])
    with pytest.raises(datatwin.InputError, match="scrub_text must be True or False"):
        datatwin.anonymize(head, META, scrub_text="yes")  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- property
_word = st.text("abcdefghijklmnopqrstuvwxyz", min_size=3, max_size=8)
_email = st.builds(lambda a, b, c: f"{a}.{b}@{c}.com", _word, _word, _word)
_phone = st.builds(lambda a, b, c: f"({a}) {b}-{c}", st.integers(200, 999), st.integers(200, 999),
                   st.integers(1000, 9999))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(words=st.lists(_word, min_size=1, max_size=12), email=_email, phone=_phone, at=st.integers(0, 12),
       seed=st.integers(0, 2**16))
def test_property_stray_pii_goes_and_plain_words_stay(words, email, phone, at, seed):
    at = min(at, len(words))
    note = " ".join(words[:at] + [email, "or", phone] + words[at:])
    df = pd.DataFrame({"notes": [note, " ".join(words), None]})
    meta = {"columns": {"notes": {"kind": "text"}}}
    out = datatwin.anonymize(df, meta, seed=seed)
    scrubbed = out["notes"][0]
    assert email not in scrubbed and re.sub(r"\D", "", phone) not in re.sub(r"\D", "", scrubbed)
    assert scrubbed.startswith(" ".join(words[:at])) and scrubbed.endswith(" ".join(words[at:]))
    assert " or " in scrubbed
    assert out["notes"][1] == " ".join(words)  # no PII: not a byte changed
    assert pd.isna(out["notes"][2])
    pd.testing.assert_frame_equal(out, datatwin.anonymize(df, meta, seed=seed))

"""Uploaded bytes in, served files out: every check made before anything is stored.

An upload is read into a private temp file with a hard byte limit, its type is sniffed from the
content (never trusted from the name), gzip is inflated with a limit (a gzip bomb stops at the
limit), and the table is parsed by :func:`datatwin.read_table` before it is kept. The user's
file name is only ever displayed: stored files get names we choose.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import shutil
import tempfile
import unicodedata
import urllib.parse
import zipfile
from pathlib import Path
from typing import IO

import pandas as pd

from .. import InputError

PARQUET_MAGIC = b"PAR1"
TABLE_SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


class TooLarge(InputError):
    """An upload over the size limit (HTTP 413)."""


def check_name(name: str | None) -> str:
    """A file name as given by the browser: refused (not cleaned) unless it is a plain base name."""
    if not name:
        raise InputError("the upload has no file name")
    # Browsers (and httpx) send control characters and quotes percent-encoded: judge the decoded name.
    name = urllib.parse.unquote(name)
    if len(name) > 200:
        raise InputError("the file name is longer than 200 characters")
    if any(unicodedata.category(ch) in ("Cc", "Cf") for ch in name):
        raise InputError("the file name contains control characters (NUL, newline, ...); rename the file")
    if "/" in name or "\\" in name or name.startswith("~") or (len(name) > 1 and name[1] == ":"):
        raise InputError("the file name is a path; upload a file with a plain name such as data.csv")
    if name in (".", "..") or ".." in name.split("."):
        raise InputError("the file name contains '..'; rename the file")
    return name


def receive(src: IO[bytes], folder: Path, limit: int) -> Path:
    """Copy an upload stream into a temp file in ``folder``, refusing it past ``limit`` bytes."""
    fd, name = tempfile.mkstemp(prefix=".upload.", suffix=".tmp", dir=folder)
    total = 0
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := src.read(1 << 20):
                total += len(chunk)
                if total > limit:
                    raise TooLarge(f"the file is larger than the limit of {limit / 2**20:.0f} MB")
                out.write(chunk)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    if total == 0:
        Path(name).unlink(missing_ok=True)
        raise InputError("the file is empty")
    return Path(name)


def sniff(head: bytes) -> str:
    """What the bytes are: parquet, gzip, zip, sqlite, binary or text."""
    if head.startswith(PARQUET_MAGIC):
        return "parquet"
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return "zip"
    if head.startswith(b"SQLite format 3\x00"):
        return "sqlite"
    if b"\x00" in head:
        return "binary"
    return "text"


def _inflate(path: Path, limit: int) -> Path:
    """Gunzip ``path`` next to itself, stopping at ``limit`` bytes (a gzip bomb is refused, not expanded)."""
    out_path = path.with_suffix(".inflated")
    total = 0
    try:
        with gzip.open(path, "rb") as src, open(out_path, "wb") as out:
            while chunk := src.read(1 << 20):
                total += len(chunk)
                if total > limit:
                    raise TooLarge(f"the gzip file expands beyond the limit of {limit / 2**20:.0f} MB "
                                   "(a compression bomb?); upload the plain file")
                out.write(chunk)
    except (OSError, EOFError, gzip.BadGzipFile):
        out_path.unlink(missing_ok=True)
        raise InputError("the gzip file is damaged") from None
    except BaseException:
        out_path.unlink(missing_ok=True)
        raise
    return out_path


def table_from_upload(tmp: Path, name: str, *, max_decompressed: int, max_columns: int) -> tuple[Path, str]:
    """Check that ``tmp`` holds what ``name`` says (CSV or Parquet, maybe .gz) and return (file, format).

    The returned file is ``tmp`` or its inflated copy; the caller moves it into place.
    """
    lower = name.lower()
    gz = lower.endswith(".gz")
    suffix = Path(lower[:-3] if gz else lower).suffix
    if suffix not in TABLE_SUFFIXES:
        raise InputError(f"{name!r}: only .csv and .parquet files (optionally .csv.gz) and SQLite databases "
                         "(.sqlite, .sqlite3, .db) can be uploaded")
    expected = TABLE_SUFFIXES[suffix]
    with open(tmp, "rb") as f:
        head = f.read(4096)
    found = sniff(head)
    if gz:
        if found != "gzip":
            raise InputError(f"{name!r} is named .gz but its content is not gzip")
        inflated = _inflate(tmp, max_decompressed)
        tmp.unlink(missing_ok=True)
        tmp = inflated
        with open(tmp, "rb") as f:
            head = f.read(4096)
        found = sniff(head)
    if found in ("zip", "gzip", "sqlite", "binary") or found != ("parquet" if expected == "parquet" else "text"):
        what = {"text": "text (CSV)", "binary": "binary data"}.get(found, found)
        raise InputError(f"{name!r} is named {suffix} but its content is {what}; upload a real "
                         f"{'Parquet' if expected == 'parquet' else 'CSV'} file")
    if expected == "parquet":
        with open(tmp, "rb") as f:
            f.seek(-4, os.SEEK_END)
            if f.read(4) != PARQUET_MAGIC:
                raise InputError(f"{name!r} starts like Parquet but is truncated or damaged")
    return tmp, expected


def read_checked(path: Path, fmt: str, display_name: str, max_columns: int) -> pd.DataFrame:
    """Parse the stored file with datatwin's own reader; messages name the user's file, not ours."""
    import datatwin

    # read_table picks the parser by suffix, so give it a name with the sniffed format.
    probe = path.with_name(path.stem + (".parquet" if fmt == "parquet" else ".csv"))
    os.replace(path, probe)
    try:
        df = datatwin.read_table(probe)
    except InputError as exc:
        raise InputError(str(exc).replace(repr(str(probe)), repr(display_name))) from None
    finally:
        os.replace(probe, path)
    if df.shape[1] > max_columns:
        raise InputError(f"{display_name!r} has {df.shape[1]} columns; the limit is {max_columns}")
    return df


def check_model_zip(path: Path, limit: int) -> None:
    """A model file must be a zip whose entries expand to at most ``limit`` bytes (no zip bomb)."""
    with open(path, "rb") as f:
        if sniff(f.read(8)) != "zip":
            raise InputError("this is not a datatwin model file (.dtw is a zip archive)")
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except zipfile.BadZipFile:
        raise InputError("the model file is a damaged zip archive") from None
    total = sum(i.file_size for i in infos)
    if total > limit or len(infos) > 16:
        raise TooLarge("the model file expands beyond the size limit (a zip bomb?); it was not opened")
    for i in infos:
        if i.filename.startswith("/") or ".." in i.filename.split("/"):
            raise InputError("the model file contains a path outside itself; it was not opened")


def place(src: Path, dest: Path) -> None:
    """Move a finished file into place in one rename (no reader ever sees half a file)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    os.replace(src, dest)


def remove_tree(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        shutil.rmtree(path)

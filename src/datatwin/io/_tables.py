"""Reading tables and writing outputs atomically (temp file + rename, streamed in chunks)."""

from __future__ import annotations

import contextlib
import csv
import errno
import glob
import io
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._exceptions import InputError, OutputError

log = logging.getLogger("datatwin")

__all__ = ["ParquetSource", "atomic_output", "atomic_write_text", "csv_bytes", "is_parquet_dataset", "read_table",
           "write_table", "write_table_chunks"]

TABLE_SUFFIXES = (".csv", ".parquet", ".pq", ".tsv", ".txt")


def _table_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return "parquet"
    if suffix in (".csv", ".txt"):
        return "csv"
    if suffix == ".tsv":
        return "tsv"
    raise InputError(f"{str(path)!r}: unknown table format {suffix or '(no suffix)'!r}; use .csv or .parquet")


def read_table(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a CSV or Parquet file into a DataFrame, with clear errors for unusable files.

    CSV cells that are empty are missing values; text such as ``NA`` or ``?`` is kept as is.
    A file that is not UTF-8 is read as Latin-1 when that decodes cleanly (with a warning logged).
    """
    if not isinstance(path, (str, os.PathLike)):
        raise InputError(f"a table path must be a str or os.PathLike, got {type(path).__name__} {path!r}; "
                         f"pass the path of a CSV or Parquet file")
    p = Path(path)
    try:
        exists = p.exists()
    except (OSError, ValueError) as exc:  # a name too long, a NUL byte
        raise InputError(f"input file {str(p)!r} cannot be opened ({exc}); check the path") from None
    if not exists:
        raise InputError(f"input file {str(p)!r} does not exist")
    if p.is_dir():
        raise InputError(f"input {str(p)!r} is a folder, not a file")
    fmt = _table_format(p)
    if p.stat().st_size == 0:
        raise InputError(f"input file {str(p)!r} is empty; it needs a header row and at least one data row")
    if fmt == "parquet":
        try:
            df = pd.read_parquet(p)
        except Exception as exc:  # pyarrow raises several unrelated types for bad files
            raise InputError(f"input file {str(p)!r} is not a readable Parquet file ({exc})") from None
    else:
        df = _read_csv(p, sep="\t" if fmt == "tsv" else ",")
    if df.shape[1] == 0:
        raise InputError(f"input file {str(p)!r} has no columns")
    if len(df) == 0:
        raise InputError(f"input file {str(p)!r} has a header but no data rows")
    return df


def _utf16(raw: bytes) -> str | None:
    """The text of a UTF-32 file with a byte-order mark, or of a UTF-16 file (with a byte-order
    mark, or without one when every other byte of its start is NUL, as in ASCII-range text), else None."""
    if raw.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        encoding = "utf-32"
    elif raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        encoding = "utf-16"
    else:
        head = raw[:4096]
        even, odd = head[0::2], head[1::2]
        if len(head) < 4 or len(head) % 2:
            return None
        if odd.count(0) > 0.9 * len(odd) and even.count(0) < 0.1 * len(even):
            encoding = "utf-16-le"
        elif even.count(0) > 0.9 * len(even) and odd.count(0) < 0.1 * len(odd):
            encoding = "utf-16-be"
        else:
            return None
    try:
        return raw.decode(encoding).lstrip("\ufeff")
    except UnicodeDecodeError:
        return None


def _read_csv(p: Path, sep: str) -> pd.DataFrame:
    raw = p.read_bytes()
    utf16 = _utf16(raw)
    if utf16 is not None:
        import logging

        logging.getLogger("datatwin").warning("%s is UTF-16/32 text; read it as such", p)
        return _parse_csv(p, utf16, sep)
    if b"\x00" in raw:
        raise InputError(f"input file {str(p)!r} holds NUL bytes: it is a binary file, not CSV text; "
                         f"export the table as UTF-8 CSV or Parquet")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        try:
            text = raw.decode("cp1252")
        except UnicodeDecodeError:
            raise InputError(
                f"input file {str(p)!r} is not UTF-8 text (byte {exc.start}); save it as UTF-8 and try again"
            ) from None
        import logging

        logging.getLogger("datatwin").warning("%s is not UTF-8; read it as Windows-1252 (Latin-1)", p)
    return _parse_csv(p, text, sep)


def _parse_csv(p: Path, text: str, sep: str) -> pd.DataFrame:
    if "\x00" in text:
        raise InputError(f"input file {str(p)!r} holds NUL characters: it is not CSV text; "
                         f"export the table as UTF-8 CSV or Parquet")
    try:
        header = next(csv.reader(io.StringIO(text.split("\n", 1)[0]), delimiter=sep), [])
    except csv.Error as exc:  # a lone carriage return inside the header, say
        raise InputError(f"input file {str(p)!r}: its header row is not readable CSV ({exc}); "
                         f"save it as plain CSV with one header line") from None
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise InputError(f"input file {str(p)!r} has duplicate column names {dupes}; rename them to be unique")
    try:
        codes = _zero_padded_columns(text, sep)
        return pd.read_csv(io.StringIO(text), sep=sep, keep_default_na=False, na_values=[""], low_memory=False,
                           dtype=dict.fromkeys(codes, str) or None)
    except pd.errors.EmptyDataError:
        raise InputError(f"input file {str(p)!r} is empty; it needs a header row and at least one data row") from None
    except pd.errors.ParserError as exc:
        msg = str(exc).strip().splitlines()[-1]
        raise InputError(f"input file {str(p)!r} has ragged rows: {msg}") from None
    except (csv.Error, ValueError, OverflowError) as exc:  # malformed quoting, a field past the parser's limits
        msg = (str(exc).strip().splitlines() or [type(exc).__name__])[-1][:200]
        raise InputError(f"input file {str(p)!r} is not readable CSV ({msg}); check its quoting and save it "
                         f"as plain UTF-8 CSV") from None


def _zero_padded_columns(text: str, sep: str, sample_rows: int = 50_000) -> list[str]:
    """Columns of digit codes written with leading zeros (postal codes, account numbers): read as
    text, since as numbers "02134" would lose its zero and its tie to a place."""
    head = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False, na_values=[""],
                       nrows=sample_rows)
    out = []
    for name in head.columns:
        s = head[name].dropna()
        if len(s) and s.str.fullmatch(r"\d+").all() and s.str.fullmatch(r"0\d+").any():
            out.append(name)
    return out


# ---------------------------------------------------------------------- atomic output
@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds.

    A failure (exception, full disk, Ctrl-C) leaves no partial file behind.
    """
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise OutputError(f"cannot write {str(target)!r}: folder {str(folder)!r} does not exist; create it first")
    if target.is_dir():
        raise OutputError(f"cannot write {str(target)!r}: it is a folder")
    _sweep_stale(folder, target.name)
    # The writer's process id is in the name, so a later run can tell a file left by a killed
    # writer (kill -9, a power cut: no handler ran) from one another live process is writing.
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.{os.getpid()}.", suffix=".tmp", dir=folder)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        # mkstemp makes the file private (0600); give it the permissions a plain open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, target)
    except OSError as exc:
        _unlink(tmp)
        if isinstance(exc, OutputError):
            raise
        reason = "the disk is full" if exc.errno == errno.ENOSPC else (exc.strerror or str(exc))
        raise OutputError(f"cannot write {str(target)!r}: {reason}") from None
    except BaseException:
        _unlink(tmp)
        raise


def _sweep_stale(folder: Path, name: str) -> None:
    """Remove temp files of ``name`` whose writing process is gone (this machine's processes)."""
    for p in folder.glob(f".{glob.escape(name)}.*.tmp"):
        pid = p.name[len(name) + 2:].split(".", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            _unlink(p)
            log.info("removed %s, left by an interrupted run", p)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True  # exists (another user's), or cannot tell: keep the file
    return True


def _unlink(p: Path) -> None:
    with contextlib.suppress(OSError):
        p.unlink()


def atomic_write_text(path: Path, text: str) -> None:
    with atomic_output(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_table(df: pd.DataFrame, path: str | os.PathLike[str], *, escape_formulas: bool = True) -> None:
    """Write one DataFrame to CSV or Parquet (by suffix), atomically (see :func:`write_table_chunks`)."""
    write_table_chunks([df], path, escape_formulas=escape_formulas)


# A text cell that a spreadsheet would run as a formula (OWASP "CSV injection"); plain numbers
# such as "-5" or "+1.5e3" are data, not formulas, and stay as they are.
_FORMULA_START = re.compile(r"^[=+\-@\t\r]")
_PLAIN_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


SPACE_MARGIN = 1.05  # the estimate is from one chunk: keep 5 % in hand


def _free_bytes(folder: Path) -> int:
    """Free bytes on the disk that holds ``folder`` (a seam the tests can narrow)."""
    return shutil.disk_usage(folder).free


def _size(n: float) -> str:
    return f"{n / 2**30:.1f} GB" if n >= 2**30 else f"{n / 2**20:.1f} MB"


def escape_formula_cells(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with every text cell that starts with ``= + - @``, a tab or a carriage return (and is
    not a plain number) prefixed with ``'``, so a spreadsheet shows it instead of running it;
    column names the same way, since the header row is read like any other."""
    names = [_escaped(str(c)) for c in df.columns]
    out = None if names == [str(c) for c in df.columns] else df.set_axis(names, axis=1)
    for i in range(df.shape[1]):
        col = df.iloc[:, i]
        if isinstance(col.dtype, pd.CategoricalDtype):
            col = col.astype(object)  # e.g. Parquet dictionary columns: their labels are text
        if not (pd.api.types.is_object_dtype(col.dtype) or pd.api.types.is_string_dtype(col.dtype)):
            continue
        if not _may_start_a_formula(col):
            continue
        text = col.astype("string")
        risky = text.str.match(_FORMULA_START, na=False) & ~text.str.match(_PLAIN_NUMBER, na=False)
        if risky.any():
            if out is None:
                out = df.set_axis(names, axis=1)  # a new frame: isetitem below never touches df
            # isetitem replaces the whole column (a categorical would refuse the new labels).
            out.isetitem(i, col.astype(object).where(~risky.to_numpy(), "'" + text[risky].astype(object)))
    return df if out is None else out


def _may_start_a_formula(col: pd.Series) -> bool:
    """A fast first look (Arrow, no Python per cell): does any text cell start with a formula
    character? Most columns have none, and the exact checks above need not run on them."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        arr = pa.array(col, type=pa.large_string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # not all text: let the exact checks decide
        return True
    first = pc.utf8_slice_codeunits(arr, 0, 1)
    return bool(pc.any(pc.is_in(first, pa.array(["=", "+", "-", "@", "\t", "\r"], pa.large_string()))).as_py())


def _escaped(text: str) -> str:
    return "'" + text if _FORMULA_START.match(text) and not _PLAIN_NUMBER.match(text) else text


def write_table_chunks(chunks: Iterable[pd.DataFrame], path: str | os.PathLike[str], *,
                       escape_formulas: bool = True, expected_rows: int | None = None) -> int:
    """Stream DataFrame chunks into one CSV or Parquet file, atomically; returns the row count.

    Memory stays at one chunk, whatever the total row count. In CSV and TSV files, text cells
    that a spreadsheet would run as formulas are escaped with a leading ``'`` (OWASP guidance on
    CSV injection); ``escape_formulas=False`` writes them as they are. Parquet is never changed.
    With ``expected_rows``, the size of the whole file is estimated from the first chunk written,
    and the write stops at once (no file left) if the disk cannot hold it.
    """
    target = Path(path)
    fmt = _table_format(target)
    rows = 0
    checked = expected_rows is None

    def check_space(tmp: Path) -> None:
        nonlocal checked
        checked = True
        written = tmp.stat().st_size
        need = written / max(rows, 1) * expected_rows  # type: ignore[operator]
        free = _free_bytes(tmp.parent) + written
        if need * SPACE_MARGIN > free:
            raise OutputError(f"writing {expected_rows:,} rows to {str(target)!r} needs about {_size(need)}, "
                              f"and only {_size(free)} are free on that disk; free some space, write to "
                              f"another disk, or ask for fewer rows")

    with atomic_output(target) as tmp:
        if fmt == "parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            writer = None
            try:
                for chunk in chunks:
                    table = pa.Table.from_pandas(chunk, preserve_index=False)
                    if writer is None:
                        writer = pq.ParquetWriter(tmp, table.schema)
                    writer.write_table(table.cast(writer.schema))
                    rows += len(chunk)
                    if not checked:
                        check_space(tmp)
            finally:
                if writer is not None:
                    writer.close()
        else:
            sep = "\t" if fmt == "tsv" else ","
            with open(tmp, "wb") as f:
                for i, chunk in enumerate(chunks):
                    if escape_formulas:
                        chunk = escape_formula_cells(chunk)
                    f.write(csv_bytes(chunk, sep, header=i == 0))
                    rows += len(chunk)
                    if not checked:
                        f.flush()
                        check_space(tmp)
    return rows


# ---------------------------------------------------------------------- CSV text
def csv_bytes(df: pd.DataFrame, sep: str = ",", header: bool = True) -> bytes:
    """``df.to_csv(index=False, sep=sep, lineterminator="\\n")`` as UTF-8 bytes, byte for byte,
    built column-wise with Arrow's compute kernels (about 10x faster on wide tables).

    pandas formats floats with numpy's shortest repr (``1.0``, ``1e-05``), booleans as
    ``True``/``False``, missing values as empty fields, and quotes only fields that hold the
    separator, a quote or a line break. ``pyarrow.csv.write_csv`` quotes every text field and
    writes ``1`` for ``1.0``, so it would change every file; the fields are formatted here
    the pandas way instead and joined by Arrow. Columns of other types (datetimes, mixed
    objects) are formatted by pandas itself, one column at a time.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    names = [str(c) for c in df.columns]
    head = b""
    if header:
        buf = io.StringIO()
        csv.writer(buf, delimiter=sep, lineterminator="\n").writerow(names)
        head = buf.getvalue().encode("utf-8")
    if df.shape[1] < 2 or len(df) == 0:
        # A row of one empty field is written as "" by the csv module: leave such frames to pandas.
        body = df.to_csv(index=False, header=False, sep=sep, lineterminator="\n")
        return head + body.encode("utf-8")
    cols = [_csv_field(df.iloc[:, i], sep, pa, pc) for i in range(df.shape[1])]
    empty = pa.scalar("", pa.large_string())
    joined = pc.binary_join_element_wise(*cols, pa.scalar(sep, pa.large_string()))
    lines = pc.binary_join_element_wise(joined, empty, pa.scalar("\n", pa.large_string()))  # each ends in \n
    lines = lines.combine_chunks() if isinstance(lines, pa.ChunkedArray) else lines
    offsets = lines.buffers()[1]
    data = lines.buffers()[2]

    off = np.frombuffer(offsets, dtype=np.int64)[lines.offset: lines.offset + len(lines) + 1]
    return head + data.to_pybytes()[int(off[0]): int(off[-1])] if data is not None else head


# pandas (the csv module, line terminator "\n") quotes a field that holds the separator, a quote
# or a line feed; a lone carriage return is written bare.
_NEEDS_QUOTES = {",": '[,"\n]', "\t": '[\t"\n]'}


def _csv_field(col: pd.Series, sep: str, pa: Any, pc: Any) -> Any:
    """One column as Arrow text fields, formatted and quoted as ``DataFrame.to_csv`` does."""

    dtype = col.dtype
    text = None
    if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_integer_dtype(dtype):
        arr = pa.array(col, from_pandas=True)
        if pa.types.is_boolean(arr.type):
            return pc.fill_null(pc.if_else(arr, "True", "False").cast(pa.large_string()), "")
        return pc.fill_null(pc.cast(arr, pa.large_string()), "")  # no separator or quote in a number
    if pd.api.types.is_float_dtype(dtype) and isinstance(dtype, np.dtype):
        values = col.to_numpy()
        # numpy's str() of a float64 is what pandas writes (shortest repr); NaN is an empty field.
        return pc.fill_null(pa.array(values.astype(str), type=pa.large_string(), mask=np.isnan(values)), "")
    if pd.api.types.is_string_dtype(dtype) and not isinstance(dtype, pd.CategoricalDtype):
        try:
            text = pa.array(col, type=pa.large_string(), from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError):  # an object column holding other things than text
            text = pa.array([v if isinstance(v, str) else "" if _missing(v) else str(v) for v in col],
                            type=pa.large_string())
    elif isinstance(dtype, pd.CategoricalDtype) and pd.api.types.is_string_dtype(dtype.categories.dtype):
        text = pa.array(col.astype(object), type=pa.large_string(), from_pandas=True)
    if text is None:
        # Datetimes, timedeltas, categoricals of numbers, extension types: pandas' own text for
        # this column. None of these holds a line break, so one line per row is one field.
        # (A one-column frame writes a missing value as "", the csv module's empty row.)
        body = col.to_frame().to_csv(index=False, header=False, sep=sep, lineterminator="\n")
        fields = pa.array(body.split("\n")[:-1], type=pa.large_string())
        return pc.if_else(pc.equal(fields, '""'), "", fields)
    text = pc.fill_null(text, "")
    quote = pc.match_substring_regex(text, _NEEDS_QUOTES[sep])
    if not pc.any(quote).as_py():
        return text
    mark = pa.scalar('"', pa.large_string())
    empty = pa.scalar("", pa.large_string())
    quoted = pc.binary_join_element_wise(mark, pc.replace_substring(text, '"', '""'), mark, empty)
    return pc.if_else(quote, quoted, text)


def _missing(v: Any) -> bool:
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


# ---------------------------------------------------------------------- large Parquet inputs
def is_parquet_dataset(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a Parquet file or a folder (a dataset of Parquet files)."""
    p = Path(path)
    return p.is_dir() or p.suffix.lower() in (".parquet", ".pq")


class ParquetSource:
    """A Parquet file or a folder of Parquet files, read in batches, never whole unless asked.

    Files whose names start with ``_`` or ``.`` are skipped (manifests, temp files). Every file
    must have the same columns and types; the row count comes from the files' footers.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        import pyarrow.dataset as pads

        p = Path(path)
        if not p.exists():
            raise InputError(f"input {str(p)!r} does not exist")
        try:
            self.dataset = pads.dataset(str(p), format="parquet")
            self.fragments = list(self.dataset.get_fragments())
        except Exception as exc:  # pyarrow raises several unrelated types for bad files
            raise InputError(f"input {str(p)!r} is not a readable Parquet dataset ({exc})") from None
        if not self.fragments:
            raise InputError(f"input folder {str(p)!r} holds no Parquet files; give a .parquet file or a folder "
                             f"of them")
        first = self.fragments[0]
        for frag in self.fragments[1:]:
            try:
                same = frag.physical_schema.remove_metadata().equals(first.physical_schema.remove_metadata())
            except Exception as exc:
                raise InputError(f"{frag.path!r} is not a readable Parquet file ({exc})") from None
            if not same:
                theirs, ours = _schema_text(frag.physical_schema), _schema_text(first.physical_schema)
                raise InputError(f"{frag.path!r} has other columns or types than {first.path!r} ({theirs} against "
                                 f"{ours}); every file of a dataset needs the same columns and types")
        self.schema = first.physical_schema.remove_metadata()
        self.columns = list(self.schema.names)
        self.n_rows = sum(f.count_rows() for f in self.fragments)
        if not self.columns:
            raise InputError(f"input {str(p)!r} has no columns")
        if self.n_rows == 0:
            raise InputError(f"input {str(p)!r} has no rows; it needs at least one data row")
        self.path = p

    def batches(self, rows: int) -> Iterator[tuple[int, Any]]:
        """``(first row number, pyarrow.RecordBatch)`` pairs in file order, ``rows`` rows at most each."""
        import pyarrow.parquet as pq

        start = 0
        for frag in self.fragments:
            # ParquetFile reads one row group at a time; a dataset scanner's batches kept memory
            # growing with the rows read (1 GB more after 10M rows of adult).
            with pq.ParquetFile(frag.path) as f:
                parts = f.iter_batches(batch_size=rows, use_threads=False)
                for batch in parts:
                    if not len(batch):
                        continue
                    yield start, batch
                    start += len(batch)

    def frames(self, rows: int) -> Iterator[tuple[int, pd.DataFrame]]:
        for start, batch in self.batches(rows):
            yield start, _to_pandas(batch)

    def read(self) -> pd.DataFrame:
        return _to_pandas(self._table([b for _, b in self.batches(1 << 20)]))

    def take(self, rows: np.ndarray, batch_rows: int = 1 << 18) -> pd.DataFrame:
        """The rows at the sorted positions ``rows``, read in one pass of ``batch_rows`` batches:
        memory holds the kept rows and one batch, never the table."""
        import pyarrow as pa

        kept = []
        for start, batch in self.batches(batch_rows):
            lo, hi = np.searchsorted(rows, [start, start + len(batch)])
            if hi > lo:
                kept.append(batch.take(pa.array(rows[lo:hi] - start)))
        return _to_pandas(self._table(kept)).reset_index(drop=True)

    def _table(self, batches: list[Any]) -> Any:
        import pyarrow as pa

        return pa.Table.from_batches(batches) if batches else self.schema.empty_table()


def _to_pandas(data: Any) -> pd.DataFrame:
    return data.to_pandas()


def _schema_text(schema: Any) -> str:
    return ", ".join(f"{f.name}: {f.type}" for f in schema)[:300]

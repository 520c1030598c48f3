"""The model file: a zip of JSON (manifest) + numeric arrays (safetensors). Never pickle.

Layout of a ``.dtw`` file::

    manifest.json         format name and version, library version, parameters, metadata,
                          encoder/generator/engine state that is plain data
    arrays.safetensors    every numeric array (bin edges, network weights)
    SHA256SUMS            checksums of the two files above, checked on load

Writing is deterministic (fixed timestamps, sorted keys), so the same model gives the same bytes.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from .._exceptions import ModelFileError
from ._tables import atomic_output

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "MAX_MODEL_BYTES", "read_model_file", "write_model_file"]

FORMAT_NAME = "datatwin-model"
FORMAT_VERSION = 1
_EPOCH = (1980, 1, 1, 0, 0, 0)
_MEMBERS = ("manifest.json", "arrays.safetensors", "SHA256SUMS")

# A model file is untrusted input: its members are inflated in bounded chunks and never past
# these limits, so a small crafted zip (a "zip bomb") cannot take gigabytes of memory. Real
# models are mostly float arrays, which deflate barely compresses, so the ratio limit only
# bites on crafted files. DATATWIN_MAX_MODEL_BYTES raises the hard limit for huge models.
MAX_MODEL_BYTES = 8 * 2**30
_MAX_MANIFEST_BYTES = 256 * 2**20
_FREE_BYTES = 256 * 2**20  # any file may inflate to this much, whatever its size
_MAX_RATIO = 100  # beyond _FREE_BYTES, at most this many bytes per byte of file
_MAX_SUMS_BYTES = 4096
_CHUNK = 2**20


def _entry(zf: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, date_time=_EPOCH)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    zf.writestr(info, data)


def write_model_file(path: str | os.PathLike[str], manifest: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    from safetensors.numpy import save

    manifest = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, **manifest}
    manifest_bytes = json.dumps(manifest, sort_keys=True, indent=1, allow_nan=False).encode()
    arrays_bytes = save({k: np.ascontiguousarray(v) for k, v in sorted(arrays.items())}) if arrays else b""
    sums = "".join(f"{hashlib.sha256(b).hexdigest()}  {name}\n" for name, b in
                   (("manifest.json", manifest_bytes), ("arrays.safetensors", arrays_bytes)))
    with atomic_output(path) as tmp, zipfile.ZipFile(tmp, "w") as zf:
        _entry(zf, "manifest.json", manifest_bytes)
        _entry(zf, "arrays.safetensors", arrays_bytes)
        _entry(zf, "SHA256SUMS", sums.encode())


def read_model_file(path: str | os.PathLike[str] | bytes) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The manifest and arrays of a model file, given its path or its bytes (as shipped to a worker)."""
    from safetensors.numpy import load

    source: Path | io.BytesIO
    if isinstance(path, bytes):
        p, source = Path("<model bytes>"), io.BytesIO(path)  # named in messages like a path
        size = len(path)
    else:
        if not isinstance(path, (str, os.PathLike)):
            raise ModelFileError(f"a model file path must be a str or os.PathLike, got {type(path).__name__} "
                                 f"{path!r}; pass the path of a file written by 'datatwin fit' or Synthesizer.save")
        p = source = Path(path)
        try:
            is_file = p.is_file()
        except (OSError, ValueError) as exc:  # a name too long, a NUL byte
            raise ModelFileError(f"model file {str(p)!r} cannot be opened ({exc}); check the path") from None
        if not is_file:
            raise ModelFileError(f"model file {str(p)!r} does not exist; check the path, or create it with "
                                 f"'datatwin fit'")
        size = p.stat().st_size
    hint = "it is not a datatwin model file (create one with 'datatwin fit')"
    try:
        with zipfile.ZipFile(source) as zf:
            infos = zf.infolist()
            names = [i.filename for i in infos]
            if not set(_MEMBERS) <= set(names) or len(names) != len(set(names)):
                raise ModelFileError(f"{str(p)!r}: {hint}")
            budget = _inflate_budget(size)
            manifest_bytes = _read_member(zf, p, "manifest.json", min(budget, _MAX_MANIFEST_BYTES))
            budget -= len(manifest_bytes)
            arrays_bytes = _read_member(zf, p, "arrays.safetensors", budget)
            sums = _read_member(zf, p, "SHA256SUMS", _MAX_SUMS_BYTES).decode("ascii", "replace")
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, KeyError, zlib.error,
            NotImplementedError, RuntimeError, ValueError) as exc:
        if isinstance(exc, ModelFileError):
            raise
        raise ModelFileError(f"{str(p)!r}: {hint} or it is truncated ({type(exc).__name__})") from None
    expected: dict[str, str] = {}
    for line in sums.splitlines():
        digest, sep, name = line.partition("  ")
        if sep:
            expected[name] = digest
    for name, data in (("manifest.json", manifest_bytes), ("arrays.safetensors", arrays_bytes)):
        if expected.get(name) != hashlib.sha256(data).hexdigest():
            raise ModelFileError(f"{str(p)!r} is corrupt or was modified ({name} fails its checksum); "
                                 f"re-create it with 'datatwin fit'")
    try:
        manifest = json.loads(manifest_bytes)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        raise ModelFileError(f"{str(p)!r}: its manifest is not valid JSON; {hint}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        raise ModelFileError(f"{str(p)!r}: {hint}")
    version = manifest.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= FORMAT_VERSION:
        raise ModelFileError(
            f"{str(p)!r} uses model format {version!r}, newer than this datatwin reads ({FORMAT_VERSION}); "
            f"upgrade datatwin (it was written by datatwin {manifest.get('datatwin_version', '?')})"
        )
    try:
        arrays = load(arrays_bytes) if arrays_bytes else {}
    except Exception as exc:  # safetensors raises its own error type
        raise ModelFileError(f"{str(p)!r}: its arrays cannot be read ({exc}); re-create it with 'datatwin fit'"
                             ) from None
    for name, a in arrays.items():
        # Every array datatwin writes is finite numbers; NaN weights or bin edges would turn into
        # NaN rows (or an error deep in sampling) much later.
        if a.dtype.kind not in "iuf" or (a.dtype.kind == "f" and not np.isfinite(a).all()):
            raise ModelFileError(f"{str(p)!r}: array {name!r} holds {a.dtype} values that are not finite numbers; "
                                 f"the file is corrupt, re-create it with 'datatwin fit'")
    return manifest, arrays


def _max_model_bytes() -> int:
    raw = os.environ.get("DATATWIN_MAX_MODEL_BYTES")
    if raw is None:
        return MAX_MODEL_BYTES
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ModelFileError(f"DATATWIN_MAX_MODEL_BYTES must be a positive number of bytes, got {raw!r}; "
                             f"unset it or give e.g. {MAX_MODEL_BYTES}")
    return value


def _inflate_budget(size: int) -> int:
    """How many bytes the members of a model file of ``size`` bytes may inflate to, together."""
    return min(_max_model_bytes(), _FREE_BYTES + _MAX_RATIO * size)


def _read_member(zf: zipfile.ZipFile, p: Path, name: str, limit: int) -> bytes:
    """Member ``name``, inflated in bounded chunks and refused as soon as it passes ``limit``
    (the sizes in the zip's directory are not trusted: a crafted file can state any)."""
    info = zf.getinfo(name)
    too_big = ModelFileError(
        f"{str(p)!r}: {name} inflates to more than {limit:,} bytes, far more than a model of this size "
        f"holds; the file is corrupt or crafted (a zip bomb). If it is a genuine huge model, set "
        f"DATATWIN_MAX_MODEL_BYTES above {limit:,}")
    if info.file_size > limit:
        raise too_big
    parts, total = [], 0
    with zf.open(info) as f:
        while True:
            chunk = f.read(min(_CHUNK, limit - total + 1))
            if not chunk:
                break
            total += len(chunk)
            if total > limit:
                raise too_big
            parts.append(chunk)
    return b"".join(parts)

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

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "read_model_file", "write_model_file"]

FORMAT_NAME = "datatwin-model"
FORMAT_VERSION = 1
_EPOCH = (1980, 1, 1, 0, 0, 0)


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
    else:
        p = source = Path(path)
        if not p.is_file():
            raise ModelFileError(f"model file {str(p)!r} does not exist")
    hint = "it is not a datatwin model file (create one with 'datatwin fit')"
    try:
        with zipfile.ZipFile(source) as zf:
            names = set(zf.namelist())
            if not {"manifest.json", "arrays.safetensors", "SHA256SUMS"} <= names:
                raise ModelFileError(f"{str(p)!r}: {hint}")
            manifest_bytes = zf.read("manifest.json")
            arrays_bytes = zf.read("arrays.safetensors")
            sums = zf.read("SHA256SUMS").decode("ascii", "replace")
    except (zipfile.BadZipFile, EOFError, OSError, KeyError, zlib.error) as exc:
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
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ModelFileError(f"{str(p)!r}: its manifest is not valid JSON; {hint}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        raise ModelFileError(f"{str(p)!r}: {hint}")
    version = manifest.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ModelFileError(
            f"{str(p)!r} uses model format {version!r}, newer than this datatwin reads ({FORMAT_VERSION}); "
            f"upgrade datatwin (it was written by datatwin {manifest.get('datatwin_version', '?')})"
        )
    try:
        arrays = load(arrays_bytes) if arrays_bytes else {}
    except Exception as exc:  # safetensors raises its own error type
        raise ModelFileError(f"{str(p)!r}: its arrays cannot be read ({exc})") from None
    return manifest, arrays

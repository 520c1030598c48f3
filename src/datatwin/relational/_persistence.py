"""The database model file: the same safe container as a single-table model (a zip of JSON +
safetensors, checksummed, never pickle). The manifest holds the schema and each table's plan;
each table's own model file is stored, byte for byte, as one ``uint8`` array."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from .._exceptions import ModelFileError
from .._version import __version__
from ..constraints import parse_constraints
from ..io import read_model_file, write_model_file
from ..synthesizer import Synthesizer
from ._schema import Schema

__all__ = ["KIND", "is_database_model", "load_database_model", "save_database_model"]

KIND = "datatwin-database"


def save_database_model(path: str | os.PathLike[str], db: Any) -> None:
    arrays: dict[str, np.ndarray] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for t, syn in db.synthesizers_.items():
            f = Path(tmp) / "t.dtw"
            syn.save(f)
            arrays[f"table/{t}"] = np.frombuffer(f.read_bytes(), dtype=np.uint8).copy()
    params = db.get_params()
    if params.get("constraints"):  # rules as their JSON form (objects are not JSON)
        params["constraints"] = {t: [c.to_dict() for c in parse_constraints(v)]
                                 for t, v in params["constraints"].items()}
    manifest = {"kind": KIND, "datatwin_version": __version__, "params": params,
                "schema": db.schema_.to_dict(), "nullable": [fk.nullable for fk in db.schema_.foreign_keys],
                "order": db.order_, "deferred": db.deferred_, "plans": db.plans_}
    write_model_file(path, manifest, arrays)


def is_database_model(path: str | os.PathLike[str]) -> bool:
    try:
        manifest, _ = read_model_file(path)
    except ModelFileError:
        return False
    return manifest.get("kind") == KIND


def load_database_model(cls: type, path: str | os.PathLike[str]) -> Any:
    manifest, arrays = read_model_file(path)
    if manifest.get("kind") != KIND:
        raise ModelFileError(f"{str(path)!r} is a single-table model; load it with datatwin.load")
    try:
        db = cls(**manifest["params"])
        schema = Schema.from_dict(manifest["schema"])
        for fk, nullable in zip(schema.foreign_keys, manifest.get("nullable", []), strict=False):
            fk.nullable = bool(nullable)
        synths = {}
        with tempfile.TemporaryDirectory() as tmp:
            for key, arr in arrays.items():
                f = Path(tmp) / "t.dtw"
                f.write_bytes(arr.astype(np.uint8).tobytes())
                synths[key.split("/", 1)[1]] = Synthesizer.load(f)
        db.schema_, db.order_, db.deferred_ = schema, list(manifest["order"]), list(manifest["deferred"])
        db.plans_, db.synthesizers_ = manifest["plans"], synths
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, ModelFileError):
            raise
        raise ModelFileError(f"{str(path)!r} is not a readable database model ({exc})") from None
    return db

"""A Synthesizer to and from its model file: a JSON manifest plus safetensors arrays (never pickle)."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from .._exceptions import InputError, ModelFileError
from .._json import plain
from .._privacy import DP
from .._version import __version__
from ..constraints import ConstraintError, ConstraintSet, parse_constraints
from ..encoding import CategoricalEncoder, ColumnEncoder, NumericEncoder, TableEncoder
from ..engines import ENGINES
from ..generators import make_generator
from ..io import read_model_file, write_model_file
from ..metadata import Metadata
from ..sampling import FittedModel

__all__ = ["read_model", "save_model"]


def save_model(path: str | os.PathLike[str], params: dict[str, Any], model: FittedModel, n_rows: int) -> None:
    """Write the estimator's ``params`` and fitted ``model`` (learned from ``n_rows`` rows)."""
    arrays: dict[str, np.ndarray] = {}
    encoders = []
    for i, enc in enumerate(model.encoder.encoders):
        state, arr = enc.get_state()
        encoders.append({"name": enc.name, "type": enc.kind, "state": state})
        arrays.update({f"enc.{i}.{k}": v for k, v in arr.items()})
    eng_state, eng_arrays = model.engine.get_state()
    arrays.update({f"engine.{k}": v for k, v in eng_arrays.items()})
    params = dict(params)
    params["engine_options"] = dict(params["engine_options"] or {})
    if params["constraints"] is not None:
        params["constraints"] = [c.to_dict() for c in parse_constraints(params["constraints"])]
    if params.get("privacy") is not None:
        params["privacy"] = params["privacy"].to_dict()
    manifest = {
        "datatwin_version": __version__,
        "params": params,
        "metadata": model.metadata.to_dict(),
        "columns": model.columns,
        "n_rows": n_rows,
        "encoders": encoders,
        "generators": {name: g.get_state() for name, g in model.generators.items()},
        "constraints": model.constraints.get_state(),
        "engine": {"name": model.engine.name, "params": model.engine.get_params(), "state": eng_state},
    }
    if model.privacy is not None:
        manifest["privacy"] = model.privacy
    write_model_file(path, plain(manifest), arrays)


def read_model(path: str | os.PathLike[str] | bytes) -> tuple[dict[str, Any], FittedModel, int]:
    """The estimator parameters, the fitted model and the training row count stored at ``path``
    (or in the bytes of a model file)."""
    manifest, arrays = read_model_file(path)
    try:
        return _from_manifest(manifest, arrays)
    except ModelFileError:
        raise
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        name = "<model bytes>" if isinstance(path, bytes) else str(path)
        raise ModelFileError(f"{name!r} is not a consistent datatwin model "
                             f"({type(exc).__name__}: {exc}); re-create it with 'datatwin fit'") from None


def _from_manifest(manifest: dict[str, Any], arrays: dict[str, np.ndarray]
                   ) -> tuple[dict[str, Any], FittedModel, int]:
    params = dict(manifest["params"])
    params["engine_options"] = params.get("engine_options") or None  # stored as {} when not given
    if params.get("privacy") is not None:
        params["privacy"] = DP.from_dict(params["privacy"])
    privacy = manifest.get("privacy")
    if privacy is not None and not isinstance(privacy, dict):
        raise ModelFileError("the model's privacy record is malformed; re-create it with 'datatwin fit'")
    meta = Metadata.from_dict(manifest["metadata"])
    columns = list(manifest["columns"])
    n_rows = int(manifest["n_rows"])
    encoders: list[ColumnEncoder] = []
    for i, e in enumerate(manifest["encoders"]):
        col = meta.columns[e["name"]]
        prefix = f"enc.{i}."
        arr = {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}
        enc_cls: type[ColumnEncoder] = {"categorical": CategoricalEncoder, "numeric": NumericEncoder}[e["type"]]
        encoders.append(enc_cls.from_state(e["name"], col, e["state"], arr))
    table_encoder = TableEncoder(encoders)
    generators = {}
    for name, state in manifest["generators"].items():
        g = make_generator(name, meta.columns[name], params["locale"])
        g.set_state(state)
        generators[name] = g
    eng_info = manifest["engine"]
    if eng_info["name"] not in ENGINES:
        raise ModelFileError(f"model uses engine {eng_info['name']!r}, which this datatwin does not have")
    engine = ENGINES[eng_info["name"]](**eng_info["params"])
    eng_arrays = {k[len("engine."):]: v for k, v in arrays.items() if k.startswith("engine.")}
    try:
        cset = ConstraintSet.from_state(manifest.get("constraints", {"constraints": []}), meta, set(generators))
        model = FittedModel(table_encoder, generators, engine, cset, meta, columns, int(params["random_state"]),
                            privacy=privacy)
    except ConstraintError as exc:
        raise ModelFileError(f"the model's constraints are inconsistent: {exc}") from None
    try:
        engine.set_state(table_encoder.subcolumns, eng_info["state"], eng_arrays)
    except InputError as exc:
        raise ModelFileError(f"the model's engine state is inconsistent: {exc}") from None
    return params, model, n_rows

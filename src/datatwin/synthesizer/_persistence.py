"""A Synthesizer to and from its model file: a JSON manifest plus safetensors arrays (never pickle)."""

from __future__ import annotations

import inspect
import math
import os
from collections.abc import Callable
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
from ..sampling import FittedModel, iter_rows

__all__ = ["read_model", "save_model"]

_FIX = "re-create it with 'datatwin fit'"
_MANIFEST_KEYS = {"format", "format_version", "datatwin_version", "params", "metadata", "columns", "n_rows",
                  "encoders", "generators", "constraints", "engine", "privacy"}
_MAX_N_ROWS = 10**12
_MAX_COLUMNS = 100_000
_MAX_ENGINE_NUMBER = 1e9  # no engine parameter is meaningfully larger; a bigger one is tampering


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


def read_model(path: str | os.PathLike[str] | bytes, check_params: Callable[[dict[str, Any]], None] | None = None
               ) -> tuple[dict[str, Any], FittedModel, int]:
    """The estimator parameters, the fitted model and the training row count stored at ``path``
    (or in the bytes of a model file, as shipped to a Dask worker).

    The file is untrusted: every field is checked before use, and the model must sample a few
    rows before it is handed back, so a tampered file fails here with :class:`ModelFileError`
    rather than later, deep in sampling. ``check_params`` validates the estimator parameters
    (raising InputError or TypeError)."""
    manifest, arrays = read_model_file(path)
    where = repr("<model bytes>" if isinstance(path, bytes) else str(path))
    try:
        params, model, n_rows = _from_manifest(manifest, arrays, check_params)
        _smoke_sample(model)
    except ModelFileError as exc:
        raise ModelFileError(f"{where}: {exc}" if where not in str(exc) else str(exc)) from None
    except Exception as exc:  # any failure while reading an untrusted file is the file's fault
        detail = str(exc).splitlines()[0][:300] if str(exc) else ""
        raise ModelFileError(f"{where} is not a consistent datatwin model ({type(exc).__name__}: {detail}); "
                             f"{_FIX}") from None
    return params, model, n_rows


def _smoke_sample(model: FittedModel) -> None:
    """Draw two rows: shapes and codes that passed every structural check but still do not fit
    together fail now, while the file is being read, not in a user's sampling call."""
    for _ in iter_rows(model, 2, 0, chunk_size=2):
        pass


def _bad(what: str) -> ModelFileError:
    return ModelFileError(f"the model file is corrupt or was tampered with: {what}; {_FIX}")


def _expect(value: Any, types: type | tuple[type, ...], what: str) -> Any:
    if isinstance(value, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
        raise _bad(f"{what} must be {_type_names(types)}, got {value!r}")
    if not isinstance(value, types):
        raise _bad(f"{what} must be {_type_names(types)}, got {type(value).__name__}")
    return value


def _type_names(types: type | tuple[type, ...]) -> str:
    ts = types if isinstance(types, tuple) else (types,)
    return " or ".join({"dict": "an object", "list": "a list", "str": "text", "int": "an integer",
                        "float": "a number", "bool": "true/false", "NoneType": "null"}.get(t.__name__, t.__name__)
                       for t in ts)


def _int_in(value: Any, low: int, high: int, what: str) -> int:
    _expect(value, int, what)
    if not low <= value <= high:
        raise _bad(f"{what} must be between {low} and {high}, got {value!r}")
    return int(value)


def _check_engine_params(cls: type, params: Any) -> dict[str, Any]:
    """The engine's stored parameters: known names, plain finite values of sane size (an
    ``n_threads`` of 100000 or a ``hidden_size`` of 10**9 is refused before anything uses it)."""
    _expect(params, dict, "engine.params")
    allowed = {n for n in inspect.signature(cls.__init__).parameters if n != "self"}
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise _bad(f"engine {cls.name!r} has no parameter(s) {unknown}")
    for key, value in params.items():
        what = f"engine parameter {key!r}"
        _expect(value, (type(None), bool, int, float, str), what)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and (
                not math.isfinite(value) or abs(value) > _MAX_ENGINE_NUMBER):
            raise _bad(f"{what} is out of range ({value!r})")
        if isinstance(value, str) and len(value) > 200:
            raise _bad(f"{what} is too long")
    engine = cls(**params)
    try:
        engine.check_params()
    except InputError as exc:
        raise _bad(f"engine {cls.name!r}: {exc}") from None
    return params


def _from_manifest(manifest: dict[str, Any], arrays: dict[str, np.ndarray],
                   check_params: Callable[[dict[str, Any]], None] | None
                   ) -> tuple[dict[str, Any], FittedModel, int]:
    unknown = sorted(set(manifest) - _MANIFEST_KEYS)
    if unknown:
        raise _bad(f"the manifest has unknown field(s) {unknown}")
    missing = sorted(_MANIFEST_KEYS - {"privacy", "constraints", "datatwin_version"} - set(manifest))
    if missing:
        raise _bad(f"the manifest lacks field(s) {missing}")
    params = dict(_expect(manifest["params"], dict, "params"))
    if check_params is not None:
        try:
            check_params(params)
        except (InputError, TypeError) as exc:
            raise _bad(f"its parameters are invalid ({exc})") from None
    _expect(params.get("locale"), str, "params.locale")
    _int_in(params.get("random_state"), 0, 2**63 - 1, "params.random_state")
    params["engine_options"] = params.get("engine_options") or None  # stored as {} when not given
    if params.get("privacy") is not None:
        dp = DP.from_dict(_expect(params["privacy"], dict, "params.privacy"))
        try:
            dp.check()
        except InputError as exc:
            raise _bad(str(exc)) from None
        params["privacy"] = dp
    privacy = manifest.get("privacy")
    if privacy is not None and not isinstance(privacy, dict):
        raise ModelFileError("the model's privacy record is malformed; re-create it with 'datatwin fit'")
    try:
        meta = Metadata.from_dict(manifest["metadata"])
    except InputError as exc:
        raise _bad(f"its metadata is invalid ({exc})") from None
    columns = _expect(manifest["columns"], list, "columns")
    if not columns or len(columns) > _MAX_COLUMNS or not all(isinstance(c, str) for c in columns) or len(
            set(columns)) != len(columns):
        raise _bad("'columns' must be a non-empty list of distinct column names")
    n_rows = _int_in(manifest["n_rows"], 1, _MAX_N_ROWS, "n_rows")
    encoders: list[ColumnEncoder] = []
    enc_types: dict[str, type[ColumnEncoder]] = {"categorical": CategoricalEncoder, "numeric": NumericEncoder}
    kinds_of = {"categorical": ("categorical", "boolean"), "numeric": ("numeric", "datetime")}
    for i, e in enumerate(_expect(manifest["encoders"], list, "encoders")):
        _expect(e, dict, f"encoders[{i}]")
        if set(e) != {"name", "type", "state"}:
            raise _bad(f"encoders[{i}] must have exactly the fields name, type and state")
        name, typ = _expect(e["name"], str, f"encoders[{i}].name"), e["type"]
        if typ not in enc_types:
            raise _bad(f"encoders[{i}] has unknown type {typ!r}")
        col = meta.columns.get(name)
        if col is None or col.kind not in kinds_of[typ]:
            raise _bad(f"encoder {name!r} ({typ}) matches no {' or '.join(kinds_of[typ])} column of the metadata")
        prefix = f"enc.{i}."
        arr = {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}
        encoders.append(enc_types[typ].from_state(name, col, _expect(e["state"], dict, f"encoder {name!r} state"),
                                                  arr))
    _check_twins(encoders)
    table_encoder = TableEncoder(encoders)
    generators = {}
    for name, state in _expect(manifest["generators"], dict, "generators").items():
        col = meta.columns.get(name)
        if col is None or col.kind in ("numeric", "datetime", "categorical", "boolean"):
            raise _bad(f"generator {name!r} matches no generated (id, pii, text, constant) column of the metadata")
        g = make_generator(name, col, params["locale"])
        g.set_state(_expect(state, dict, f"generator {name!r} state"))
        if not (isinstance(g.na_rate_, float) and 0.0 <= g.na_rate_ <= 1.0):
            raise _bad(f"generator {name!r}: na_rate must be in [0, 1], got {g.na_rate_!r}")
        generators[name] = g
    learned = [e.name for e in encoders]
    if len(set(learned)) != len(learned) or set(learned) & set(generators) or (
            set(learned) | set(generators)) != set(columns) or set(columns) != set(meta.columns):
        raise _bad("its columns, metadata, encoders and generators do not name the same columns")
    eng_info = _expect(manifest["engine"], dict, "engine")
    if set(eng_info) != {"name", "params", "state"}:
        raise _bad("'engine' must have exactly the fields name, params and state")
    if not isinstance(eng_info["name"], str) or eng_info["name"] not in ENGINES:
        raise ModelFileError(f"model uses engine {eng_info['name']!r}, which this datatwin does not have; "
                             f"use a datatwin with that engine, or {_FIX}")
    engine_cls = ENGINES[eng_info["name"]]
    engine = engine_cls(**_check_engine_params(engine_cls, eng_info["params"]))
    _expect(eng_info["state"], dict, "engine.state")
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
        raise ModelFileError(f"the model's engine state is inconsistent: {exc}; {_FIX}") from None
    return params, model, n_rows


def _check_twins(encoders: list[ColumnEncoder]) -> None:
    """A "same as" column must name an earlier numeric column of the same kind."""
    seen: dict[str, str] = {}
    for enc in encoders:
        twin = getattr(enc, "twin_", None)
        if twin is not None and seen.get(twin) != enc.meta.kind:
            raise _bad(f"encoder {enc.name!r} copies {twin!r}, which is no earlier {enc.meta.kind} column")
        if isinstance(enc, NumericEncoder):
            seen[enc.name] = enc.meta.kind

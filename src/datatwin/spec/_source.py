"""Reading a spec file (YAML or JSON) with the line of every field, and locating errors in it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .._exceptions import SpecError

SPEC_FORMAT_VERSION = 1  # the spec format this datatwin reads and writes
_MAX_NODES = 200_000  # YAML nodes in one spec (aliases can multiply a small file)


def _field(path: tuple[Any, ...]) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


class _Where:
    """Where a spec came from: turns a field path into a located :class:`SpecError`."""

    def __init__(self, source: str | None = None, lines: dict[tuple[Any, ...], int] | None = None) -> None:
        self.source, self.lines = source, lines or {}

    def line(self, path: tuple[Any, ...]) -> int | None:
        p = tuple(path)
        while True:
            if p in self.lines:
                return self.lines[p]
            if not p:
                return None
            p = p[:-1]

    def error(self, path: tuple[Any, ...], message: str) -> SpecError:
        return SpecError(message, field=_field(path) or None, line=self.line(path), source=self.source)


def _read_spec_file(path: Path) -> tuple[Any, _Where]:
    source = path.name
    if not path.exists():
        raise SpecError(f"spec file {str(path)!r} does not exist")
    if path.is_dir():
        raise SpecError(f"spec {str(path)!r} is a folder, not a file")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SpecError(f"is not UTF-8 text (byte {exc.start}); save it as UTF-8", source=source) from None
    except OSError as exc:
        raise SpecError(f"cannot be read: {exc.strerror or exc}", source=source) from None
    if not text.strip():
        raise SpecError("is empty; a spec needs a 'columns' mapping", source=source)
    if path.suffix.lower() == ".json":
        return _parse_json(text, source)
    return _parse_yaml(text, source)


def _parse_json(text: str, source: str) -> tuple[Any, _Where]:
    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in items:
            if k in out:
                raise SpecError(f"duplicate key {k!r}", source=source)
            out[k] = v
        return out

    try:
        data = json.loads(text, object_pairs_hook=pairs)
    except json.JSONDecodeError as exc:
        raise SpecError(f"is not valid JSON: {exc.msg}", line=exc.lineno, source=source) from None
    try:  # JSON is (nearly) YAML: the YAML parser gives the line of every field
        lines = _yaml_lines(text, source)[1]
    except Exception:
        lines = {}
    return data, _Where(source, lines)


def _parse_yaml(text: str, source: str) -> tuple[Any, _Where]:
    data, lines = _yaml_lines(text, source)
    return data, _Where(source, lines)


def _yaml_lines(text: str, source: str) -> tuple[Any, dict[tuple[Any, ...], int]]:
    import yaml

    def yaml_error(exc: yaml.YAMLError) -> SpecError:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        return SpecError(f"is not valid YAML: {problem}", line=mark.line + 1 if mark else None, source=source)

    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise yaml_error(exc) from None
    if node is None:
        raise SpecError("is empty; a spec needs a 'columns' mapping", source=source)
    loader = yaml.SafeLoader("")
    lines: dict[tuple[Any, ...], int] = {(): node.start_mark.line + 1}
    budget = [_MAX_NODES]

    def walk(n: Any, path: tuple[Any, ...], stack: frozenset[int]) -> None:
        budget[0] -= 1
        if budget[0] < 0 or id(n) in stack:
            raise SpecError("is too large or refers to itself (YAML aliases)", source=source)
        stack = stack | {id(n)}
        if isinstance(n, yaml.MappingNode):
            seen: dict[str, int] = {}
            for k, v in n.value:
                if not isinstance(k, yaml.ScalarNode):
                    raise SpecError(f"keys must be plain names (line {k.start_mark.line + 1})", source=source,
                                    line=k.start_mark.line + 1, field=_field(path) or None)
                key = str(loader.construct_object(k))
                if key in seen:
                    raise SpecError(f"duplicate key {key!r} (first on line {seen[key]})",
                                    line=k.start_mark.line + 1, field=_field(path) or None, source=source)
                seen[key] = k.start_mark.line + 1
                lines[(*path, key)] = k.start_mark.line + 1
                walk(v, (*path, key), stack)
        elif isinstance(n, yaml.SequenceNode):
            for i, v in enumerate(n.value):
                lines[(*path, i)] = v.start_mark.line + 1
                walk(v, (*path, i), stack)
        elif isinstance(n, yaml.ScalarNode):
            try:
                loader.construct_object(n)
            except yaml.YAMLError as exc:
                raise yaml_error(exc) from None
            except (ValueError, TypeError, OverflowError) as exc:  # e.g. the date 2020-13-45
                raise SpecError(f"{n.value!r} is not a valid value ({exc})", line=n.start_mark.line + 1,
                                field=_field(path) or None, source=source) from None

    walk(node, (), frozenset())
    try:
        data = loader.construct_document(node)
    except yaml.YAMLError as exc:
        raise yaml_error(exc) from None
    return data, lines


"""Reading and writing the files fleetlib owns: strict YAML in, atomic writes out.

YAML is loaded with duplicate keys refused (PyYAML would silently keep the last one), and every
problem names the file, line and column. Writes go to a temporary file in the same folder and are
renamed into place, so a crash never leaves half a file.

    data = read_yaml_mapping(path, shown="parameters/dev/services-amer.yaml")
    write_atomic(path, text, exclusive=True)     # refuses to replace an existing file
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from fleetlib.errors import InputError, ParameterError, clip


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate mapping keys."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            mark = key_node.start_mark
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (line {mark.line + 1}, column {mark.column + 1})", mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _yaml_problem(err: yaml.YAMLError) -> str:
    mark = getattr(err, "problem_mark", None)
    problem = getattr(err, "problem", None) or str(err)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return f"malformed YAML{where}: {clip(problem, 200)}"


def load_yaml(text: str, *, shown: str) -> Any:
    """Parse one YAML document; ParameterError names `shown` (a file or flag) on failure."""
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as e:
        raise ParameterError(_yaml_problem(e), source=shown, hint="fix the YAML syntax") from e


def load_yaml_documents(text: str, *, shown: str) -> Iterator[Any]:
    """Parse a multi-document stream, skipping empty documents."""
    try:
        for doc in yaml.load_all(text, Loader=_StrictLoader):  # noqa: S506
            if doc is not None:
                yield doc
    except yaml.YAMLError as e:
        raise ParameterError(_yaml_problem(e), source=shown, hint="fix the YAML syntax") from e


def read_text(path: Path, *, shown: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError as e:
        raise InputError(f"{shown}: no such file", hint="check the path") from e
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{shown}: cannot read: {clip(str(e), 200)}") from e


def read_yaml_mapping(path: Path, *, shown: str) -> dict[str, Any]:
    """Read a YAML file that must hold a non-empty mapping."""
    return yaml_mapping(read_text(path, shown=shown), shown=shown)


def yaml_mapping(text: str, *, shown: str) -> dict[str, Any]:
    data = load_yaml(text, shown=shown)
    if data is None:
        raise ParameterError("is empty", source=shown, hint="write at least one key, or delete the file")
    if not isinstance(data, dict):
        raise ParameterError(
            f"must hold a mapping of keys to values, not a {type(data).__name__}", source=shown
        )
    return data


def dump_yaml(data: Any) -> str:
    """Block-style YAML with keys in the order given."""
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False, allow_unicode=True)


def write_atomic(path: Path, text: str, *, exclusive: bool = False) -> None:
    """Write `text` to `path` all at once. With `exclusive`, refuse when `path` exists."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        if exclusive:
            try:
                os.link(tmp, path)  # atomic and fails when the target exists
            except FileExistsError as e:
                raise InputError(f"{path} already exists", hint="edit it instead, or remove it first") from e
        else:
            os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)

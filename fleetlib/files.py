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

MAX_YAML_BYTES = 1 << 20
"""A parameters file or -y value larger than this (1 MiB) is refused: they are a few kilobytes."""
MAX_YAML_DEPTH = 50
"""Nesting deeper than this is refused (PyYAML would recurse until Python's limit)."""
MAX_YAML_NODES = 100_000
"""Values a document may expand to through aliases (a 'billion laughs' document expands to 10^9)."""


class BoundedLoader(yaml.SafeLoader):
    """SafeLoader that refuses deep nesting (`max_depth`) and alias bombs (more than MAX_YAML_NODES values), fast:
    what reads YAML from someone else (the sandbox API server's request bodies) parses with it."""

    max_depth = 200

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self._depth = 0
        self._sizes: dict[int, int] = {}

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth += 1
        try:
            if self._depth > self.max_depth:
                mark = self.peek_event().start_mark
                raise yaml.composer.ComposerError(None, None, f"nested deeper than {self.max_depth} levels", mark)
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        if node is not None and self._size(node) > MAX_YAML_NODES:
            raise yaml.composer.ComposerError(
                None, None, f"expands to more than {MAX_YAML_NODES:,} values through aliases", node.start_mark)
        return node

    def _size(self, node: Any) -> int:
        """Values `node` expands to, aliases counted each time they are used (memoised per node)."""
        key = id(node)
        if key not in self._sizes:
            if isinstance(node, yaml.MappingNode):
                total = 1 + sum(self._sizes.get(id(k), 1) + self._sizes.get(id(v), 1) for k, v in node.value)
            elif isinstance(node, yaml.SequenceNode):
                total = 1 + sum(self._sizes.get(id(v), 1) for v in node.value)
            else:
                total = 1
            self._sizes[key] = min(total, MAX_YAML_NODES + 1)
        return self._sizes[key]


class _StrictLoader(BoundedLoader):
    """BoundedLoader that also refuses duplicate and unhashable mapping keys (parameters files and -y values)."""

    max_depth = MAX_YAML_DEPTH


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        mark = key_node.start_mark
        if not isinstance(key, (str, int, float, bool)) and key is not None:
            raise yaml.constructor.ConstructorError(
                None, None, f"a mapping key must be plain text, not a {type(key).__name__}", mark)
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
    if len(text) > MAX_YAML_BYTES:
        raise ParameterError(f"larger than {MAX_YAML_BYTES // 1024} KiB", source=shown)
    try:
        return yaml.load(text, Loader=_StrictLoader)  # a SafeLoader subclass
    except yaml.YAMLError as e:
        raise ParameterError(_yaml_problem(e), source=shown, hint="fix the YAML syntax") from None
    except RecursionError:
        raise ParameterError(f"nested deeper than {MAX_YAML_DEPTH} levels", source=shown) from None


def load_yaml_documents(text: str, *, shown: str) -> Iterator[Any]:
    """Parse a multi-document stream, skipping empty documents."""
    try:
        for doc in yaml.load_all(text, Loader=_StrictLoader):
            if doc is not None:
                yield doc
    except yaml.YAMLError as e:
        raise ParameterError(_yaml_problem(e), source=shown, hint="fix the YAML syntax") from e


def read_text(path: Path, *, shown: str, limit: int = MAX_YAML_BYTES, what: str = "a YAML file") -> str:
    """A regular file's text, at most `limit` bytes; every problem is one InputError naming `shown`."""
    try:
        if not path.is_file():
            raise InputError(f"{shown}: {'no such file' if not path.exists() else 'not a regular file'}",
                             hint=f"pass the path of {what}")
        with path.open("rb") as fh:
            data = fh.read(limit + 1)
    except OSError as e:
        raise InputError(f"{shown}: cannot read: {e.strerror or clip(str(e), 200)}",
                         hint="check the path and its permissions") from None
    if len(data) > limit:
        raise InputError(f"{shown}: larger than {limit // 1024} KiB", hint=f"pass the path of {what}")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InputError(f"{shown}: not UTF-8 text (byte {e.start})", hint="save it as UTF-8") from None


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


def write_atomic(path: Path, text: str | bytes, *, exclusive: bool = False) -> None:
    """Write `text` (or bytes) to `path` all at once. With `exclusive`, refuse when `path` exists."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(text.encode() if isinstance(text, str) else text)
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


def check_writable_dir(path: Path, *, what: str) -> None:
    """Refuse a folder that is a file, or lies under a file or a folder this user cannot write."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InputError(f"{what} {path}: is a file, not a folder", hint="pass a folder (it is created if missing)")
    probe = path
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise InputError(f"{what} {path}: {probe} is a file, not a folder", hint="pass a folder you can write to")
    if not os.access(probe, os.W_OK | os.X_OK) or str(probe.resolve()).startswith(("/proc", "/sys")):
        raise InputError(f"{what} {path}: {probe} is not writable", hint="pass a folder you can write to")


def make_private_dir(path: Path, *, exist_ok: bool = True) -> Path:
    """Create a folder (and missing parents) readable by this user only (0700)."""
    old = os.umask(0o077)
    try:
        path.mkdir(parents=True, exist_ok=exist_ok)
    finally:
        os.umask(old)
    return path


PRIVATE_UMASK = 0o077


def private_files() -> None:
    """Files and folders this process creates from now on are readable by the user only (umask 077): every
    fleetlib entry point (the CLI, a runbook's kernel, the sandbox, a fleet run's workers) calls it, so the
    sandbox's state (SQLite with its -wal and -shm), keys, kubeconfigs, repositories and run folders never
    reach another local user."""
    os.umask(PRIVATE_UMASK)


def make_private_tree(root: Path) -> None:
    """Drop group and other permissions under `root` (an extracted archive keeps the modes it carries)."""
    for path in [root, *root.rglob("*")]:
        if not path.is_symlink():
            path.chmod(path.stat().st_mode & 0o700)


def shown_path(path: Path | str) -> str:
    """A path as a person reads it in a terminal: under the home folder as `~/...`, else as given."""
    text, home = str(path), str(Path.home())
    return "~" + text[len(home):] if home not in ("", "/") and (text == home or text.startswith(home + "/")) else text

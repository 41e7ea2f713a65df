"""A cluster's folder in two stages, file by file: what promoting a file from one stage to the other would write,
and whether the stages agree.

The unit is a file of the cluster's folder, named relative to it (`apps/hello.yaml`, the add-app runbook's file
for app `hello`). `flux-system/` is left out: each cluster's own bootstrap. Kustomization files (`kustomization.yaml`)
are left out too: they list files, and a promotion lists (or unlists) what it writes there
(fleetlib.repochange).

What a promotion carries, and what each stage keeps (`carried`):
- the file as the first stage has it, with its cluster folder's path (`clusters/stages/dev/clusters/a`) written as
  the second stage's, so a Kustomization's `path` or a comment naming the folder points at the right stage;
- in the values of path fields (`path`, `from`, `to`: a Kustomization's path, an ArtifactGenerator's copies) the
  first stage's name as a whole path segment written as the second's (`./staging` -> `./production`,
  `@monorepo/apps/staging/**` -> `@monorepo/apps/production/**`), as fluxcd/flux2-kustomize-helm-example lays
  out one overlay per stage;
- each stage's own values: where the second stage's file holds the same object, its HelmRelease `values`,
  `valuesFrom` and `postRenderers` and its Kustomization `postBuild` and `patches` stay as they are there
  (absent stays absent). What moves is the rest: the chart and its version, the source, the interval, the
  dependencies. Per-stage variables belong in the flux-system Kustomization's `postBuild` of each cluster, which
  no promotion touches.

Two stages agree on a file when promoting it would write what the second stage already holds.

    items = compare(source_files, target_files, from_path="clusters/stages/dev/clusters/a",
                    to_path="clusters/stages/staging/clusters/a")
    [(i.path, i.state) for i in items]      # [("apps/hello.yaml", "only in dev"), ...]
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from fleetlib.errors import InputError
from fleetlib.resourcelist import KUSTOMIZATION_FILES

OWN = "flux-system"
"""Each cluster's own folder (its bootstrap): never compared, never promoted."""
MANIFEST_SUFFIXES = (".yaml", ".yml")
KEPT = {"HelmRelease": ("values", "valuesFrom", "postRenderers"), "Kustomization": ("postBuild", "patches")}
"""Spec fields each stage keeps as its own when a file is promoted over its copy."""
APPS_DIR = "apps"


def folder_files(root: Path, cluster_path: str) -> dict[str, str]:
    """The manifests of a cluster's folder in a checkout, by path relative to the folder (none when it is absent)."""
    folder = root / cluster_path
    if not folder.is_dir():
        return {}
    out = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if (path.is_file() and path.suffix in MANIFEST_SUFFIXES and rel.split("/")[0] != OWN
                and path.name not in KUSTOMIZATION_FILES):
            out[rel] = path.read_text()
    return out


def app_path(app: str) -> str:
    """The add-app runbook's file of an app, relative to the cluster's folder."""
    return f"{APPS_DIR}/{app}.yaml"


@dataclass(frozen=True)
class Item:
    """One file of the cluster's folder in both stages (None: absent there)."""

    path: str
    source: str | None
    target: str | None
    carried: str | None
    """What promoting the file would write in the second stage (None: the file goes there too)."""

    @property
    def agrees(self) -> bool:
        return self.carried == self.target

    def state(self, from_stage: str, to_stage: str) -> str:
        if self.agrees:
            return "agree"
        if self.target is None:
            return f"only in {from_stage}"
        if self.source is None:
            return f"only in {to_stage}"
        return "differ"


def compare(source: Mapping[str, str], target: Mapping[str, str], *, from_path: str, to_path: str,
            stages: tuple[str, str] | None = None) -> list[Item]:
    """Every file of either stage's folder, in path order; `stages` (first, second) names them in path fields."""
    return [Item(p, source.get(p), target.get(p),
                 carried(source[p], target.get(p), from_path=from_path, to_path=to_path, shown=p, stages=stages)
                 if p in source else None)
            for p in sorted(set(source) | set(target))]


def chosen(items: Iterable[Item], *, apps: Iterable[str], paths: Iterable[str], strict: bool = True) -> list[Item]:
    """The items named by app (`apps/<app>.yaml`) or by path (a file, or a folder for every file under it); an
    unknown name is an InputError listing what there is (`strict`), else nothing (both stages agree on it)."""
    items = list(items)
    known = {i.path for i in items}
    wanted = [app_path(a) for a in apps] + [p.strip("/").removeprefix("./") for p in paths]
    missing = [w for w in wanted if w not in known and not any(k.startswith(w + "/") for k in known)]
    if missing and strict:
        raise InputError(f"nothing to promote at {', '.join(missing)}: neither stage's folder has it",
                         hint="files there: " + (", ".join(sorted(known)) or "none"))
    return [i for i in items if any(i.path == w or i.path.startswith(w + "/") for w in wanted)]


PATH_FIELD = re.compile(r"^(?P<key>\s*(?:-\s+)?(?:path|from|to):\s*)(?P<value>\S.*)$", re.M)


def carried(text: str, target: str | None, *, from_path: str, to_path: str, shown: str,
            stages: tuple[str, str] | None = None) -> str:
    """The first stage's file as the second stage should hold it (see the module's docstring)."""
    text = text.replace(_bare(from_path), _bare(to_path))
    if stages and stages[0] != stages[1]:
        segment = re.compile(rf"(?<=[/.@]){re.escape(stages[0])}(?=/|\*|[\"']|\s|$)|^{re.escape(stages[0])}(?=/)")
        text = PATH_FIELD.sub(lambda m: m["key"] + segment.sub(stages[1], m["value"]), text)
    if target is None:
        return text
    kept = _kept_fields(target, shown)
    if not kept:
        return text
    yaml = _yaml()
    docs = _load(yaml, text, shown)
    changed = False
    for doc in docs:
        key = _key(doc)
        if key is None or key[0] not in KEPT:
            continue
        spec = doc.get("spec")
        if not isinstance(spec, dict):
            continue
        own = kept.get(key, {})
        for field in KEPT[key[0]]:
            if spec.get(field) != own.get(field):
                changed = True
                if field in own:
                    spec[field] = own[field]
                else:
                    del spec[field]
    if not changed:
        return text
    out = io.StringIO()
    yaml.explicit_start = _starts_explicitly(text)
    yaml.dump_all(docs, out)
    return _leading_comments(text) + out.getvalue()[len(_leading_comments(out.getvalue())):]


def _leading_comments(text: str) -> str:
    """The comment and blank lines a file opens with (ruamel drops those before an explicit `---`)."""
    lines = text.splitlines(keepends=True)
    n = next((i for i, line in enumerate(lines) if line.strip() and not line.lstrip().startswith("#")), len(lines))
    return "".join(lines[:n])


def _starts_explicitly(text: str) -> bool:
    """Whether the file's first document opens with `---` (after any comment lines), as the dump should too."""
    first = next((line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")), "")
    return first.startswith("---")


def _bare(path: str) -> str:
    return path.strip("/").removeprefix("./")


def _yaml() -> YAML:
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def _load(yaml: YAML, text: str, shown: str) -> list[Any]:
    try:
        return [d for d in yaml.load_all(text) if d is not None]
    except YAMLError as e:
        raise InputError(f"{shown} is not YAML: {str(e).splitlines()[0]}", hint="fix the file, then run again") from None


def _key(doc: Any) -> tuple[str, str, str] | None:
    if not isinstance(doc, dict) or not isinstance(doc.get("metadata"), dict):
        return None
    meta = doc["metadata"]
    return str(doc.get("kind")), str(meta.get("namespace") or ""), str(meta.get("name"))


def _kept_fields(text: str, shown: str) -> dict[tuple[str, str, str], dict[str, Any]]:
    """Per object of the second stage's file whose kind keeps fields: those fields as it has them."""
    out = {}
    for doc in _load(_yaml(), text, shown):
        key = _key(doc)
        if key is not None and key[0] in KEPT and isinstance(doc.get("spec"), dict):
            out[key] = {f: doc["spec"][f] for f in KEPT[key[0]] if f in doc["spec"]}
    return out

"""Per-stage and per-cluster parameters, resolved in layers into one validated model.

Layers, later winning: `parameters/defaults.yaml` <- `parameters/<stage>/stage.yaml` (optional)
<- `parameters/<stage>/<cluster>.yaml` <- values handed to a runbook or the CLI (`-f`, `-y`, `-p`).
Mappings merge key by key; lists and scalars replace. Keys are named after the `flux bootstrap
github` flags they stand for (`--read-write-key` is `read_write_key`). Every problem is reported
with the layer's file or flag and the key path, and a token is never accepted as a value.

    catalog = Catalog.load(fleet_root())
    params = catalog.resolve("services-amer", stage="dev", overrides=[Layer("-p", {"branch": "main"})])
"""

from __future__ import annotations

import copy
import posixpath
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from fleetlib.errors import InputError, ParameterError
from fleetlib.files import read_yaml_mapping
from fleetlib.locations import PARAMETERS_DIR
from fleetlib.model import (
    DEFAULT_STAGE,
    FLUX_COMPONENTS,
    FLUX_EXTRA_COMPONENTS,
    REQUIRED_COMPONENTS,
    ClusterId,
    Duration,
    Target,
)
from fleetlib.names import (
    branch_problem,
    cluster_name,
    dns_label,
    hostname_problem,
    is_dns_label,
    is_env_name,
    is_github_owner,
    is_github_repo,
    qualified_name_problem,
)
from fleetlib.quantity import parse_quantity

DEFAULTS_FILE = "defaults.yaml"
STAGE_FILE = "stage.yaml"

Component = Literal[
    "source-controller",
    "kustomize-controller",
    "helm-controller",
    "notification-controller",
    "image-reflector-controller",
    "image-automation-controller",
]
ExtraComponent = Literal["image-reflector-controller", "image-automation-controller"]

_TOKEN_KEYS = frozenset({"token", "github_token", "gh_token", "pat", "password", "private_key", "identity"})
_TOKEN_VALUE = re.compile(r"^\s*(gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})")
_VERSION = re.compile(r"^v\d+\.\d+\.\d+$")
_CREDENTIAL_URL = re.compile(r"^(?:(?:https?|oci)://[^/@\s]+@|[A-Za-z][A-Za-z0-9+.-]*://[^/@\s:]*:[^/@\s]*@)")
"""A URL carrying a password (`user:secret@`), or any user part over http(s)/oci (where it is a token); an SSH URL's
user alone (`ssh://git@github.com/...`, as Flux writes them) is not a secret."""
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


# --- field validators ----------------------------------------------------------------------------


def _duration(value: str) -> str:
    Duration.parse(value)
    return value


def _quantity(value: str) -> str:
    parse_quantity(value)
    return value


def _repo_path(value: str) -> str:
    """Clean a fleet-repo path the way flux does (`clusters/x/` -> `./clusters/x`)."""
    if value.startswith("/") or "\\" in value:
        raise ValueError("must be a relative path inside the repository, such as ./clusters/stages/dev/clusters/x")
    parts = [p for p in value.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ValueError("must not contain '..'")
    if not parts:
        raise ValueError("must name a folder, such as ./clusters/stages/dev/clusters/x")
    return "./" + posixpath.join(*parts)


def _owner(value: str) -> str:
    if not is_github_owner(value):
        raise ValueError("must be a GitHub user or organisation name (letters, digits, single '-')")
    return value


def _repository(value: str) -> str:
    if not is_github_repo(value):
        raise ValueError("must be a GitHub repository name (letters, digits, '.', '_', '-')")
    return value


def _env_name(value: str) -> str:
    if not is_env_name(value):
        raise ValueError("must be an environment variable name such as GITHUB_TOKEN")
    return value


def _http_url(value: str) -> str:
    if not re.match(r"^https?://[^\s/]+", value):
        raise ValueError("must be an http(s) URL such as http://prometheus.monitoring:9090")
    if _CREDENTIAL_URL.match(value):
        raise ValueError("holds credentials (user:password@); put the token in the variable named by "
                         "prometheus_token_env instead")
    return value


def _version(value: str) -> str:
    if not _VERSION.match(value):
        raise ValueError("must be a Flux release such as v2.5.1")
    return value


def _branch(value: str) -> str:
    problem = branch_problem(value)
    if problem:
        raise ValueError(f"is not a branch name git accepts: {problem}")
    return value


def _label(what: str) -> Any:
    def check(value: str) -> str:
        try:
            return dns_label(value, what=what)
        except InputError as e:
            raise ValueError(e.message) from None
    return check


def _hostname(value: str) -> str:
    problem = hostname_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def _toleration_key(value: str) -> str:
    problem = qualified_name_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value


DurationText = Annotated[str, AfterValidator(_duration)]
QuantityText = Annotated[str, AfterValidator(_quantity)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class ResourceList(_Strict):
    cpu: QuantityText = Field(description="CPU, e.g. 100m")
    memory: QuantityText = Field(description="memory, e.g. 64Mi")


class ControllerResources(_Strict):
    requests: ResourceList
    limits: ResourceList

    @model_validator(mode="after")
    def _requests_within_limits(self) -> ControllerResources:
        for name in ("cpu", "memory"):
            if parse_quantity(getattr(self.requests, name)) > parse_quantity(getattr(self.limits, name)):
                raise ValueError(f"requests.{name} is above limits.{name}")
        return self


class ClusterParams(_Strict):
    """Everything a runbook needs to know about one cluster, validated."""

    stage: str = Field(description="stage, from the folder of the cluster file")
    cluster: str = Field(description="cluster, from the name of the cluster file")
    description: str = Field("", description="one line for people")
    distribution: str = Field("kind", description="kind, eks, gke, aks, k3s... (informational)")
    target: Target = Field(description="sandbox (the embedded rehearsal cluster) or live")
    context: Annotated[str, AfterValidator(_not_blank)] | None = Field(
        None, description="kube context used when target is live"
    )
    # GitHub (flux bootstrap github --owner --repository --personal --private --hostname)
    owner: Annotated[str, AfterValidator(_owner)]
    repository: Annotated[str, AfterValidator(_repository)]
    personal: bool
    private: bool = True
    hostname: Annotated[str, AfterValidator(_hostname)] = "github.com"
    token_env: Annotated[str, AfterValidator(_env_name)] = Field(
        "GITHUB_TOKEN", description="environment variable holding the GitHub token (live only)"
    )
    branch: Annotated[str, AfterValidator(_branch)] = "main"
    path: Annotated[str, AfterValidator(_repo_path)]
    # Flux install (--version --namespace --components --components-extra --registry ...)
    version: Annotated[str, AfterValidator(_version)]
    namespace: Annotated[str, AfterValidator(_label("namespace"))] = "flux-system"
    components: list[Component]
    components_extra: list[ExtraComponent] = []
    registry: Annotated[str, AfterValidator(_not_blank)] = "ghcr.io/fluxcd"
    network_policy: bool = True
    watch_all_namespaces: bool = True
    log_level: Literal["debug", "info", "error"] = "info"
    cluster_domain: Annotated[str, AfterValidator(_not_blank)] = "cluster.local"
    toleration_keys: list[Annotated[str, AfterValidator(_toleration_key)]] = []
    # sync (--interval for the GitRepository; the Kustomization's is Flux's fixed 10m)
    interval: DurationText = "1m"
    kustomization_interval: DurationText = "10m"
    prune: bool = True
    # source secret and deploy key (--secret-name --read-write-key --ssh-key-algorithm ...)
    secret_name: Annotated[str, AfterValidator(_label("secret"))] = "flux-system"
    read_write_key: bool = False
    ssh_key_algorithm: Literal["ecdsa", "ed25519", "rsa"] = "ecdsa"
    ssh_ecdsa_curve: Literal["p256", "p384", "p521"] = "p384"
    ssh_rsa_bits: Annotated[int, Field(ge=2048, le=8192, multiple_of=1024)] = 2048
    # commits (--author-name --author-email)
    author_name: Annotated[str, AfterValidator(_not_blank)] = "Flux"
    author_email: str = ""
    # usage for the tune-resources runbook: Prometheus (the sandbox has its own) or metrics.k8s.io
    prometheus_url: Annotated[str, AfterValidator(_http_url)] | None = Field(
        None, description="Prometheus base URL for live clusters; unset: sample metrics.k8s.io"
    )
    prometheus_token_env: Annotated[str, AfterValidator(_env_name)] = Field(
        "PROMETHEUS_TOKEN", description="environment variable holding a Prometheus bearer token, if it needs one"
    )
    resources: dict[Component, ControllerResources] = Field(
        default_factory=dict, description="controller requests and limits as the manifests set them"
    )

    @model_validator(mode="before")
    @classmethod
    def _one_line_values(cls, data: Any) -> Any:
        """No newline or control character in any text value: they end up in YAML, commits and command lines."""
        if isinstance(data, Mapping):
            for key, value in data.items():
                for item in value if isinstance(value, list) else [value]:
                    if isinstance(item, str) and _CONTROL.search(item):
                        raise ValueError(f"{key}: must be one line of text (no newline or control character)")
        return data

    @model_validator(mode="after")
    def _consistent(self) -> ClusterParams:
        missing = [c for c in REQUIRED_COMPONENTS if c not in self.components]
        if missing:
            raise ValueError(f"components must include {', '.join(missing)}")
        if self.target == "live" and not self.context:
            raise ValueError("target 'live' needs a kube context: set 'context'")
        return self

    @property
    def id(self) -> ClusterId:
        return ClusterId(self.stage, self.cluster)

    @property
    def all_components(self) -> list[str]:
        return [*self.components, *self.components_extra]

    @property
    def commit_author(self) -> tuple[str, str]:
        """(name, email) of the commits runbooks make; GitHub's no-reply address when no email is set."""
        return self.author_name, self.author_email or f"{self.author_name.lower()}@users.noreply.github.com"

    @property
    def repo_slug(self) -> str:
        return f"{self.owner}/{self.repository}"

    def as_yaml_data(self) -> dict[str, Any]:
        """Plain data in field order, as `fleet params` prints it."""
        return self.model_dump(mode="json")


FILE_KEYS: tuple[str, ...] = tuple(k for k in ClusterParams.model_fields if k not in ("stage", "cluster"))
"""Keys a parameters file or an override may set; stage and cluster come from the file's place."""


# --- layers and their merge ----------------------------------------------------------------------


@dataclass(frozen=True)
class Layer:
    """One source of values: a file (shown relative to the fleet root) or a flag such as `-p`."""

    source: str
    values: Mapping[str, Any]


def check_no_secrets(layer: Layer, data: Any = None, path: tuple[str, ...] = ()) -> None:
    """Refuse tokens and keys as values (in `data`, by default the layer's values); the message never repeats
    the value."""
    if data is None and not path:
        data = layer.values
    if isinstance(data, Mapping):
        for key, value in data.items():
            here = (*path, str(key))
            if str(key).lower() in _TOKEN_KEYS:
                raise ParameterError(
                    "secrets are never parameter values",
                    source=layer.source,
                    key=".".join(here),
                    hint="export the token in the environment variable named by token_env (default GITHUB_TOKEN)",
                )
            check_no_secrets(layer, value, here)
    elif isinstance(data, list):
        for i, value in enumerate(data):
            check_no_secrets(layer, value, (*path, str(i)))
    elif isinstance(data, str) and _CREDENTIAL_URL.match(data):
        raise ParameterError(
            "holds a URL with credentials in it (user:password@); secrets are never parameter values",
            source=layer.source,
            key=".".join(path),
            hint="put the token in an environment variable (token_env, prometheus_token_env) and the URL without it",
        )
    elif isinstance(data, str) and (_TOKEN_VALUE.match(data) or "PRIVATE KEY-----" in data):
        raise ParameterError(
            "holds what looks like a GitHub token or private key; secrets are never parameter values",
            source=layer.source,
            key=".".join(path),
            hint="export the token in the environment variable named by token_env (default GITHUB_TOKEN)",
        )


def secret_strings(data: Any, *, under_secret_key: bool = False) -> list[str]:
    """Every text in `data` that check_no_secrets would refuse (to remove it from where it was written)."""
    if isinstance(data, Mapping):
        return [t for k, v in data.items() for t in secret_strings(v, under_secret_key=str(k).lower() in _TOKEN_KEYS)]
    if isinstance(data, list):
        return [t for v in data for t in secret_strings(v, under_secret_key=under_secret_key)]
    if isinstance(data, str) and data and (under_secret_key or _CREDENTIAL_URL.match(data) or _TOKEN_VALUE.match(data)
                                           or "PRIVATE KEY-----" in data):
        return [data]
    return []


def _merge(into: dict[str, Any], values: Mapping[str, Any], source: str, origin: dict[tuple[str, ...], str],
           prefix: tuple[str, ...] = ()) -> None:
    for key, value in values.items():
        here = (*prefix, str(key))
        if isinstance(value, Mapping) and isinstance(into.get(key), dict):
            _merge(into[key], value, source, origin, here)
        else:
            into[key] = copy.deepcopy(dict(value) if isinstance(value, Mapping) else value)
            origin[here] = source


def _source_of(loc: tuple[str, ...], origin: Mapping[tuple[str, ...], str], fallback: str) -> str:
    for n in range(len(loc), 0, -1):
        if loc[:n] in origin:
            return origin[loc[:n]]
    return fallback


def _allowed_keys(loc: tuple[str, ...]) -> Sequence[str]:
    if len(loc) == 1:
        return FILE_KEYS
    if loc[0] == "resources" and len(loc) == 3:
        return tuple(ControllerResources.model_fields)
    if loc[0] == "resources" and len(loc) == 4:
        return tuple(ResourceList.model_fields)
    return ()


def _describe(err: Mapping[str, Any]) -> tuple[str, str | None]:
    """A message and hint for one pydantic error, without echoing the input value."""
    kind = err["type"]
    loc = tuple(str(p) for p in err["loc"])
    given = type(err.get("input")).__name__
    if kind == "extra_forbidden":
        return "unknown key", "allowed keys: " + ", ".join(_allowed_keys(loc))
    if kind == "missing":
        return "is required", "set it in the cluster's parameters file or parameters/defaults.yaml"
    if kind == "literal_error":
        expected = str(err["ctx"]["expected"]).replace("'", "").replace(" or ", ", ")
        return f"must be one of: {expected}", None
    if kind in ("string_type", "bool_type", "int_type", "list_type", "dict_type", "model_type", "float_type"):
        wanted = {"string_type": "a string", "bool_type": "true or false", "int_type": "an integer",
                  "list_type": "a list", "dict_type": "a mapping", "model_type": "a mapping",
                  "float_type": "a number"}[kind]
        return f"must be {wanted}, not {given}", None
    if kind == "value_error":
        return str(err["ctx"]["error"]), None
    return str(err["msg"]).replace("Input should be", "must be"), None


def provenance(layers: Sequence[Layer]) -> dict[str, str]:
    """Which layer set each top-level key last, e.g. {"branch": "parameters/defaults.yaml"}."""
    merged: dict[str, Any] = {}
    origin: dict[tuple[str, ...], str] = {}
    for layer in layers:
        _merge(merged, layer.values, layer.source, origin)
    return {path[0]: source for path, source in origin.items()}


def merge_and_validate(cid: ClusterId, layers: Sequence[Layer]) -> ClusterParams:
    """Merge `layers` (lowest first) for cluster `cid` and validate the result."""
    merged: dict[str, Any] = {}
    origin: dict[tuple[str, ...], str] = {}
    for layer in layers:
        check_no_secrets(layer, layer.values)
        for key in ("stage", "cluster"):
            if key in layer.values:
                raise ParameterError(
                    f"'{key}' is not a parameter here", source=layer.source, key=key,
                    hint="the stage and cluster come from the file's place: parameters/<stage>/<cluster>.yaml",
                )
        _merge(merged, layer.values, layer.source, origin)
    try:
        return ClusterParams.model_validate({**merged, "stage": cid.stage, "cluster": cid.cluster})
    except ValidationError as e:
        errors = e.errors()
        first = errors[0]
        loc = tuple(str(p) for p in first["loc"] if p != "[key]")
        hint: str | None
        if first["type"] == "literal_error" and "[key]" in [str(p) for p in first["loc"]]:
            message, hint = "unknown controller", "allowed: " + ", ".join((*FLUX_COMPONENTS, *FLUX_EXTRA_COMPONENTS))
        else:
            message, hint = _describe(first)
        named = re.match(r"^([a-z_]+): (.*)$", message) if not loc else None
        if named and named.group(1) in FILE_KEYS:  # a whole-model check that names its key
            loc, message = (named.group(1),), named.group(2)
        fallback = layers[-1].source if layers else PARAMETERS_DIR
        source = _source_of(loc, origin, fallback) if loc else _model_error_source(layers)
        more = f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})" if len(errors) > 1 else ""
        raise ParameterError(message + more, source=source, key=".".join(loc) or None, hint=hint) from None


def _model_error_source(layers: Sequence[Layer]) -> str:
    """Whole-model problems (e.g. live without a context) belong to the cluster file."""
    files = [layer.source for layer in layers if layer.source.endswith(".yaml")]
    return files[-1] if files else (layers[-1].source if layers else PARAMETERS_DIR)


# --- the catalog of stages and clusters ----------------------------------------------------------


@dataclass(frozen=True)
class Catalog:
    """The stages and clusters under `<root>/parameters/`, found by their files."""

    root: Path
    clusters: tuple[ClusterId, ...] = field(default=())

    @property
    def parameters_dir(self) -> Path:
        return self.root / PARAMETERS_DIR

    @classmethod
    def load(cls, root: Path) -> Catalog:
        base = root / PARAMETERS_DIR
        if not (base / DEFAULTS_FILE).is_file():
            raise ParameterError(
                "no such file", source=f"{PARAMETERS_DIR}/{DEFAULTS_FILE}",
                hint=f"every fleet needs {PARAMETERS_DIR}/{DEFAULTS_FILE}; restore it from git",
            )
        found: list[ClusterId] = []
        for stage_dir in sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")):
            shown_dir = f"{PARAMETERS_DIR}/{stage_dir.name}"
            if not is_dns_label(stage_dir.name):
                raise ParameterError("folder name is not a DNS-1123 label", source=shown_dir,
                                     hint="rename the stage folder to lower-case letters, digits and '-'")
            for entry in sorted(stage_dir.iterdir()):
                if entry.name.startswith(".") or entry.name == STAGE_FILE or not entry.is_file():
                    continue
                if entry.suffix == ".yml":
                    raise ParameterError("use the .yaml extension", source=f"{shown_dir}/{entry.name}")
                if entry.suffix != ".yaml":
                    continue
                if not is_dns_label(entry.stem) or entry.stem == "stage":
                    raise ParameterError("file name is not a DNS-1123 cluster name", source=f"{shown_dir}/{entry.name}",
                                         hint="name cluster files <cluster>.yaml with lower-case letters, digits and '-'")
                found.append(ClusterId(stage_dir.name, entry.stem))
        return cls(root=root, clusters=tuple(sorted(found)))

    @property
    def stages(self) -> list[str]:
        return sorted({c.stage for c in self.clusters})

    def shown(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def cluster_file(self, cid: ClusterId) -> Path:
        return self.parameters_dir / cid.stage / f"{cid.cluster}.yaml"

    def find(self, cluster: str, *, stage: str | None = None) -> ClusterId:
        """The one cluster meant by a name and an optional stage, or an InputError listing choices."""
        cluster = cluster_name(cluster)
        if stage is not None:
            dns_label(stage, what="stage")
            if stage not in self.stages:
                raise InputError(f"unknown stage {stage!r}", hint="known stages: " + ", ".join(self.stages))
            cid = ClusterId(stage, cluster)
            if cid not in self.clusters:
                here = [c.cluster for c in self.clusters if c.stage == stage]
                raise InputError(f"unknown cluster {cluster!r} in stage {stage!r}",
                                 hint=f"clusters in {stage}: " + ", ".join(here))
            return cid
        matches = [c for c in self.clusters if c.cluster == cluster]
        if not matches:
            raise InputError(f"unknown cluster {cluster!r}",
                             hint="known clusters: " + ", ".join(str(c) for c in self.clusters))
        if len(matches) == 1:
            return matches[0]
        for cid in matches:
            if cid.stage == DEFAULT_STAGE:
                return cid
        raise InputError(
            f"cluster {cluster!r} exists in stages {', '.join(c.stage for c in matches)}",
            hint="say which with a stage (--stage S, or -p stage S)",
        )

    def base_layers(self, stage: str) -> list[Layer]:
        """defaults.yaml and, when the stage has one, its stage.yaml: what every cluster of `stage` inherits."""
        out = [self._file_layer(self.parameters_dir / DEFAULTS_FILE)]
        stage_file = self.parameters_dir / stage / STAGE_FILE
        if stage_file.exists():
            out.append(self._file_layer(stage_file))
        return out

    def layers(self, cid: ClusterId) -> list[Layer]:
        """The layers of one cluster, lowest first: the derived path, the base layers, the cluster file."""
        derived = Layer("(derived)", {"path": f"./clusters/stages/{cid.stage}/clusters/{cid.cluster}"})
        return [derived, *self.base_layers(cid.stage), self._file_layer(self.cluster_file(cid))]

    def _file_layer(self, path: Path) -> Layer:
        shown = self.shown(path)
        return Layer(shown, read_yaml_mapping(path, shown=shown))

    def resolve(self, cluster: str, *, stage: str | None = None, overrides: Iterable[Layer] = ()) -> ClusterParams:
        cid = self.find(cluster, stage=stage)
        return merge_and_validate(cid, [*self.layers(cid), *overrides])

    def resolve_all(self, *, stage: str | None = None) -> list[ClusterParams]:
        if stage is not None and dns_label(stage, what="stage") not in self.stages:
            raise InputError(f"unknown stage {stage!r}", hint="known stages: " + ", ".join(self.stages))
        return [merge_and_validate(c, self.layers(c)) for c in self.clusters if stage in (None, c.stage)]

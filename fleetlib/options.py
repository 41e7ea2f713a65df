"""Each runbook's options: one typed model per runbook, the single source of every option's type,
default, bounds and help, checked completely before the runbook's first effect.

papermill hands values as Python literals or plain strings: `-p dry_run True` is True, but
`-p dry_run false` is the string "false", and `bool("false")` is True. So on/off options take
exactly True/False (or true/false, as YAML spells them) and refuse anything else; durations and
windows have bounds that keep a run finite; empty strings are refused, never defaulted. A runbook's
`parameters` cell is generated from its model (`parameters_cell`) and a test holds the two equal.

Options marked as overrides (`target`, `branch`, ...) stand for cluster-parameter keys: None keeps
the parameters files' value, anything else is checked again by the cluster-parameter model.

    opts = parse("bootstrap", {"cluster": "services-amer", "dry_run": "false"})
    opts.dry_run                      # False
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, TypeVar, Union, get_args, get_origin

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from fleetlib.errors import InputError, ParameterError
from fleetlib.files import check_writable_dir
from fleetlib.model import DEFAULT_STAGE, FLUX_COMPONENTS, Duration, window_seconds
from fleetlib.names import cluster_name, dns_label
from fleetlib.parameters import ClusterParams

SOURCE = "runbook parameters"
"""How a refusal names where the value came from (papermill's -p/-y/-f, or fleet run's)."""

DEFAULT_CLUSTER = "services-amer"

# --- value types ----------------------------------------------------------------------------------

_SWITCH_TEXT = {"True": True, "true": True, "False": False, "false": False}


def _switch(value: Any) -> Any:
    """True/False, or the strings papermill hands over for them; anything else fails the bool check."""
    return _SWITCH_TEXT.get(value, value) if isinstance(value, str) else value


def _text(value: Any) -> Any:
    """A number given where text is wanted (`-p branch 2024`) is that text."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    if any(ch in value for ch in "\r\n\x00"):
        raise ValueError("must be one line")
    return value


def _as_value_error(check: Callable[[], str]) -> str:
    """A name check's InputError as the ValueError pydantic reports against the parameter."""
    try:
        return check()
    except InputError as e:
        raise ValueError(e.message) from None


def _stage(value: str) -> str:
    return _as_value_error(lambda: dns_label(value, what="stage"))


def _cluster(value: str) -> str:
    return _as_value_error(lambda: cluster_name(value))


Switch = Annotated[bool, BeforeValidator(_switch)]
Text = Annotated[str, BeforeValidator(_text), AfterValidator(_not_blank)]


def _bounded(parse: Any, low: str, high: str, example: str) -> Any:
    lo, hi = parse(low), parse(high)

    def check(value: str) -> str:
        try:
            seconds = parse(value)
        except ValueError:
            seconds = math.nan
        if not lo <= seconds <= hi:
            raise ValueError(f"is not a duration from {low} to {high}, such as {example}")
        return value

    return check


def go_duration(low: str, high: str) -> AfterValidator:
    """A Go duration (`5m`, `1m30s`) between two bounds: `Annotated[str, go_duration("10s", "1h")]`."""
    return AfterValidator(_bounded(lambda t: Duration.parse(t).seconds, low, high, "'5m' or '90s'"))


def window(low: str, high: str) -> AfterValidator:
    """A Prometheus window (`14d`, `12h`, `30s`) between two bounds: `Annotated[str, window("1s", "1h")]`."""
    return AfterValidator(_bounded(window_seconds, low, high, "'14d', '12h', '30m' or '30s'"))


def _iso_time(value: str) -> str:
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError("is not an ISO 8601 time such as 2026-11-25T12:00:00Z") from None
    return value


IsoTime = Annotated[str, AfterValidator(_iso_time)]


def Override(help: str) -> Any:  # noqa: N802 - reads as a field declaration
    """A cluster-parameter key the run may override; None keeps the parameters files' value."""
    return Field(None, description=help, json_schema_extra={"override": True})


# --- the models -----------------------------------------------------------------------------------


_Options = TypeVar("_Options", bound="RunbookOptions")


class RunbookOptions(BaseModel):
    """What every runbook takes: which cluster."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    notebook: ClassVar[str] = ""
    """The notebook's path under the fleet root."""

    cluster: Annotated[Text, AfterValidator(_cluster)] = Field(
        DEFAULT_CLUSTER, description="cluster: a file parameters/<stage>/<cluster>.yaml")
    stage: Annotated[Text, AfterValidator(_stage)] = Field(
        DEFAULT_STAGE, description="stage of the cluster: a folder under parameters/")

    @classmethod
    def overrides(cls) -> tuple[str, ...]:
        """The cluster-parameter keys this runbook lets a run override."""
        return tuple(n for n, f in cls.model_fields.items()
                     if isinstance(f.json_schema_extra, dict) and f.json_schema_extra.get("override"))

    @classmethod
    def options(cls) -> tuple[str, ...]:
        """The runbook's own options (not cluster, stage or overrides)."""
        return tuple(n for n in cls.model_fields if n not in ("cluster", "stage") and n not in cls.overrides())

    def override_values(self) -> dict[str, Any]:
        """The overrides this run sets (None means: keep the parameters files' value)."""
        return {k: getattr(self, k) for k in self.overrides() if getattr(self, k) is not None}

    def against(self, params: ClusterParams) -> str | None:
        """What these options cannot do on this cluster (`"field: why"`), or None. `runbook.resolve`
        asks it for every cluster before any effect, so `fleet run` refuses before a run folder exists."""
        return None

    def expect(self, kind: type[_Options]) -> _Options:
        """These options as `kind`'s, or InputError when they are another runbook's (a run handed to the wrong
        step: `Bootstrap.from_run` of a troubleshooting run)."""
        if not isinstance(self, kind):
            raise InputError(f"{type(self).__name__} given where {kind.__name__} is needed",
                             hint=f"start the run as {kind.notebook or 'that runbook'} does")
        return self


_TARGET_HELP = "sandbox, local or live; None keeps the parameters files' value"
_CONTEXT_HELP = "kube context for target live; None keeps the parameters files' value"


class InspectOptions(RunbookOptions):
    notebook: ClassVar[str] = "runbooks/inspect.ipynb"

    target: Literal["sandbox", "local", "live"] | None = Override(_TARGET_HELP)
    context: Text | None = Override(_CONTEXT_HELP)
    branch: Text | None = Override("fleet-repo branch; None keeps the parameters files' value")
    path: Text | None = Override("cluster folder in the fleet repo; None keeps the parameters files' value")


class BootstrapOptions(RunbookOptions):
    notebook: ClassVar[str] = "runbooks/bootstrap.ipynb"

    target: Literal["sandbox", "local", "live"] | None = Override(_TARGET_HELP)
    context: Text | None = Override(_CONTEXT_HELP)
    version: Text | None = Override("Flux release, e.g. v2.5.1 (--version)")
    components: list[str] | None = Override("controllers to install (--components)")
    components_extra: list[str] | None = Override("image-reflector/automation controllers (--components-extra)")
    branch: Text | None = Override("fleet-repo branch (--branch)")
    path: Text | None = Override("cluster folder in the fleet repo (--path)")
    interval: Text | None = Override("GitRepository interval, e.g. 1m (--interval)")
    personal: Switch | None = Override("owner is a user, not an organisation (--personal)")
    private: Switch | None = Override("create the repository private (--private)")
    read_write_key: Switch | None = Override("register a read-write deploy key (--read-write-key)")
    ssh_key_algorithm: Literal["ecdsa", "ed25519", "rsa"] | None = Override("ecdsa, ed25519 or rsa (--ssh-key-algorithm)")
    ssh_ecdsa_curve: Literal["p256", "p384", "p521"] | None = Override("p256, p384 or p521 (--ssh-ecdsa-curve)")
    ssh_rsa_bits: int | None = Override("RSA key size (--ssh-rsa-bits)")
    secret_name: Text | None = Override("source secret name (--secret-name)")
    namespace: Text | None = Override("Flux namespace (--namespace)")
    network_policy: Switch | None = Override("install the network policies (--network-policy)")
    registry: Text | None = Override("controller image registry (--registry)")
    toleration_keys: list[str] | None = Override("toleration keys for the controllers (--toleration-keys)")
    author_name: Text | None = Override("commit author name (--author-name)")
    author_email: Text | None = Override("commit author email (--author-email)")
    dry_run: Switch = Field(False, description="show every change and make none")
    force: Switch = Field(False, description="take over a Flux installed by another tool or synced from another path")
    rotate_key: Switch = Field(False, description="replace the deploy key (the old one is removed once the new one works)")
    timeout: Annotated[str, go_duration("10s", "1h")] = Field(
        "5m", description="how long to wait for the cluster to reconcile (10s to 1h)")


FAIL_ON = ("none", "warning", "error", "critical")


class TroubleshootOptions(RunbookOptions):
    notebook: ClassVar[str] = "runbooks/troubleshoot.ipynb"

    target: Literal["sandbox", "local", "live"] | None = Override(_TARGET_HELP)
    context: Text | None = Override(_CONTEXT_HELP)
    reconcile_failed: Switch = Field(False, description="request a reconcile of every failing Flux object")
    resume_suspended: Switch = Field(False, description="resume suspended Flux objects")
    fail_on: Literal["none", "warning", "error", "critical"] = Field(
        "error", description="end with an error when a finding is at least: warning, error, critical or none")


MAX_POINTS = 300_000
"""Samples per series a tuning run may ask for (history / step): 90 days at 30 s fits, 14 days at 1 ms does not."""
MAX_SAMPLES = 10_000
"""metrics.k8s.io samples a run may take (sample_window / sample_interval)."""


class TuneResourcesOptions(RunbookOptions):
    notebook: ClassVar[str] = "runbooks/tune-resources.ipynb"

    target: Literal["sandbox", "local", "live"] | None = Override(_TARGET_HELP)
    context: Text | None = Override(_CONTEXT_HELP)
    branch: Text | None = Override("branch of the fleet repository; None keeps the parameters files' value")
    prometheus_url: Text | None = Override("Prometheus base URL; None keeps the parameters files' value "
                                           "(sandbox: its own)")
    strategy: Literal["flux", "krr-simple", "vpa"] = Field(
        "flux", description="recommendation strategy: flux, krr-simple or vpa")
    base: Literal["krr-simple", "vpa"] = Field("krr-simple", description="the strategy flux starts from: krr-simple or vpa")
    cpu_percentile: Annotated[float, Field(ge=50, le=100)] = Field(
        95.0, description="percentile of CPU usage for the CPU request (50 to 100)")
    memory_buffer: Annotated[float, Field(ge=0, le=5)] = Field(
        0.15, description="headroom over the memory peak, as a fraction: 0.15 is 15% (0 to 5)")
    history: Annotated[str, window("10m", "90d")] = Field("14d", description="usage window read from Prometheus (10m to 90d)")
    step: Annotated[str, window("1s", "1h")] = Field("30s", description="resolution of the Prometheus range queries (1s to 1h; "
                                                        f"at most {MAX_POINTS:,} steps in history)")
    usage_source: Literal["auto", "prometheus", "metrics-server"] = Field(
        "auto", description="auto (Prometheus when there is one), prometheus or metrics-server")
    sample_window: Annotated[str, window("1s", "6h")] = Field("30m", description="metrics-server only: how long to sample "
                                                                 "metrics.k8s.io (1s to 6h)")
    sample_interval: Annotated[str, window("1s", "5m")] = Field("15s", description="metrics-server only: time between samples "
                                                                   "(1s to 5m)")
    min_change: Annotated[float, Field(ge=0, le=1)] = Field(
        0.1, description="propose a value only when it moves by more than this fraction (0 to 1)")
    until: IsoTime | None = Field(None, description="end of the usage window (ISO 8601); None is now")
    apply: Literal["none", "commit", "pr"] = Field(
        "none", description="none (show the diff), commit (to the branch) or pr (branch and pull request)")
    out_dir: Text | None = Field(
        None, description="folder for the CSV and JSON exports; None is "
                                                   "FLEET_HOME/exports/tune-resources")

    @field_validator("out_dir")
    @classmethod
    def _out_dir(cls, value: str | None) -> str | None:
        return None if value is None else _writable_folder(value)

    @model_validator(mode="after")
    def _finite(self) -> TuneResourcesOptions:
        points = window_seconds(self.history) / window_seconds(self.step)
        if points > MAX_POINTS:
            raise ValueError(f"step: {self.history} at {self.step} is {points:,.0f} steps per series, more than "
                             f"{MAX_POINTS:,}; use a coarser step")
        samples = window_seconds(self.sample_window) / window_seconds(self.sample_interval)
        if samples < 1:
            raise ValueError("sample_interval: must not be longer than sample_window")
        if samples > MAX_SAMPLES:
            raise ValueError(f"sample_interval: {self.sample_window} every {self.sample_interval} is more than "
                             f"{MAX_SAMPLES:,} samples; use a longer interval")
        return self

    def end(self) -> float | None:
        """`until` as a Unix time (UTC when it names no zone), or None for now."""
        if self.until is None:
            return None
        stamp = datetime.fromisoformat(self.until.replace("Z", "+00:00"))
        return (stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)).timestamp()


def _writable_folder(value: str) -> str:
    """A folder this user can write to (created when missing), checked before the runbook's first effect."""
    try:
        check_writable_dir(Path(value).expanduser(), what="folder")
    except InputError as e:
        raise ValueError(e.message.removeprefix("folder ")) from None
    return value


def _app_name(value: str) -> str:
    return _as_value_error(lambda: dns_label(value, what="app"))


def _values(text: str) -> str:
    try:
        data = yaml.safe_load(text) if text.strip() else {}
    except yaml.YAMLError as e:
        raise ValueError(f"is not YAML: {str(e).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise ValueError("must be a YAML mapping such as 'replicas: 2'")
    return text


def _object_ref(text: str) -> str:
    parts = text.split("/")
    if len(parts) != 3 or not all(parts) or not parts[0][:1].isupper():
        raise ValueError(f"{text!r} is not Kind/namespace/name, such as Deployment/apps/web")
    return text


def _dependency(text: str) -> str:
    namespace, _, name = text.rpartition("/")
    _as_value_error(lambda: dns_label(name, what="dependency name"))
    if namespace:
        _as_value_error(lambda: dns_label(namespace, what="dependency namespace"))
    return text


AppName = Annotated[Text, AfterValidator(_app_name)]
SYSTEM_NAMESPACES = ("kube-system", "kube-public", "kube-node-lease", "default", "flux-system")
"""Namespaces that Kubernetes or Flux own: an app's workloads never go there (the runbook also refuses the
cluster's own Flux namespace when it has another name)."""


class AddAppOptions(RunbookOptions):
    notebook: ClassVar[str] = "runbooks/add-app.ipynb"

    target: Literal["sandbox", "local", "live"] | None = Override(_TARGET_HELP)
    context: Text | None = Override(_CONTEXT_HELP)
    branch: Text | None = Override("branch of the fleet repository; None keeps the parameters files' value")
    app: AppName = Field("hello", description="the application's name: a DNS label (its Flux objects are named so)")
    app_namespace: AppName | None = Field(None, description="namespace its workloads go to; None is the app's name")
    source: Literal["helm", "oci", "git"] = Field(
        "helm", description="helm (a Helm repository), oci (a chart in an OCI registry) or git (a Kustomization)")
    url: Text = Field("http://charts.fleet.internal/", description="Helm repository URL, oci:// URL, or the Git "
                                                                    "repository on the fleet's GitHub "
                                                                    "(ssh://git@github.com/owner/repo)")
    chart: Text | None = Field("hello", description="chart name (helm only; other sources name it in the url)")
    version: Text = Field("*", description="chart version or constraint (helm), tag (oci); git: the branch")
    path: Text = Field("./", description="folder in the Git repository to build (git only)")
    values: Annotated[str, AfterValidator(_values)] = Field(
        "", description="chart values as a YAML mapping (helm and oci)")
    interval: Annotated[str, go_duration("30s", "24h")] = Field(
        "10m", description="how often Flux reconciles the app (30s to 24h)")
    insecure: Switch = Field(False, description="reach the OCI registry over plain HTTP (oci only)")
    prune: Switch = Field(True, description="delete what leaves Git (git only)")
    depends_on: list[Annotated[str, AfterValidator(_dependency)]] = Field(
        [], description="Kustomizations (git) or HelmReleases (helm, oci) to wait for: name or namespace/name")
    health_checks: list[Annotated[str, AfterValidator(_object_ref)]] = Field(
        [], description="objects that must be ready (git only): Kind/namespace/name")
    remove: Switch = Field(False, description="take the app out of Git and wait until Flux has pruned it")
    apply: Literal["none", "commit", "pr"] = Field(
        "none", description="none (show the diff and the checks), commit (to the branch) or pr (a pull request)")
    timeout: Annotated[str, go_duration("10s", "1h")] = Field(
        "5m", description="how long to wait for the app to be Ready or pruned (10s to 1h)")

    @model_validator(mode="after")
    def _consistent(self) -> AddAppOptions:
        scheme = self.url.split("://", 1)[0] if "://" in self.url else ""
        wanted = {"helm": ("http", "https"), "oci": ("oci",), "git": ("ssh",)}[self.source]
        if scheme not in wanted:
            raise ValueError(f"url: {self.url!r} is not a {' or '.join(s + '://' for s in wanted)} URL, as source "
                             f"{self.source!r} needs")
        if self.source == "helm" and not self.chart:
            raise ValueError("chart: source 'helm' needs a chart name")
        if self.source == "git" and self.values.strip():
            raise ValueError("values: a Kustomization takes no chart values; use source 'helm' or 'oci'")
        if self.source != "git" and self.health_checks:
            raise ValueError("health_checks: only a Kustomization (source 'git') takes health checks")
        if self.source == "oci" and self.version == "*":
            raise ValueError("version: source 'oci' needs a tag, such as 0.1.0")
        if any(d.rpartition("/")[2] == self.app and d.rpartition("/")[0] in ("", "flux-system")
               for d in self.depends_on):
            raise ValueError(f"depends_on: app {self.app!r} cannot depend on itself (it would wait forever)")
        if self.namespace_of_app in SYSTEM_NAMESPACES:
            raise ValueError(f"{'app_namespace' if self.app_namespace else 'app'}: {self.namespace_of_app!r} is a "
                             f"system namespace ({', '.join(SYSTEM_NAMESPACES)}); an app gets a namespace of its own")
        return self

    def against(self, params: ClusterParams) -> str | None:
        if self.source == "git" and not re.match(rf"^ssh://git@{re.escape(params.hostname)}(:\d+)?/[^/]+/[^/]+$",
                                                  self.url):
            return (f"url: {self.url!r} is not ssh://git@{params.hostname}/<owner>/<repository>: a Git source is a "
                    f"repository on cluster {params.id}'s GitHub")
        if self.namespace_of_app == params.namespace:
            return f"app_namespace: {self.namespace_of_app!r} is cluster {params.id}'s Flux namespace"
        return None

    @property
    def namespace_of_app(self) -> str:
        return self.app_namespace or self.app


class TenantsOptions(RunbookOptions):
    notebook: ClassVar[str] = "runbooks/tenants.ipynb"

    target: Literal["sandbox", "local", "live"] | None = Override(_TARGET_HELP)
    context: Text | None = Override(_CONTEXT_HELP)
    branch: Text | None = Override("branch of the fleet repository; None keeps the parameters files' value")
    tenant: AppName = Field("dev-team", description="the team's name: a DNS label (its service account, Git source "
                                                    "and Kustomization are named so)")
    namespaces: list[AppName] = Field([], description="namespaces the team may act in; [] is one named as the tenant "
                                                      "(the first holds its Git source and Kustomization)")
    url: Text | None = Field(None, description="the team's Git repository on the fleet's GitHub "
                                               "(ssh://git@github.com/owner/repo); None is the fleet's owner/<tenant>")
    tenant_branch: Text = Field("main", description="branch of the team's repository Flux follows")
    path: Text = Field("./", description="folder of the team's repository Flux builds")
    interval: Annotated[str, go_duration("30s", "24h")] = Field(
        "5m", description="how often Flux reconciles the team's repository (30s to 24h)")
    remove: Switch = Field(False, description="take the tenant out of Git and wait until Flux has pruned it")
    lockdown: Switch = Field(False, description="also write the missing lockdown flags into flux-system/"
                                                "kustomization.yaml (every Kustomization and HelmRelease of the "
                                                "cluster then runs as its service account, default if none)")
    apply: Literal["none", "commit", "pr"] = Field(
        "none", description="none (show the diff and the checks), commit (to the branch) or pr (a pull request)")
    timeout: Annotated[str, go_duration("10s", "1h")] = Field(
        "5m", description="how long to wait for the tenant to be Ready or pruned (10s to 1h)")

    @model_validator(mode="after")
    def _consistent(self) -> TenantsOptions:
        if self.lockdown and self.remove:
            raise ValueError("lockdown: removing a tenant never changes the lockdown (other tenants rely on it)")
        taken = [n for n in self.tenant_namespaces if n in SYSTEM_NAMESPACES]
        if taken:
            raise ValueError(f"{'namespaces' if self.namespaces else 'tenant'}: {', '.join(map(repr, taken))} is a "
                             f"system namespace ({', '.join(SYSTEM_NAMESPACES)}); a tenant gets namespaces of its own")
        if len(set(self.tenant_namespaces)) != len(self.tenant_namespaces):
            raise ValueError("namespaces: each namespace once")
        return self

    def against(self, params: ClusterParams) -> str | None:
        if self.url is not None and not re.match(rf"^ssh://git@{re.escape(params.hostname)}(:\d+)?/[^/]+/[^/]+$",
                                                 self.url):
            return (f"url: {self.url!r} is not ssh://git@{params.hostname}/<owner>/<repository>: a tenant's source is a "
                    f"repository on cluster {params.id}'s GitHub")
        if params.namespace in self.tenant_namespaces:
            return f"namespaces: {params.namespace!r} is cluster {params.id}'s Flux namespace"
        return None

    @property
    def tenant_namespaces(self) -> list[str]:
        return list(self.namespaces) or [self.tenant]


def _folder_path(value: str) -> str:
    parts = value.strip("/").removeprefix("./").split("/")
    if value.startswith("/") or any(x in ("", ".", "..") for x in parts):
        raise ValueError(f"{value!r} is not a path inside the cluster's folder, such as apps/hello.yaml or apps")
    if parts[0] == "flux-system":
        raise ValueError("flux-system is each cluster's own (its bootstrap); it is never promoted")
    return value


class PromoteOptions(RunbookOptions):
    notebook: ClassVar[str] = "runbooks/promote.ipynb"

    stage: Annotated[Text, AfterValidator(_stage)] = Field(
        DEFAULT_STAGE, description="the stage promoted from: a folder under parameters/")
    target: Literal["sandbox", "local", "live"] | None = Override(_TARGET_HELP)
    context: Text | None = Override(_CONTEXT_HELP)
    branch: Text | None = Override("branch of the fleet repository; None keeps the parameters files' value")
    to_stage: Annotated[Text, AfterValidator(_stage)] = Field(
        "staging", description="the stage promoted to (its cluster of the same name, or to_cluster)")
    to_cluster: Annotated[Text, AfterValidator(_cluster)] | None = Field(
        None, description="the cluster in to_stage; None is the cluster of the same name")
    apps: list[AppName] = Field([], description="apps to promote (their files apps/<app>.yaml); with paths, "
                                                "[] compares every file and promotes none")
    paths: list[Annotated[str, AfterValidator(_folder_path)]] = Field(
        [], description="files or folders of the cluster's folder to promote, such as apps/hello.yaml")
    apply: Literal["none", "commit", "pr"] = Field(
        "none", description="none (show the difference and what it would do), commit (to the branch) or pr "
                            "(a pull request)")
    timeout: Annotated[str, go_duration("10s", "1h")] = Field(
        "5m", description="how long to wait for the second stage's cluster to apply the change (10s to 1h)")

    @model_validator(mode="after")
    def _consistent(self) -> PromoteOptions:
        if self.to_stage == self.stage and self.to_cluster in (None, self.cluster):
            raise ValueError(f"to_stage: {self.to_stage!r} is the stage promoted from; name another stage or "
                             f"to_cluster")
        if self.apply != "none" and not (self.apps or self.paths):
            raise ValueError(f"apps: apply {self.apply!r} promotes what apps or paths name; name at least one")
        return self

    @property
    def target_cluster(self) -> str:
        return self.to_cluster or self.cluster


def _release(value: str) -> str:
    if not re.fullmatch(r"v\d+\.\d+\.\d+", value):
        raise ValueError("is not a Flux release such as v2.9.2")
    return value


Release = Annotated[Text, AfterValidator(_release)]


class UpgradeOptions(RunbookOptions):
    notebook: ClassVar[str] = "runbooks/upgrade.ipynb"

    target: Literal["sandbox", "local", "live"] | None = Override(_TARGET_HELP)
    context: Text | None = Override(_CONTEXT_HELP)
    branch: Text | None = Override("branch of the fleet repository; None keeps the parameters files' value")
    to_version: Release = Field("v2.9.2", description="the Flux release to upgrade to, such as v2.9.2")
    via: list[Release] = Field([], description="releases to upgrade through first, in order (the runbook says when "
                                               "one is needed: v2.6.4 from v2.5 to v2.7 or later)")
    apply: Literal["none", "commit", "pr"] = Field(
        "none", description="none (show the inventory and the change), commit (each step to the branch, waited on) "
                            "or pr (a pull request for the first step)")
    timeout: Annotated[str, go_duration("10s", "1h")] = Field(
        "10m", description="how long to wait for each step's controllers and objects (10s to 1h)")

    @model_validator(mode="after")
    def _ordered(self) -> UpgradeOptions:
        steps = [*self.via, self.to_version]
        keys = [tuple(int(x) for x in v.lstrip("v").split(".")) for v in steps]
        if keys != sorted(set(keys)):
            raise ValueError("via: each release once, oldest first, all older than to_version")
        return self


def _env_name(value: str) -> str:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
        raise ValueError(f"{value!r} is not an environment variable name")
    return value


def _event_source(text: str) -> str:
    kind, _, name = text.partition("/")
    if kind not in FLUX_EVENT_KINDS or not (name == "*" or re.fullmatch(
            r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*", name) and len(name) <= 253):
        raise ValueError(f"is not Kind/name (name or *) of a Flux kind: {', '.join(FLUX_EVENT_KINDS)}")
    return text


FLUX_EVENT_KINDS = ("GitRepository", "HelmRepository", "HelmChart", "OCIRepository", "Bucket", "Kustomization",
                    "HelmRelease", "ImageRepository", "ImagePolicy", "ImageUpdateAutomation")
PROVIDER_TYPES = ("generic", "generic-hmac", "slack", "msteams", "githubdispatch")


class AlertsOptions(RunbookOptions):
    notebook: ClassVar[str] = "runbooks/alerts.ipynb"

    target: Literal["sandbox", "local", "live"] | None = Override(_TARGET_HELP)
    context: Text | None = Override(_CONTEXT_HELP)
    branch: Text | None = Override("branch of the fleet repository; None keeps the parameters files' value")
    provider: AppName = Field("fleet", description="name of the Provider and its Alert: a DNS label")
    type: Literal["generic", "generic-hmac", "slack", "msteams", "githubdispatch"] = Field(
        "generic", description="generic, generic-hmac, slack, msteams or githubdispatch (Flux v2.5's types)")
    address_env: Annotated[Text, AfterValidator(_env_name)] = Field(
        "FLEET_ALERT_ADDRESS", description="environment variable holding the webhook address (githubdispatch: "
                                           "the repository URL); it goes to a Secret in the cluster, never to Git")
    token_env: Annotated[Text, AfterValidator(_env_name)] | None = Field(
        None, description="environment variable holding the token (githubdispatch) or HMAC key (generic-hmac)")
    channel: Text | None = Field(None, description="Slack channel (slack only)")
    event_sources: list[Annotated[str, AfterValidator(_event_source)]] = Field(
        ["Kustomization/*", "HelmRelease/*", "GitRepository/*"],
        description="Flux objects whose events are sent: Kind/name, * for every one of the kind")
    severity: Literal["info", "error"] = Field("info", description="info (every event) or error (failures only)")
    exclusions: list[str] = Field([], description="regular expressions: events whose message matches are not sent")
    apply: Literal["none", "commit", "pr"] = Field(
        "none", description="none (show the diff), commit (to the branch) or pr (a pull request)")
    verify: Switch = Field(True, description="after a commit, make an event and check that the receiver got it "
                                              "(a receiver of ours only: fleetlib.receiver)")
    timeout: Annotated[str, go_duration("10s", "1h")] = Field(
        "3m", description="how long to wait for the alert to be Ready and the event delivered (10s to 1h)")

    @model_validator(mode="after")
    def _consistent(self) -> AlertsOptions:
        if self.type in ("githubdispatch", "generic-hmac") and not self.token_env:
            raise ValueError(f"token_env: provider type {self.type!r} needs a token (name its environment variable)")
        if self.type != "slack" and self.channel:
            raise ValueError("channel: only a slack provider takes a channel")
        for pattern in self.exclusions:
            try:
                re.compile(pattern)
            except re.error as e:
                raise ValueError(f"exclusions: {pattern!r} is not a regular expression ({e})") from None
        return self


class FleetOverviewOptions(RunbookOptions):
    notebook: ClassVar[str] = "notebooks/fleet-overview.ipynb"

    stage: Annotated[Text, AfterValidator(_stage)] = Field(DEFAULT_STAGE, description="stage shown first")
    cluster: Annotated[Text, AfterValidator(_cluster)] = Field(DEFAULT_CLUSTER, description="cluster shown first")


class ControllerUsageOptions(FleetOverviewOptions):
    notebook: ClassVar[str] = "notebooks/controller-usage.ipynb"

    controller: Literal[FLUX_COMPONENTS] = Field(  # type: ignore[valid-type]
        "kustomize-controller", description="controller shown first")
    days: Annotated[int, Field(ge=1, le=90)] = Field(14, description="longest history the slider offers, in days "
                                                                    "(1 to 90)")


class GettingStartedOptions(RunbookOptions):
    notebook: ClassVar[str] = "notebooks/getting-started.ipynb"

    cluster: Annotated[Text, AfterValidator(_cluster)] = Field(DEFAULT_CLUSTER,
                                                               description="the sandbox cluster to use")
    stage: Annotated[Text, AfterValidator(_stage)] = Field(DEFAULT_STAGE, description="its stage")
    scenario: Text = Field("deploy-key-revoked", description="the fault to inject (see `fleet sandbox fault --list`)")


MODELS: dict[str, type[RunbookOptions]] = {
    "inspect": InspectOptions,
    "bootstrap": BootstrapOptions,
    "troubleshoot": TroubleshootOptions,
    "tune-resources": TuneResourcesOptions,
    "add-app": AddAppOptions,
    "alerts": AlertsOptions,
    "tenants": TenantsOptions,
    "promote": PromoteOptions,
    "upgrade": UpgradeOptions,
    "fleet-overview": FleetOverviewOptions,
    "controller-usage": ControllerUsageOptions,
    "getting-started": GettingStartedOptions,
}
"""Every notebook that takes parameters, by name."""

RUNBOOKS = tuple(n for n, m in MODELS.items() if m.notebook.startswith("runbooks/"))
"""The runbooks `fleet run` runs."""


def model(name: str) -> type[RunbookOptions]:
    try:
        return MODELS[name]
    except KeyError:
        raise InputError(f"unknown runbook {name!r}", hint="runbooks: " + ", ".join(RUNBOOKS)) from None


# --- parsing, with refusals that name the parameter ---------------------------------------------


def _refusal(cls: type[RunbookOptions], err: Mapping[str, Any], source: str, more: int) -> ParameterError:
    loc = [str(p) for p in err["loc"]]
    key = loc[0] if loc else None
    kind = err["type"]
    field = cls.model_fields.get(key or "")
    given = err.get("input")
    shown = repr(given) if isinstance(given, (str, int, float, bool)) and len(repr(given)) <= 60 else type(given).__name__
    if kind == "extra_forbidden":
        message = "unknown parameter"
    elif kind == "bool_type":
        message = f"must be True or False (true/false also), not {shown}"
    elif kind == "literal_error":
        message = f"must be one of {', '.join(map(str, get_args(_without_none(field.annotation))))}, not {shown}" \
            if field else str(err["msg"])
    elif kind in ("string_type", "int_type", "float_type", "list_type"):
        wanted = {"string_type": "text", "int_type": "a whole number", "float_type": "a number",
                  "list_type": "a list"}[kind]
        message = f"must be {wanted}, not {shown}"
    elif kind == "value_error":
        text = str(err["ctx"]["error"])
        if not loc and ":" in text:  # a check across fields names its field first
            key, _, text = text.partition(": ")
        message = f"{shown} {text}" if kind == "value_error" and isinstance(given, str) and loc else text
    elif kind in ("greater_than_equal", "less_than_equal"):
        lo = next((m.ge for m in (field.metadata if field else []) if getattr(m, "ge", None) is not None), None)
        hi = next((m.le for m in (field.metadata if field else []) if getattr(m, "le", None) is not None), None)
        message = f"{shown} is out of range: must be from {lo:g} to {hi:g}" if lo is not None and hi is not None \
            else str(err["msg"])
    else:
        message = str(err["msg"]).replace("Input should be", "must be")
    if more:
        message += f" (and {more} more problem{'s' if more > 1 else ''})"
    target = cls.model_fields.get(key or "")
    hint = f"{key}: {target.description}" if target is not None and kind not in (
        "bool_type", "literal_error") else None
    if kind == "extra_forbidden":
        hint = f"{cls.notebook or 'this runbook'} takes: " + ", ".join(cls.model_fields)
    return ParameterError(message, source=source, key=key, hint=hint)


def parse(name: str, values: Mapping[str, Any], *, source: str = SOURCE) -> RunbookOptions:
    """The runbook's options from the values a run was given, or a ParameterError naming the first bad one."""
    cls = model(name)
    try:
        return cls.model_validate(dict(values))
    except ValidationError as e:
        errors = e.errors()
        raise _refusal(cls, errors[0], source, len(errors) - 1) from None


# --- the notebook's parameters cell, generated from the model -----------------------------------


def _without_none(annotation: Any) -> Any:
    """`X` of `X | None` (and of `Annotated[X, ...]`)."""
    if get_origin(annotation) is Annotated:
        return _without_none(get_args(annotation)[0])
    args = [a for a in get_args(annotation) if a is not type(None)] if get_origin(annotation) in (Union, _UnionType) \
        else None
    if args is not None and len(args) == 1:
        return _without_none(args[0])
    return annotation


def _optional(annotation: Any) -> bool:
    return get_origin(annotation) in (Union, _UnionType) and type(None) in get_args(annotation)


def notebook_type(cls: type[RunbookOptions], name: str) -> str:
    """The annotation a parameters cell declares for a field: `bool`, `str`, `"Optional[str]"`..."""
    field = cls.model_fields[name]
    inner = _without_none(field.annotation)
    base = {bool: "bool", int: "int", float: "float", str: "str"}.get(inner)
    if base is None:
        base = "list" if get_origin(inner) is list else "str"  # Literal choices are strings
    return f'"Optional[{base}]"' if _optional(field.annotation) else base


def parameters_cell(name: str) -> str:
    """The exact source of a notebook's `parameters` cell: every option, typed, with its default and help."""
    cls = model(name)
    lines = []
    for field_name, field in cls.model_fields.items():
        default = field.get_default(call_default_factory=True)
        text = f'"{default}"' if isinstance(default, str) else repr(default)
        lines.append(f"{field_name}: {notebook_type(cls, field_name)} = {text}  # {field.description}")
    return "\n".join(lines)


def help_text(name: str) -> list[tuple[str, str, str]]:
    """(option, default, help) rows, as `papermill --help-notebook` shows them."""
    cls = model(name)
    return [(n, repr(f.get_default(call_default_factory=True)), str(f.description)) for n, f in cls.model_fields.items()]


_UnionType = type(int | None)


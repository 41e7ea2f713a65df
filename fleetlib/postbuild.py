"""Post-build variable substitution as kustomize-controller runs it on each built object when `spec.postBuild` is
set (fluxcd/pkg/kustomize SubstituteVariables, fluxcd/pkg/envsubst):

- variables from `substituteFrom` (ConfigMaps' `data`, Secrets' decoded `data`, in order, each in the
  Kustomization's namespace; a missing one fails unless `optional: true`), then `substitute` on top; line breaks
  are removed from values; a name that is not `^[_[:alpha:]][_[:alpha:][:digit:]]*$` fails;
- an object labelled or annotated `kustomize.toolkit.fluxcd.io/substitute: disabled` is left alone;
- the object's YAML is substituted as text, then parsed again (`replicas: ${N}` becomes a number): `${var}`, the
  defaults `${var:=x}`, `${var:-x}`, `${var=x}`, `${var-x}`, the case operators `${var^^}`, `${var,,}`, `${var^}`,
  `${var,}`; `$$` is a literal `$` (`$${var}` stays `${var}`); a bare `$var` is text. An unset variable without a
  default fails in strict mode (`variable not set (strict mode): "X"`), else becomes the empty string. Strict is
  the feature gate `StrictPostBuildSubstitutions`: on by default from kustomize-controller v1.9 (Flux v2.9), off
  before, `--feature-gates=StrictPostBuildSubstitutions=<bool>` either way (`strict_mode`);
- a failure is the controller's: BuildFailed, `post build failed for '<Kind.version.group>/<name>': ...`.

    objects = substitute_all(docs, ks, get=lambda kind, ns, name: ..., strict=strict_mode(container))

The sandbox's kustomize-controller runs it on every build; the promote runbook on both stages' builds, to compare
what each cluster is given.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from typing import Any

import yaml

from fleetlib.objects import image_tag, meta_of, spec_of

DISABLED = "kustomize.toolkit.fluxcd.io/substitute"
VAR_NAME = re.compile(r"^[_A-Za-z][_A-Za-z0-9]*$")
_EXPRESSION = re.compile(r"\$\$|\$\{([^}]*)\}")
_PARAMETER = re.compile(r"^([_A-Za-z][_A-Za-z0-9]*)(?:(:=|:-|=|-)(.*)|(\^\^|,,|\^|,))?$", re.S)

Getter = Callable[[str, str, str], dict[str, Any] | None]


class SubstitutionError(Exception):
    pass


def variables(ks: dict[str, Any], get: Getter) -> dict[str, str]:
    """`substituteFrom` then `substitute` (LoadVariables), line breaks removed from the values."""
    post = spec_of(ks).get("postBuild") or {}
    namespace = ks["metadata"]["namespace"]
    out: dict[str, str] = {}
    for ref in post.get("substituteFrom") or []:
        kind, name = ref.get("kind"), ref.get("name")
        found = get(str(kind), namespace, str(name))
        if found is None:
            if ref.get("optional"):
                continue
            plural = "configmaps" if kind == "ConfigMap" else "secrets"
            raise SubstitutionError(f"substitute from '{kind}/{name}' error: {plural} \"{name}\" not found")
        data = found.get("data") or {}
        if kind == "Secret":
            data = {k: base64.b64decode(v).decode(errors="replace") for k, v in data.items()}
        out.update({str(k): str(v).replace("\n", "") for k, v in data.items()})
    out.update({str(k): str(v).replace("\n", "") for k, v in (post.get("substitute") or {}).items()})
    return out


STRICT_FROM = (1, 9, 0)


def strict_mode(container: dict[str, Any] | None) -> bool:
    """Whether kustomize-controller's container (its image tag and flags) substitutes strictly."""
    if not container:
        return False
    for arg in container.get("args") or []:
        if str(arg).startswith("--feature-gates="):
            for pair in str(arg).split("=", 1)[1].split(","):
                key, _, value = pair.partition("=")
                if key.strip() == "StrictPostBuildSubstitutions":
                    return value.strip().lower() == "true"
    m = re.match(r"v(\d+)\.(\d+)\.(\d+)", image_tag(str(container.get("image") or "")))
    return m is not None and tuple(int(x) for x in m.groups()) >= STRICT_FROM


def envsubst(text: str, values: dict[str, str], *, strict: bool = False) -> str:
    """fluxcd/pkg/envsubst's Eval, for the expressions Flux documents."""
    def expand(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        p = _PARAMETER.match(m.group(1))
        if p is None:
            raise SubstitutionError(f"unable to parse variable name '{m.group(1)}'")
        name, op, default, case = p.groups()
        if strict and op is None and name not in values:
            raise SubstitutionError(f'variable not set (strict mode): "{name}"')
        value = values.get(name, "")
        if op is not None:
            return value or envsubst(default, values, strict=strict)
        if case == "^^":
            return value.upper()
        if case == ",,":
            return value.lower()
        if case == "^":
            return value[:1].upper() + value[1:]
        if case == ",":
            return value[:1].lower() + value[1:]
        return value
    return _EXPRESSION.sub(expand, text)


def gvk_name(obj: dict[str, Any]) -> str:
    """kustomize's resid: `Kind.version.group` (`[noGrp]` for the core group), then the name."""
    group, _, version = str(obj.get("apiVersion", "")).rpartition("/")
    return f"{obj.get('kind')}.{version}.{group or '[noGrp]'}/{(obj.get('metadata') or {}).get('name')}"


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _load(text: str) -> Any:
    try:
        return yaml.load(text, Loader=_LOADER)  # a safe loader
    except yaml.YAMLError as e:
        raise SubstitutionError(f"YAMLToJSON: {e}") from None


def substitute(text: str, values: dict[str, str], *, strict: bool = False) -> dict[str, Any]:
    """One built document, as kustomize wrote it (its quoting kept: `"${N}"` stays a string, `${N}` may become a
    number), substituted and parsed."""
    obj = _load(text)
    meta = meta_of(obj) if isinstance(obj, dict) else {}
    if "disabled" in ((meta.get("labels") or {}).get(DISABLED), (meta.get("annotations") or {}).get(DISABLED)):
        return dict(obj)
    if not values:
        return dict(obj)
    try:
        out = _load(envsubst(text, values, strict=strict))
    except SubstitutionError as e:
        if str(e).startswith("YAMLToJSON"):
            raise
        raise SubstitutionError(f"envsubst error: variable substitution failed: {e}") from None
    if not isinstance(out, dict):
        raise SubstitutionError("UnmarshalJSON: the substituted document is not an object")
    return out


def substitute_all(docs: list[str], ks: dict[str, Any], get: Getter, *, strict: bool = False
                   ) -> list[dict[str, Any]]:
    """Every built document substituted and parsed, or SubstitutionError with the controller's message."""
    if spec_of(ks).get("postBuild") is None:
        return [d for d in (_load(t) for t in docs) if isinstance(d, dict)]
    out: list[dict[str, Any]] = []
    values: dict[str, str] | None = None
    for text in docs:  # the first object carries a failure to load the variables, as the controller's loop has it
        try:
            values = variables(ks, get) if values is None else values
            invalid = [n for n in values if not VAR_NAME.match(n)]
            if invalid:
                raise SubstitutionError(f"envsubst error: '{invalid[0]}' var name is invalid, must match "
                                        "'^[_[:alpha:]][_[:alpha:][:digit:]]*$'")
            out.append(substitute(text, values, strict=strict))
        except SubstitutionError as e:
            original = _load(text)
            raise SubstitutionError(f"post build failed for '{gvk_name(original if isinstance(original, dict) else {})}'"
                                    f": {e}") from None
    return out

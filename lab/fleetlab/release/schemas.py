"""The Flux v2.5 API as OpenAPI v3 schemas and printer columns, for the CRDs the sandbox serves: written
from the API types' documented fields (source-controller v1.5, kustomize-controller v1.5, helm-controller
v1.2, notification-controller v1.5), not copied from the release files; tests/test_release.py holds them
against the real v2.5.1 CRDs. The served (primary) version of each kind has the full spec schema, a status
schema and the release's printer columns; deprecated versions get open schemas (README: known differences).

    schema, columns = API[("GitRepository", "v1")]
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]


def s(description: str = "", **kw: Any) -> Schema:
    return {"type": "string", **({"description": description} if description else {}), **kw}


def b(description: str = "") -> Schema:
    return {"type": "boolean", **({"description": description} if description else {})}


def i(description: str = "", fmt: str = "int32", **kw: Any) -> Schema:
    return {"type": "integer", "format": fmt, **({"description": description} if description else {}), **kw}


def o(props: dict[str, Schema], required: tuple[str, ...] = (), description: str = "", **kw: Any) -> Schema:
    out: Schema = {"type": "object", "properties": props, **kw}
    if required:
        out["required"] = list(required)
    if description:
        out["description"] = description
    return out


def a(items: Schema, description: str = "", **kw: Any) -> Schema:
    return {"type": "array", "items": items, **({"description": description} if description else {}), **kw}


def m(values: Schema | None = None, description: str = "") -> Schema:
    return {"type": "object", "additionalProperties": values or s(),
            **({"description": description} if description else {})}


def open_object(description: str = "") -> Schema:
    return {"x-kubernetes-preserve-unknown-fields": True, **({"description": description} if description else {})}


DURATION = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"
TIMEOUT = r"^([0-9]+(\.[0-9]+)?(ms|s|m))+$"


def interval(description: str = "Interval at which to reconcile.") -> Schema:
    return s(description, pattern=DURATION)


def local_ref(description: str = "") -> Schema:
    return o({"name": s("Name of the referent.")}, ("name",), description)


def key_ref(description: str = "") -> Schema:
    return o({"name": s("Name of the Secret."), "key": s("Key in the Secret, when not specified an implementation-specific "
                                                          "default key is used.")}, ("name",), description)


def namespaced_ref(description: str = "") -> Schema:
    return o({"name": s("Name of the referent."), "namespace": s("Namespace of the referent, when not specified it acts "
                                                                 "as LocalObjectReference.")}, ("name",), description)


CONDITION = o({
    "lastTransitionTime": s("lastTransitionTime is the last time the condition transitioned from one status to another.",
                            format="date-time"),
    "message": s("message is a human readable message indicating details about the transition.", maxLength=32768),
    "observedGeneration": i("observedGeneration represents the .metadata.generation that the condition was set based "
                            "upon.", "int64", minimum=0),
    "reason": s("reason contains a programmatic identifier indicating the reason for the condition's last transition.",
                maxLength=1024, minLength=1, pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"),
    "status": s("status of the condition, one of True, False, Unknown.", enum=["True", "False", "Unknown"]),
    "type": s("type of condition in CamelCase or in foo.example.com/CamelCase.", maxLength=316,
              pattern=r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
                      r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$"),
}, ("lastTransitionTime", "message", "reason", "status", "type"),
    "Condition contains details for one aspect of the current state of this API Resource.")
ARTIFACT = o({
    "digest": s("Digest is the digest of the file in the form of '<algorithm>:<checksum>'.",
                pattern=r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$"),
    "lastUpdateTime": s("LastUpdateTime is the timestamp corresponding to the last update of the Artifact.",
                        format="date-time"),
    "metadata": m(description="Metadata holds upstream information such as OCI annotations."),
    "path": s("Path is the relative file path of the Artifact."),
    "revision": s("Revision is a human-readable identifier traceable in the origin source system."),
    "size": i("Size is the number of bytes in the file.", "int64"),
    "url": s("URL is the HTTP address of the Artifact as exposed by the controller managing the Source."),
}, ("lastUpdateTime", "path", "revision", "url"), "Artifact represents the last successful reconciliation.")


def status(extra: dict[str, Schema] | None = None, *, artifact: bool = False) -> Schema:
    props: dict[str, Schema] = {
        "conditions": a(CONDITION, "Conditions holds the conditions for the object."),
        "lastHandledReconcileAt": s("LastHandledReconcileAt holds the value of the most recent reconcile request value, "
                                    "so a change of the annotation value can be detected."),
        "observedGeneration": i("ObservedGeneration is the last observed generation.", "int64"),
    }
    if artifact:
        props["artifact"] = ARTIFACT
    props.update(extra or {})
    return o(dict(sorted(props.items())))


READY = '.status.conditions[?(@.type=="Ready")].status'
MESSAGE = '.status.conditions[?(@.type=="Ready")].message'
AGE_COLUMN = {"jsonPath": ".metadata.creationTimestamp", "name": "Age", "type": "date"}
READY_COLUMNS = [{"jsonPath": READY, "name": "Ready", "type": "string"},
                 {"jsonPath": MESSAGE, "name": "Status", "type": "string"}]


def url_column(path: str = ".spec.url", name: str = "URL") -> dict[str, str]:
    return {"jsonPath": path, "name": name, "type": "string"}


def resource(kind: str, spec: Schema, st: Schema | None, description: str) -> Schema:
    props: dict[str, Schema] = {
        "apiVersion": s("APIVersion defines the versioned schema of this representation of an object."),
        "kind": s("Kind is a string value representing the REST resource this object represents."),
        "metadata": {"type": "object"},
        "spec": spec,
    }
    if st is not None:
        props["status"] = st
    return o(props, description=description)


# --- source.toolkit.fluxcd.io ------------------------------------------------------------------------

SOURCE_REF_KINDS = ["HelmRepository", "GitRepository", "Bucket"]
VERIFY_OCI = o({
    "matchOIDCIdentity": a(o({"issuer": s("Issuer specifies the regex pattern to match against to verify the OIDC "
                                          "issuer in the Fulcio certificate."),
                              "subject": s("Subject specifies the regex pattern to match against to verify the "
                                           "identity subject in the Fulcio certificate.")}, ("issuer", "subject"))),
    "provider": s("Provider specifies the technology used to sign the OCI Artifact.", default="cosign",
                  enum=["cosign", "notation"]),
    "secretRef": local_ref("SecretRef specifies the Kubernetes Secret containing the trusted public keys."),
}, ("provider",), "Verify contains the secret name containing the trusted public keys used to verify the signature "
                  "and specifies which provider to use to check whether OCI image is authentic.")

GIT_REPOSITORY = o({
    "ignore": s("Ignore overrides the set of excluded patterns in the .sourceignore format."),
    "include": a(o({"fromPath": s("FromPath specifies the path to copy contents from, defaults to the root of the "
                                  "Artifact."),
                    "repository": local_ref("GitRepositoryRef specifies the GitRepository which Artifact contents must "
                                            "be included."),
                    "toPath": s("ToPath specifies the path to copy contents to, defaults to the name of the "
                                "GitRepositoryRef.")}, ("repository",)),
                 "Include specifies a list of GitRepository resources which Artifacts should be included in the "
                 "Artifact produced for this GitRepository."),
    "interval": interval("Interval at which the GitRepository URL is checked for updates. This interval is "
                         "approximate and may be subject to jitter to ensure efficient use of resources."),
    "provider": s("Provider used for authentication, can be 'azure', 'github', 'generic'. When not specified, "
                  "defaults to 'generic'.", enum=["generic", "azure", "github"]),
    "proxySecretRef": local_ref("ProxySecretRef specifies the Secret containing the proxy configuration to use while "
                                "communicating with the Git server."),
    "recurseSubmodules": b("RecurseSubmodules enables the initialization of all submodules within the GitRepository "
                           "as cloned from the URL, using their default settings."),
    "ref": o({"branch": s("Branch to check out, defaults to 'master' if no other field is defined."),
              "commit": s("Commit SHA to check out, takes precedence over all reference fields."),
              "name": s("Name of the reference to check out; takes precedence over Branch, Tag and SemVer."),
              "semver": s("SemVer tag expression to check out, takes precedence over Tag."),
              "tag": s("Tag to check out, takes precedence over Branch.")},
             description="Reference specifies the Git reference to resolve and monitor for changes, defaults to the "
                         "'master' branch."),
    "secretRef": local_ref("SecretRef specifies the Secret containing authentication credentials for the "
                           "GitRepository. For HTTPS repositories the Secret must contain 'username' and 'password' "
                           "fields for basic auth or 'bearerToken' field for token auth. For SSH repositories the "
                           "Secret must contain 'identity' and 'known_hosts' fields."),
    "suspend": b("Suspend tells the controller to suspend the reconciliation of this GitRepository."),
    "timeout": s("Timeout for Git operations like cloning, defaults to 60s.", default="60s", pattern=TIMEOUT),
    "url": s("URL specifies the Git repository URL, it can be an HTTP/S or SSH address.",
             pattern=r"^(http|https|ssh)://.*$"),
    "verify": o({"mode": s("Mode specifies which Git object(s) should be verified.", default="HEAD",
                           enum=["head", "HEAD", "Tag", "TagAndHEAD"]),
                 "secretRef": local_ref("SecretRef specifies the Secret containing the public keys of trusted Git "
                                        "authors.")}, ("secretRef",),
                "Verification specifies the configuration to verify the Git commit signature(s)."),
}, ("interval", "url"), "GitRepositorySpec specifies the required configuration to produce an Artifact for a Git "
                        "repository.")

OCI_REPOSITORY = o({
    "certSecretRef": local_ref("CertSecretRef can be given the name of a Secret containing either or both of a PEM-"
                               "encoded client certificate (tls.crt) and private key (tls.key), and a PEM-encoded CA "
                               "certificate (ca.crt)."),
    "ignore": s("Ignore overrides the set of excluded patterns in the .sourceignore format."),
    "insecure": b("Insecure allows connecting to a non-TLS HTTP container registry."),
    "interval": interval("Interval at which the OCIRepository URL is checked for updates."),
    "layerSelector": o({"mediaType": s("MediaType specifies the OCI media type of the layer which should be extracted "
                                       "from the OCI Artifact."),
                        "operation": s("Operation specifies how the selected layer should be processed.",
                                       enum=["extract", "copy"])},
                       description="LayerSelector specifies which layer should be extracted from the OCI artifact."),
    "provider": s("The provider used for authentication, can be 'aws', 'azure', 'gcp' or 'generic'.", default="generic",
                  enum=["generic", "aws", "azure", "gcp"]),
    "proxySecretRef": local_ref("ProxySecretRef specifies the Secret containing the proxy configuration to use while "
                                "communicating with the container registry."),
    "ref": o({"digest": s("Digest is the image digest to pull, takes precedence over SemVer."),
              "semver": s("SemVer is the range of tags to pull selecting the latest within the range."),
              "semverFilter": s("SemverFilter is a regex pattern to filter the tags within the SemVer range."),
              "tag": s("Tag is the image tag to pull, defaults to latest.")},
             description="The OCI reference to pull and monitor for changes, defaults to the latest tag."),
    "secretRef": local_ref("SecretRef contains the secret name containing the registry login credentials to resolve "
                           "image metadata."),
    "serviceAccountName": s("ServiceAccountName is the name of the Kubernetes ServiceAccount used to authenticate the "
                            "image pull if the service account has attached pull secrets."),
    "suspend": b("This flag tells the controller to suspend the reconciliation of this source."),
    "timeout": s("The timeout for remote OCI Repository operations like pulling, defaults to 60s.", default="60s",
                 pattern=TIMEOUT),
    "url": s("URL is a reference to an OCI artifact repository hosted on a remote container registry.",
             pattern=r"^oci://.*$"),
    "verify": VERIFY_OCI,
}, ("interval", "url"), "OCIRepositorySpec defines the desired state of OCIRepository")

BUCKET = o({
    "bucketName": s("BucketName is the name of the object storage bucket."),
    "certSecretRef": local_ref("CertSecretRef can be given the name of a Secret containing either or both of a PEM-"
                               "encoded client certificate (tls.crt) and private key (tls.key), and a PEM-encoded CA "
                               "certificate (ca.crt)."),
    "endpoint": s("Endpoint is the object storage address the BucketName is located at."),
    "ignore": s("Ignore overrides the set of excluded patterns in the .sourceignore format."),
    "insecure": b("Insecure allows connecting to a non-TLS HTTP Endpoint."),
    "interval": interval("Interval at which the Bucket Endpoint is checked for updates."),
    "prefix": s("Prefix to use for server-side filtering of files in the Bucket."),
    "provider": s("Provider of the object storage bucket.", default="generic", enum=["generic", "aws", "gcp", "azure"]),
    "proxySecretRef": local_ref("ProxySecretRef specifies the Secret containing the proxy configuration to use while "
                                "communicating with the Bucket server."),
    "region": s("Region of the Endpoint where the BucketName is located in."),
    "secretRef": local_ref("SecretRef specifies the Secret containing authentication credentials for the Bucket."),
    "sts": o({"certSecretRef": local_ref("CertSecretRef can be given the name of a Secret containing either or both of "
                                         "a PEM-encoded client certificate and private key, and a PEM-encoded CA "
                                         "certificate."),
              "endpoint": s("Endpoint is the HTTP/S endpoint of the Security Token Service from where temporary "
                            "credentials will be fetched.", pattern=r"^(http|https)://.*$"),
              "provider": s("Provider of the Security Token Service.", enum=["aws", "ldap"]),
              "secretRef": local_ref("SecretRef specifies the Secret containing authentication credentials for the "
                                     "STS endpoint.")}, ("endpoint", "provider"),
             "STS specifies the required configuration to use a Security Token Service for fetching temporary "
             "credentials to authenticate in a Bucket provider."),
    "suspend": b("Suspend tells the controller to suspend the reconciliation of this Bucket."),
    "timeout": s("Timeout for fetch operations, defaults to 60s.", default="60s", pattern=TIMEOUT),
}, ("bucketName", "endpoint", "interval"), "BucketSpec specifies the required configuration to produce an Artifact "
                                           "for an object storage bucket.",
    **{"x-kubernetes-validations": [
        {"message": "STS configuration is only supported for the 'aws' and 'generic' Bucket providers",
         "rule": "self.provider == 'aws' || self.provider == 'generic' || !has(self.sts)"},
        {"message": "'aws' is the only supported STS provider for the 'aws' Bucket provider",
         "rule": "self.provider != 'aws' || !has(self.sts) || self.sts.provider == 'aws'"},
        {"message": "'ldap' is the only supported STS provider for the 'generic' Bucket provider",
         "rule": "self.provider != 'generic' || !has(self.sts) || self.sts.provider == 'ldap'"},
        {"message": "spec.sts.secretRef is not required for the 'aws' STS provider",
         "rule": "!has(self.sts) || self.sts.provider != 'aws' || !has(self.sts.secretRef)"},
        {"message": "spec.sts.certSecretRef is not required for the 'aws' STS provider",
         "rule": "!has(self.sts) || self.sts.provider != 'aws' || !has(self.sts.certSecretRef)"}]})

HELM_REPOSITORY = o({
    "accessFrom": o({"namespaceSelectors": a(o({"matchLabels": m(description="MatchLabels is a map of {key,value} "
                                                                             "pairs.")}),
                                             "NamespaceSelectors is the list of namespace selectors to which this ACL "
                                             "applies.")}, ("namespaceSelectors",),
                    "AccessFrom specifies an Access Control List for allowing cross-namespace references to this "
                    "object."),
    "certSecretRef": local_ref("CertSecretRef can be given the name of a Secret containing either or both of a PEM-"
                               "encoded client certificate (tls.crt) and private key (tls.key), and a PEM-encoded CA "
                               "certificate (ca.crt)."),
    "insecure": b("Insecure allows connecting to a non-TLS HTTP container registry. This field is only taken into "
                  "account if the .spec.type field is set to 'oci'."),
    "interval": interval("Interval at which the HelmRepository URL is checked for updates."),
    "passCredentials": b("PassCredentials allows the credentials from the SecretRef to be passed on to a host that "
                         "does not match the host as defined in URL."),
    "provider": s("Provider used for authentication, can be 'aws', 'azure', 'gcp' or 'generic'.", default="generic",
                  enum=["generic", "aws", "azure", "gcp"]),
    "secretRef": local_ref("SecretRef specifies the Secret containing authentication credentials for the "
                           "HelmRepository."),
    "suspend": b("Suspend tells the controller to suspend the reconciliation of this HelmRepository."),
    "timeout": s("Timeout is used for the index fetch operation for an HTTPS helm repository, and for remote OCI "
                 "Repository operations like pulling for an OCI helm chart by the associated HelmChart.",
                 pattern=TIMEOUT),
    "type": s("Type of the HelmRepository. When this field is set to \"oci\", the URL field value must be prefixed "
              "with \"oci://\".", enum=["default", "oci"]),
    "url": s("URL of the Helm repository, a valid URL contains at least a protocol and host.",
             pattern=r"^(http|https|oci)://.*$"),
}, ("url",), "HelmRepositorySpec specifies the required configuration to produce an Artifact for a Helm repository "
             "index YAML.")

CHART_SOURCE_REF = o({
    "apiVersion": s("APIVersion of the referent."),
    "kind": s("Kind of the referent, valid values are ('HelmRepository', 'GitRepository', 'Bucket').",
              enum=SOURCE_REF_KINDS),
    "name": s("Name of the referent."),
}, ("kind", "name"), "SourceRef is the reference to the Source the chart is available at.")

HELM_CHART = o({
    "chart": s("Chart is the name or path the Helm chart is available at in the SourceRef."),
    "ignoreMissingValuesFiles": b("IgnoreMissingValuesFiles controls whether to silently ignore missing values files "
                                  "rather than failing."),
    "interval": interval("Interval at which the HelmChart SourceRef is checked for updates."),
    "reconcileStrategy": s("ReconcileStrategy determines what enables the creation of a new artifact.",
                           default="ChartVersion", enum=["ChartVersion", "Revision"]),
    "sourceRef": CHART_SOURCE_REF,
    "suspend": b("Suspend tells the controller to suspend the reconciliation of this source."),
    "valuesFiles": a(s(), "ValuesFiles is an alternative list of values files to use as the chart values "
                          "(values.yaml is not included by default)."),
    "verify": VERIFY_OCI,
    "version": s("Version is the chart version semver expression, ignored for charts from GitRepository and Bucket "
                 "sources. Defaults to latest when omitted.", default="*"),
}, ("chart", "interval", "sourceRef"), "HelmChartSpec specifies the desired state of a Helm chart.")

# --- kustomize.toolkit.fluxcd.io ---------------------------------------------------------------------

PATCH = o({"patch": s("Patch contains an inline StrategicMerge patch or an inline JSON6902 patch with an array of "
                      "operation objects."),
           "target": o({"annotationSelector": s("AnnotationSelector is a string that follows the label selection "
                                                "expression."),
                        "group": s("Group is the API group to select resources from."),
                        "kind": s("Kind of the API Group to select resources from."),
                        "labelSelector": s("LabelSelector is a string that follows the label selection expression."),
                        "name": s("Name to match resources with."),
                        "namespace": s("Namespace to select resources from."),
                        "version": s("Version of the API Group to select resources from.")},
                       description="Target points to the resources that the patch document should be applied to.")},
          ("patch",), "Patch contains an inline StrategicMerge or JSON6902 patch, and the target the patch should be "
                      "applied to.")
IMAGE = o({"digest": s("Digest is the value used to replace the original image tag."),
           "name": s("Name is a tag-less image name."),
           "newName": s("NewName is the value used to replace the original name."),
           "newTag": s("NewTag is the value used to replace the original tag.")}, ("name",),
          "Image contains an image name, a new name, a new tag or digest, which will replace the original name and "
          "tag.")
KUBECONFIG = o({"secretRef": key_ref("SecretRef holds the name of a secret that contains a key with the kubeconfig "
                                     "file as the value.")}, ("secretRef",),
               "The KubeConfig for reconciling the object on a remote cluster.")

KUSTOMIZATION = o({
    "commonMetadata": o({"annotations": m(description="Annotations to be added to the object's metadata."),
                         "labels": m(description="Labels to be added to the object's metadata.")},
                        description="CommonMetadata specifies the common labels and annotations that are applied to all "
                                    "resources."),
    "components": a(s(), "Components specifies relative paths to specifications of other Components."),
    "decryption": o({"provider": s("Provider is the name of the decryption engine.", enum=["sops"]),
                     "secretRef": local_ref("The secret name containing the private OpenPGP keys used for "
                                            "decryption.")}, ("provider",),
                    "Decrypt Kubernetes secrets before applying them on the cluster."),
    "deletionPolicy": s("DeletionPolicy can be used to control garbage collection when this Kustomization is deleted.",
                        enum=["MirrorPrune", "Delete", "Orphan"]),
    "dependsOn": a(namespaced_ref(), "DependsOn may contain a meta.NamespacedObjectReference slice with references to "
                                     "Kustomization resources that must be ready before this Kustomization can be "
                                     "reconciled."),
    "force": {**b("Force instructs the controller to recreate resources when patching fails due to an immutable field "
                  "change."), "default": False},
    "healthCheckExprs": a(o({"apiVersion": s("APIVersion of the custom resource under evaluation."),
                             "current": s("Current is the CEL expression that determines if the status of the custom "
                                          "resource has reached the desired state."),
                             "failed": s("Failed is the CEL expression that determines if the status of the custom "
                                         "resource has failed to reach the desired state."),
                             "inProgress": s("InProgress is the CEL expression that determines if the status of the "
                                             "custom resource has not yet reached the desired state."),
                             "kind": s("Kind of the custom resource under evaluation.")}, ("apiVersion", "current", "kind")),
                          "HealthCheckExprs is a list of healthcheck expressions for evaluating the health of custom "
                          "resources using Common Expression Language (CEL)."),
    "healthChecks": a(o({"apiVersion": s("API version of the referent, if not specified the Kubernetes preferred version "
                                         "will be used."),
                         "kind": s("Kind of the referent."), "name": s("Name of the referent."),
                         "namespace": s("Namespace of the referent, when not specified it acts as "
                                        "LocalObjectReference.")}, ("kind", "name")),
                      "A list of resources to be included in the health assessment."),
    "images": a(IMAGE, "Images is a list of (image name, new name, new tag or digest) for changing image names, tags "
                       "or digests."),
    "interval": interval("The interval at which to reconcile the Kustomization. This interval is approximate and may "
                         "be subject to jitter to ensure efficient use of resources."),
    "kubeConfig": KUBECONFIG,
    "namePrefix": s("NamePrefix will prefix the names of all managed resources.", maxLength=200, minLength=1),
    "nameSuffix": s("NameSuffix will suffix the names of all managed resources.", maxLength=200, minLength=1),
    "patches": a(PATCH, "Strategic merge and JSON patches, defined as inline YAML objects, capable of targeting "
                        "objects based on kind, label and annotation selectors."),
    "path": s("Path to the directory containing the kustomization.yaml file, or the set of plain YAMLs a "
              "kustomization.yaml should be generated for. Defaults to 'None', which translates to the root path of "
              "the SourceRef."),
    "postBuild": o({"substitute": m(description="Substitute holds a map of key/value pairs."),
                    "substituteFrom": a(o({"kind": s("Kind of the values referent, valid values are ('Secret', "
                                                     "'ConfigMap').", enum=["Secret", "ConfigMap"]),
                                           "name": s("Name of the values referent.", maxLength=253, minLength=1),
                                           "optional": {**b("Optional indicates whether the referenced resource must "
                                                            "exist, or whether to tolerate its absence."),
                                                        "default": False}},
                                          ("kind", "name")),
                                        "SubstituteFrom holds references to ConfigMaps and Secrets containing the "
                                        "variables and their values to be substituted in the YAML manifests.")},
                   description="PostBuild describes which actions to perform on the YAML manifest generated by building "
                               "the kustomize overlay."),
    "prune": b("Prune enables garbage collection."),
    "retryInterval": s("The interval at which to retry a previously failed reconciliation. When not specified, the "
                       "controller uses the KustomizationSpec.Interval value to retry failures.", pattern=DURATION),
    "serviceAccountName": s("The name of the Kubernetes service account to impersonate when reconciling this "
                            "Kustomization."),
    "sourceRef": o({"apiVersion": s("API version of the referent."),
                    "kind": s("Kind of the referent.", enum=["OCIRepository", "GitRepository", "Bucket"]),
                    "name": s("Name of the referent."),
                    "namespace": s("Namespace of the referent, defaults to the namespace of the Kubernetes resource "
                                   "object that contains the reference.")}, ("kind", "name"),
                   "Reference of the source where the kustomization file is."),
    "suspend": b("This flag tells the controller to suspend subsequent kustomize executions, it does not apply to "
                 "already started executions. Defaults to false."),
    "targetNamespace": s("TargetNamespace sets or overrides the namespace in the kustomization.yaml file.",
                         maxLength=63, minLength=1),
    "timeout": s("Timeout for validation, apply and health checking operations. Defaults to 'Interval' duration.",
                 pattern=DURATION),
    "wait": b("Wait instructs the controller to check the health of all the reconciled resources. When enabled, the "
              "HealthChecks are ignored. Defaults to false."),
}, ("interval", "prune", "sourceRef"), "KustomizationSpec defines the configuration to calculate the desired state "
                                       "from a Source using Kustomize.")
KUSTOMIZATION_STATUS = status({
    "inventory": o({"entries": a(o({"id": s("ObjectMetadata ID in the format '<namespace>_<name>_<group>_<kind>'."),
                                    "v": s("Version is the API version of the Kubernetes resource object's kind.")},
                                   ("id", "v")), "Entries of Kubernetes resource object references.")},
                   ("entries",), "Inventory contains the list of Kubernetes resource object references that have been "
                                 "successfully applied."),
    "lastAppliedOriginRevision": s("The last successfully applied origin revision."),
    "lastAppliedRevision": s("The last successfully applied revision."),
    "lastAttemptedRevision": s("LastAttemptedRevision is the revision of the last reconciliation attempt."),
})

# --- helm.toolkit.fluxcd.io -------------------------------------------------------------------------

CRDS_POLICY = ["Skip", "Create", "CreateReplace"]


def _remediation(upgrade: bool) -> Schema:
    props = {"ignoreTestFailures": b("IgnoreTestFailures tells the controller to skip remediation when the Helm tests "
                                     "are run but fail."),
             "remediateLastFailure": b("RemediateLastFailure tells the controller to remediate the last failure, when "
                                       "no retries remain."),
             "retries": {"type": "integer", "description": "Retries is the number of retries that should be attempted "
                         "on failures before bailing. Remediation, using an uninstall or rollback, is performed "
                         "between each attempt. Defaults to '0', a negative integer equals to unlimited retries."}}
    if upgrade:
        props["strategy"] = s("Strategy to use for failure remediation. Defaults to 'rollback'.",
                              enum=["rollback", "uninstall"])
    return o(props, description=f"Remediation holds the remediation configuration for when the Helm "
                                f"{'upgrade' if upgrade else 'install'} action for the HelmRelease fails.")


_WAIT = {"disableHooks": b("DisableHooks prevents hooks from running during the Helm action."),
         "disableWait": b("DisableWait disables the waiting for resources to be ready after a Helm action has been "
                          "performed."),
         "disableWaitForJobs": b("DisableWaitForJobs disables waiting for jobs to complete after a Helm action has "
                                 "been performed."),
         "timeout": s("Timeout is the time to wait for any individual Kubernetes operation during the performance of "
                      "a Helm action.", pattern=DURATION)}
HELM_RELEASE = o({
    "chart": o({"metadata": o({"annotations": m(description="Annotations is an unstructured key value map stored with "
                                                            "a resource that may be set by external tools."),
                               "labels": m(description="Map of string keys and values that can be used to organize "
                                                       "and categorize (scope and select) objects.")},
                              description="ObjectMeta holds the template for metadata like labels and annotations."),
                "spec": o({"chart": s("The name or path the Helm chart is available at in the SourceRef.",
                                      maxLength=2048, minLength=1),
                           "ignoreMissingValuesFiles": b("IgnoreMissingValuesFiles controls whether to silently ignore "
                                                         "missing values files rather than failing."),
                           "interval": s("Interval at which to check the v1.Source for updates. Defaults to "
                                         "'HelmReleaseSpec.Interval'.", pattern=DURATION),
                           "reconcileStrategy": s("Determines what enables the creation of a new artifact.",
                                                  default="ChartVersion", enum=["ChartVersion", "Revision"]),
                           "sourceRef": o({"apiVersion": s("APIVersion of the referent."),
                                           "kind": s("Kind of the referent.", enum=SOURCE_REF_KINDS),
                                           "name": s("Name of the referent.", maxLength=253, minLength=1),
                                           "namespace": s("Namespace of the referent.", maxLength=63, minLength=1)},
                                          ("kind", "name"), "The name and namespace of the v1.Source the chart is "
                                                            "available at."),
                           "valuesFiles": a(s(), "Alternative list of values files to use as the chart values "
                                                 "(values.yaml is not included by default), expected to be a relative "
                                                 "path in the SourceRef."),
                           "verify": o({"provider": s("Provider specifies the technology used to sign the OCI "
                                                      "Helm chart.", default="cosign", enum=["cosign", "notation"]),
                                        "secretRef": local_ref("SecretRef specifies the Kubernetes Secret containing "
                                                               "the trusted public keys.")}, ("provider",),
                                       "Verify contains the secret name containing the trusted public keys used to "
                                       "verify the signature and specifies which provider to use to check whether OCI "
                                       "image is authentic."),
                           "version": s("Version semver expression, ignored for charts from v1.GitRepository and "
                                        "v1beta2.Bucket sources. Defaults to latest when omitted.", default="*")},
                          ("chart", "sourceRef"), "Spec holds the template for the v1.HelmChartSpec for this "
                                                  "HelmRelease.")}, ("spec",),
               "Chart defines the template of the v1.HelmChart that should be created for this HelmRelease."),
    "chartRef": o({"apiVersion": s("APIVersion of the referent."),
                   "kind": s("Kind of the referent.", enum=["OCIRepository", "HelmChart"]),
                   "name": s("Name of the referent.", maxLength=253, minLength=1),
                   "namespace": s("Namespace of the referent, defaults to the namespace of the Kubernetes resource "
                                  "object that contains the reference.", maxLength=63, minLength=1)},
                  ("kind", "name"), "ChartRef holds a reference to a source controller resource containing the Helm "
                                    "chart artifact."),
    "dependsOn": a(namespaced_ref(), "DependsOn may contain a meta.NamespacedObjectReference slice with references to "
                                     "HelmRelease resources that must be ready before this HelmRelease can be "
                                     "reconciled."),
    "driftDetection": o({"ignore": a(o({"paths": a(s(), "Paths is a list of JSON Pointer (RFC 6901) paths to be "
                                                        "excluded from consideration in a Kubernetes object."),
                                        "target": o({"annotationSelector": s(), "group": s(), "kind": s(),
                                                     "labelSelector": s(), "name": s(), "namespace": s(),
                                                     "version": s()},
                                                    description="Target is a selector for specifying Kubernetes objects "
                                                                "to which this rule applies.")}, ("paths",)),
                                     "Ignore contains a list of rules for specifying which changes to ignore during "
                                     "diffing."),
                         "mode": s("Mode defines how differences should be handled between the Helm manifest and the "
                                   "manifest currently applied to the cluster.", enum=["enabled", "warn", "disabled"])},
                        description="DriftDetection holds the configuration for detecting and handling differences "
                                    "between the manifest in the Helm storage and the resources currently existing in "
                                    "the cluster."),
    "install": o({"crds": s("CRDs upgrade CRDs from the Helm Chart's crds directory according to the CRD upgrade "
                            "policy provided here.", enum=CRDS_POLICY),
                  "createNamespace": b("CreateNamespace tells the Helm install action to create the "
                                       "HelmReleaseSpec.TargetNamespace if it does not exist yet."),
                  "disableOpenAPIValidation": b("DisableOpenAPIValidation prevents the Helm install action from "
                                                "validating rendered templates against the Kubernetes OpenAPI Schema."),
                  "disableSchemaValidation": b("DisableSchemaValidation prevents the Helm install action from "
                                               "validating the values against the JSON Schema."),
                  "disableTakeOwnership": b("DisableTakeOwnership disables taking ownership of existing resources "
                                            "during the Helm install action."),
                  "remediation": _remediation(False),
                  "replace": b("Replace tells the Helm install action to re-use the 'ReleaseName', but only if that "
                               "name is a deleted release which remains in the history."),
                  "skipCRDs": b("SkipCRDs tells the Helm install action to not install any CRDs."), **_WAIT},
                 description="Install holds the configuration for Helm install actions for this HelmRelease."),
    "interval": interval("Interval at which to reconcile the Helm release."),
    "kubeConfig": KUBECONFIG,
    "maxHistory": {"type": "integer", "description": "MaxHistory is the number of revisions saved by Helm for this "
                   "HelmRelease. Use '0' for an unlimited number of revisions; defaults to '5'."},
    "persistentClient": b("PersistentClient tells the controller to use a persistent Kubernetes client for this "
                          "release."),
    "postRenderers": a(o({"kustomize": o({"images": a(IMAGE, "Images is a list of (image name, new name, new tag or "
                                                             "digest) for changing image names, tags or digests."),
                                          "patches": a(PATCH, "Strategic merge and JSON patches, defined as inline YAML "
                                                              "objects, capable of targeting objects based on kind, "
                                                              "label and annotation selectors.")},
                                         description="Kustomization to apply as PostRenderer.")}),
                       "PostRenderers holds an array of Helm PostRenderers, which will be applied in order of their "
                       "definition."),
    "releaseName": s("ReleaseName used for the Helm release. Defaults to a composition of '[TargetNamespace-]Name'.",
                     maxLength=53, minLength=1),
    "rollback": o({"cleanupOnFail": b("CleanupOnFail allows deletion of new resources created during the Helm rollback "
                                      "action when it fails."),
                   "force": b("Force forces resource updates through a replacement strategy."),
                   "recreate": b("Recreate performs pod restarts for the resource if applicable."), **_WAIT},
                  description="Rollback holds the configuration for Helm rollback actions for this HelmRelease."),
    "serviceAccountName": s("The name of the Kubernetes service account to impersonate when reconciling this "
                            "HelmRelease.", maxLength=253, minLength=1),
    "storageNamespace": s("StorageNamespace used for the Helm storage. Defaults to the namespace of the HelmRelease.",
                          maxLength=63, minLength=1),
    "suspend": b("Suspend tells the controller to suspend reconciliation for this HelmRelease, it does not apply to "
                 "already started reconciliations. Defaults to false."),
    "targetNamespace": s("TargetNamespace to target when performing operations for the HelmRelease. Defaults to the "
                         "namespace of the HelmRelease.", maxLength=63, minLength=1),
    "test": o({"enable": b("Enable enables Helm test actions for this HelmRelease after an Helm install or upgrade "
                           "action has been performed."),
               "filters": a(o({"exclude": b("Exclude specifies whether the named test should be excluded."),
                               "name": s("Name is the name of the test.", maxLength=253, minLength=1)}, ("name",)),
                            "Filters is a list of tests to run or exclude from running."),
               "ignoreFailures": b("IgnoreFailures tells the controller to skip remediation when the Helm tests are run "
                                   "but fail."),
               "timeout": s("Timeout is the time to wait for any individual Kubernetes operation during the "
                            "performance of a Helm test action.", pattern=DURATION)},
              description="Test holds the configuration for Helm test actions for this HelmRelease."),
    "timeout": s("Timeout is the time to wait for any individual Kubernetes operation (like Jobs for hooks) during the "
                 "performance of a Helm action. Defaults to '5m0s'.", pattern=DURATION),
    "uninstall": o({"deletionPropagation": s("DeletionPropagation specifies the deletion propagation policy when a Helm "
                                             "uninstall is performed.", default="background",
                                             enum=["background", "foreground", "orphan"]),
                    "disableHooks": b("DisableHooks prevents hooks from running during the Helm rollback action."),
                    "disableWait": b("DisableWait disables waiting for all the resources to be deleted after a Helm "
                                     "uninstall is performed."),
                    "keepHistory": b("KeepHistory tells Helm to remove all associated resources and mark the release "
                                     "as deleted, but retain the release history."),
                    "timeout": _WAIT["timeout"]},
                   description="Uninstall holds the configuration for Helm uninstall actions for this HelmRelease."),
    "upgrade": o({"cleanupOnFail": b("CleanupOnFail allows deletion of new resources created during the Helm upgrade "
                                     "action when it fails."),
                  "crds": s("CRDs upgrade CRDs from the Helm Chart's crds directory according to the CRD upgrade "
                            "policy provided here.", enum=CRDS_POLICY),
                  "disableOpenAPIValidation": b("DisableOpenAPIValidation prevents the Helm upgrade action from "
                                                "validating rendered templates against the Kubernetes OpenAPI Schema."),
                  "disableSchemaValidation": b("DisableSchemaValidation prevents the Helm upgrade action from "
                                               "validating the values against the JSON Schema."),
                  "disableTakeOwnership": b("DisableTakeOwnership disables taking ownership of existing resources "
                                            "during the Helm upgrade action."),
                  "force": b("Force forces resource updates through a replacement strategy."),
                  "preserveValues": b("PreserveValues will make Helm reuse the last release's values and merge in "
                                      "overrides from 'Values'."),
                  "remediation": _remediation(True), **_WAIT},
                 description="Upgrade holds the configuration for Helm upgrade actions for this HelmRelease."),
    "values": open_object("Values holds the values for this Helm release."),
    "valuesFrom": a(o({"kind": s("Kind of the values referent, valid values are ('Secret', 'ConfigMap').",
                                 enum=["Secret", "ConfigMap"]),
                       "name": s("Name of the values referent. Should reside in the same namespace as the referring "
                                 "resource.", maxLength=253, minLength=1),
                       "optional": b("Optional marks this ValuesReference as optional."),
                       "targetPath": s("TargetPath is the YAML dot notation path the value should be merged at.",
                                       maxLength=250, pattern=r"^([a-zA-Z0-9_\-.\\\/]|\[[0-9]{1,5}\])+$"),
                       "valuesKey": s("ValuesKey is the data key where the values.yaml or a specific value can be "
                                      "found at. Defaults to 'values.yaml'.", maxLength=253,
                                      pattern=r"^[\-._a-zA-Z0-9]+$")}, ("kind", "name")),
                    "ValuesFrom holds references to resources containing Helm values for this HelmRelease, and "
                    "information about how they should be merged."),
}, ("interval",), "HelmReleaseSpec defines the desired state of a Helm release.",
    **{"x-kubernetes-validations": [{"message": "either chart or chartRef must be set",
                                     "rule": "(has(self.chart) && !has(self.chartRef)) || (!has(self.chart) && "
                                             "has(self.chartRef))"}]})
HELM_RELEASE_STATUS = status({
    "failures": i("Failures is the reconciliation failure count against the latest desired state.", "int64"),
    "helmChart": s("HelmChart is the namespaced name of the HelmChart resource created by the controller for the "
                   "HelmRelease."),
    "history": a(open_object(), "History holds the history of Helm releases performed for this HelmRelease up to the "
                                "last successfully completed release."),
    "installFailures": i("InstallFailures is the install failure count against the latest desired state.", "int64"),
    "lastAttemptedConfigDigest": s("LastAttemptedConfigDigest is the digest for the config (better known as \"values\") "
                                   "of the last reconciliation attempt."),
    "lastAttemptedGeneration": i("LastAttemptedGeneration is the last generation the controller attempted to "
                                 "reconcile.", "int64"),
    "lastAttemptedReleaseAction": s("LastAttemptedReleaseAction is the last release action performed for this "
                                    "HelmRelease.", enum=["install", "upgrade"]),
    "lastAttemptedRevision": s("LastAttemptedRevision is the Source revision of the last reconciliation attempt."),
    "storageNamespace": s("StorageNamespace is the namespace of the Helm release storage for the current release."),
    "upgradeFailures": i("UpgradeFailures is the upgrade failure count against the latest desired state.", "int64"),
})

# --- notification.toolkit.fluxcd.io ------------------------------------------------------------------

PROVIDER_TYPES = ["slack", "discord", "msteams", "rocket", "generic", "generic-hmac", "github", "gitlab", "gitea",
                  "bitbucketserver", "bitbucket", "azuredevops", "googlechat", "googlepubsub", "webex", "sentry",
                  "azureeventhub", "telegram", "lark", "matrix", "opsgenie", "alertmanager", "grafana",
                  "githubdispatch", "pagerduty", "datadog", "nats"]
EVENT_SOURCE_KINDS = ["Bucket", "GitRepository", "Kustomization", "HelmRelease", "HelmChart", "HelmRepository",
                      "ImageRepository", "ImagePolicy", "ImageUpdateAutomation", "OCIRepository"]
CROSS_NAMESPACE_REF = o({
    "apiVersion": s("API version of the referent."),
    "kind": s("Kind of the referent.", enum=EVENT_SOURCE_KINDS),
    "matchLabels": m(description="MatchLabels is a map of {key,value} pairs."),
    "name": s("Name of the referent. If multiple resources are targeted `*` may be set.", maxLength=53, minLength=1),
    "namespace": s("Namespace of the referent.", maxLength=53, minLength=1),
}, ("kind", "name"), "CrossNamespaceObjectReference contains enough information to let you locate the typed "
                     "referenced object at cluster level")

PROVIDER = o({
    "address": s("Address specifies the endpoint, in a generic sense, to where alerts are sent.", maxLength=2048),
    "certSecretRef": local_ref("CertSecretRef specifies the Secret containing a PEM-encoded CA certificate (in the "
                               "`ca.crt` key)."),
    "channel": s("Channel specifies the destination channel where events should be posted.", maxLength=2048),
    "interval": s("Interval at which to reconcile the Provider with its Secret references. Deprecated and not used in "
                  "v1beta3.", pattern=DURATION),
    "proxy": s("Proxy the HTTP/S address of the proxy server.", maxLength=2048, pattern=r"^(http|https)://.*$"),
    "secretRef": local_ref("SecretRef specifies the Secret containing the authentication credentials for this "
                           "Provider."),
    "suspend": b("Suspend tells the controller to suspend subsequent events handling for this Provider."),
    "timeout": s("Timeout for sending alerts to the Provider.", pattern=TIMEOUT),
    "type": s("Type specifies which Provider implementation to use.", enum=PROVIDER_TYPES),
    "username": s("Username specifies the name under which events are posted.", maxLength=2048),
}, ("type",), "ProviderSpec defines the desired state of the Provider.")

ALERT = o({
    "eventMetadata": m(description="EventMetadata is an optional field for adding metadata to events dispatched by "
                                   "the controller."),
    "eventSeverity": s("EventSeverity specifies how to filter events based on severity. If set to 'info' no events "
                       "will be filtered.", default="info", enum=["info", "error"]),
    "eventSources": a(CROSS_NAMESPACE_REF, "EventSources specifies how to filter events based on the involved object "
                                           "kind, name and namespace."),
    "exclusionList": a(s(), "ExclusionList specifies a list of Golang regular expressions to be used for excluding "
                            "messages."),
    "inclusionList": a(s(), "InclusionList specifies a list of Golang regular expressions to be used for including "
                            "messages."),
    "providerRef": local_ref("ProviderRef specifies which Provider this Alert should use."),
    "summary": s("Summary holds a short description of the impact and affected cluster.", maxLength=255),
    "suspend": b("Suspend tells the controller to suspend subsequent events dispatching for this Alert."),
}, ("eventSources", "providerRef"), "AlertSpec defines an alerting rule for events involving a list of objects.")

RECEIVER = o({
    "events": a(s(), "Events specifies the list of event types to handle, e.g. 'push' for GitHub or 'Push Hook' for "
                     "GitLab."),
    "interval": s("Interval at which to reconcile the Receiver with its Secret references.", default="10m",
                  pattern=DURATION),
    "resourceFilter": s("ResourceFilter is a CEL expression expected to return a boolean that is evaluated for each "
                        "resource referenced in the Resources field when a webhook is received."),
    "resources": a(CROSS_NAMESPACE_REF, "A list of resources to be notified about changes."),
    "secretRef": local_ref("SecretRef specifies the Secret containing the token used to validate the payload "
                           "authenticity."),
    "suspend": b("Suspend tells the controller to suspend subsequent events handling for this receiver."),
    "type": s("Type of webhook sender, used to determine the validation procedure and payload deserialization.",
              enum=["generic", "generic-hmac", "github", "gitlab", "bitbucket", "harbor", "dockerhub", "quay", "gcr",
                    "nexus", "acr", "cdevents"]),
}, ("resources", "secretRef", "type"), "ReceiverSpec defines the desired state of the Receiver.")


def _source_status(**extra: Schema) -> Schema:
    return status({"url": s("URL is the dynamic fetch link for the latest Artifact."), **extra}, artifact=True)


API: dict[tuple[str, str], tuple[Schema, list[dict[str, str]]]] = {
    ("GitRepository", "v1"): (
        resource("GitRepository", GIT_REPOSITORY, _source_status(
            includedArtifacts=a(ARTIFACT, "IncludedArtifacts contains a list of the last successfully included "
                                          "Artifacts as instructed by GitRepositorySpec.Include."),
            observedIgnore=s("ObservedIgnore is the observed exclusion patterns used for constructing the source "
                             "artifact."),
            observedRecurseSubmodules=b("ObservedRecurseSubmodules is the observed resource submodules configuration "
                                        "used to produce the current Artifact."),
            sourceVerificationMode=s("SourceVerificationMode is the last used verification mode indicating which Git "
                                     "object(s) have been verified.")),
                 "GitRepository is the Schema for the gitrepositories API."),
        [url_column(), AGE_COLUMN, *READY_COLUMNS]),
    ("OCIRepository", "v1beta2"): (
        resource("OCIRepository", OCI_REPOSITORY, _source_status(
            observedIgnore=s("ObservedIgnore is the observed exclusion patterns used for constructing the source "
                             "artifact.")), "OCIRepository is the Schema for the ocirepositories API"),
        [url_column(), *READY_COLUMNS, AGE_COLUMN]),
    ("Bucket", "v1"): (
        resource("Bucket", BUCKET, _source_status(observedIgnore=s("ObservedIgnore is the observed exclusion patterns "
                                                                   "used for constructing the source artifact.")),
                 "Bucket is the Schema for the buckets API."),
        [url_column(".spec.endpoint", "Endpoint"), AGE_COLUMN, *READY_COLUMNS]),
    ("HelmRepository", "v1"): (
        resource("HelmRepository", HELM_REPOSITORY, _source_status(),
                 "HelmRepository is the Schema for the helmrepositories API."),
        [url_column(), AGE_COLUMN, *READY_COLUMNS]),
    ("HelmChart", "v1"): (
        resource("HelmChart", HELM_CHART, _source_status(
            observedChartName=s("ObservedChartName is the last observed chart name as specified by the resolved chart "
                                "reference."),
            observedSourceArtifactRevision=s("ObservedSourceArtifactRevision is the last observed Artifact.Revision of "
                                             "the HelmChartSpec.SourceRef."),
            observedValuesFiles=a(s(), "ObservedValuesFiles are the observed value files of the last successful "
                                       "reconciliation.")), "HelmChart is the Schema for the helmcharts API."),
        [{"jsonPath": ".spec.chart", "name": "Chart", "type": "string"},
         {"jsonPath": ".spec.version", "name": "Version", "type": "string"},
         {"jsonPath": ".spec.sourceRef.kind", "name": "Source Kind", "type": "string"},
         {"jsonPath": ".spec.sourceRef.name", "name": "Source Name", "type": "string"}, AGE_COLUMN, *READY_COLUMNS]),
    ("Kustomization", "v1"): (
        resource("Kustomization", KUSTOMIZATION, KUSTOMIZATION_STATUS,
                 "Kustomization is the Schema for the kustomizations API."),
        [AGE_COLUMN, *READY_COLUMNS]),
    ("HelmRelease", "v2"): (
        resource("HelmRelease", HELM_RELEASE, HELM_RELEASE_STATUS, "HelmRelease is the Schema for the helmreleases API"),
        [AGE_COLUMN, *READY_COLUMNS]),
    ("Provider", "v1beta3"): (resource("Provider", PROVIDER, None, "Provider is the Schema for the providers API"),
                              [AGE_COLUMN]),
    ("Alert", "v1beta3"): (resource("Alert", ALERT, None, "Alert is the Schema for the alerts API"), [AGE_COLUMN]),
    ("Receiver", "v1"): (
        resource("Receiver", RECEIVER, status({"webhookPath": s("WebhookPath is the generated incoming webhook address "
                                                                "in the format of '/hook/sha256sum(token+name+"
                                                                "namespace)'.")}),
                 "Receiver is the Schema for the receivers API."),
        [AGE_COLUMN, *READY_COLUMNS]),
}
"""(kind, version) -> (openAPIV3Schema, additionalPrinterColumns) of the versions the sandbox serves in full."""


API[("OCIRepository", "v1")] = API[("OCIRepository", "v1beta2")]
"""source-controller v1.6's OCIRepository v1 (GA) has v1beta2's fields."""


def version_entry(kind: str, version: str) -> tuple[Schema, list[dict[str, str]]]:
    """The schema and printer columns of one served version (open, with the same columns, when not in API)."""
    if (kind, version) in API:
        return API[(kind, version)]
    primary = next((cols for (k, _), (_, cols) in API.items() if k == kind), [AGE_COLUMN, *READY_COLUMNS])
    return {"type": "object", "x-kubernetes-preserve-unknown-fields": True}, primary

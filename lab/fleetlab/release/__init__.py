"""The Flux release's install manifests: v2.5.1 (whose controller modules the Go proxy does not serve) written
from the release's facts and held against the real manifests by a test; the local stack's release assembled
from the CRDs of the controller modules it builds.
"""

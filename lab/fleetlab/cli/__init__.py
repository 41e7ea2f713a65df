"""The stand-ins' verbs of `fleet`: `sandbox`, `local`, `charts` and `oci`, registered through the
`fleetlib.commands` entry points (fleetlab.plugin)."""

"""The fleet's offline artifact sources: a Helm repository (charts.fleet.internal) and an OCI registry
(registry.fleet.internal) in FLEET_HOME, served by a chart server that answers for those two hosts as an HTTP
proxy and refuses every other host. Real Helm and Flux clients read them; shared by both stand-ins.
"""

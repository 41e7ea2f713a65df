"""Controller usage: a deterministic model of the Flux controllers' CPU and memory (a timeline of the objects
they reconcile, a daily cycle, deploy bursts), served as a Prometheus-compatible HTTP API (a PromQL subset) and
as metrics.k8s.io; the local stack's scrapes of the real controllers' /metrics go through the same API.
"""

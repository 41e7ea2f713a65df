"""The Kubernetes API server, played by Python: the wire protocol kubectl and the official client speak (HTTPS,
bearer tokens, discovery, OpenAPI, watch, server-side apply with managed fields, strategic merge, tables,
protobuf bodies for a few kinds), kube-apiserver's validation and admission for the kinds the stand-ins use, and
CRDs with structural schemas; state in one SQLite database per cluster. Held against the real server by the
differential suite (fleetlab.fidelity); what it does not do is listed in the README's known differences.
"""

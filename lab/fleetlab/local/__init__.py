"""The local stack (`target: local`): upstream kube-apiserver, controller-manager, scheduler and etcd, kwok for
the node and pods, and the real Flux controllers, all built from pinned versions in the Go module proxy and run
as host processes under one supervisor per cluster, no containers. As real as it gets on this machine; the judge
the sandbox is held against.
"""

"""Flux release manifests (`install.yaml`) from where the cluster's target serves them: github.com's release
downloads for `live` (cached under FLEET_HOME/cache/flux/<version>/ with a SHA-256 beside it, re-downloaded
when the cache does not match), the stand-ins' local copies otherwise.

    text = install_manifests(targets.resolve(params, home=home), home=home, say=print)
"""

from __future__ import annotations

import hashlib
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from fleetlib.errors import GitError, clip
from fleetlib.files import write_atomic
from fleetlib.targets import Endpoints


def install_manifests(where: Endpoints, *, home: Path, say: Callable[[str], None] = lambda _text: None) -> str:
    """The release's install.yaml text; GitError naming the URL when it cannot be had."""
    version, url = where.flux_version, where.release_url
    cache = home / "cache" / "flux" / version / "install.yaml"
    sums = cache.with_suffix(".yaml.sha256")
    if where.cache_releases and cache.exists() and sums.exists():
        data = cache.read_bytes()
        if hashlib.sha256(data).hexdigest() == sums.read_text().split()[0]:
            return data.decode()
    say(f"downloading Flux {version} manifests from {url}")
    try:
        data = urllib.request.urlopen(url, timeout=60).read()  # an https or local URL
    except (urllib.error.URLError, TimeoutError) as e:
        raise GitError(f"downloading the Flux {version} release manifests from {url}: {clip(str(e), 200)}",
                       hint=where.releases_hint) from e
    if where.cache_releases:
        write_atomic(cache, data.decode())
        write_atomic(sums, f"{hashlib.sha256(data).hexdigest()}  install.yaml\n")
    return data.decode()

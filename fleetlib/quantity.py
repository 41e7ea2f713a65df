"""Kubernetes resource quantities as numbers: CPU in cores, memory in bytes.

    parse_quantity("50m")   # 0.05 (cores)
    parse_quantity("64Mi")  # 67108864 (bytes)
    format_cpu(0.05)        # "50m"
"""

from __future__ import annotations

import math
import re

_QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)([a-zA-Z]*)$")
_SUFFIX = {
    "n": 1e-9, "u": 1e-6, "m": 1e-3, "": 1.0, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18,
    "Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40, "Pi": 2.0**50, "Ei": 2.0**60,
}


def parse_quantity(text: str | int | float) -> float:
    """Parse a quantity string into its plain value; raises ValueError naming what is allowed."""
    if isinstance(text, bool):
        raise ValueError("a quantity is a string such as '100m' or '64Mi'")
    if isinstance(text, (int, float)):
        return float(text)
    match = _QUANTITY.match(text.strip()) if isinstance(text, str) else None
    if not match or match.group(2) not in _SUFFIX:
        raise ValueError(f"{text!r} is not a quantity such as '100m', '1', '64Mi' or '1Gi'")
    return float(match.group(1)) * _SUFFIX[match.group(2)]


def format_cpu(cores: float) -> str:
    """Millicores, as the Flux manifests write CPU (`50m`, `1000m`); whole millicores, rounded up."""
    return f"{math.ceil(round(cores * 1000, 6))}m"


def format_memory(value: float) -> str:
    """Gi when it divides exactly, else Mi rounded up (memory is never recommended below a MiB)."""
    for suffix, size in (("Gi", 2**30), ("Mi", 2**20)):
        if value >= size and value % size == 0:
            return f"{int(value // size)}{suffix}"
    return f"{-(-int(value) // 2**20)}Mi"

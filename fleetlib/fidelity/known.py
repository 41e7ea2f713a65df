"""Differences between the sandbox and the local stack that remain, each with its reason. A scenario whose only
differences are listed here is judged `known`; the README's sandbox section lists every entry (a test checks).

Keys are (scenario, observation key).
"""

from __future__ import annotations

KNOWN: dict[tuple[str, str], str] = {
}

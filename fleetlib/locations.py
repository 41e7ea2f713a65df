"""Where things live: the fleet root (the checkout holding `parameters/`) and FLEET_HOME.

The fleet root is `$FLEET_ROOT`, else the nearest ancestor of the working directory that holds
`parameters/`, else the checkout fleetlib itself was installed from. So runbooks find it under
papermill (any working directory), nbmake (the notebook's folder) and JupyterLab alike.
Sandbox state, caches and run archives live under `$FLEET_HOME` (default `~/.fleet`).

    root = fleet_root()          # /home/me/fleetlib
    home = fleet_home()          # /home/me/.fleet
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from fleetlib.errors import InputError

PARAMETERS_DIR = "parameters"


def _holds_parameters(path: Path) -> bool:
    return (path / PARAMETERS_DIR).is_dir()


def fleet_root(*, cwd: Path | None = None, env: Mapping[str, str] = os.environ) -> Path:
    """Find the fleet root, or raise InputError saying how to point at one."""
    explicit = env.get("FLEET_ROOT")
    if explicit:
        root = Path(explicit).expanduser().resolve()
        if not _holds_parameters(root):
            raise InputError(
                f"FLEET_ROOT={explicit} has no {PARAMETERS_DIR}/ folder",
                hint="point FLEET_ROOT at a fleetlib checkout, or unset it",
            )
        return root
    start = (cwd or Path.cwd()).resolve()
    for candidate in (start, *start.parents):
        if _holds_parameters(candidate):
            return candidate
    installed_from = Path(__file__).resolve().parent.parent
    if _holds_parameters(installed_from):
        return installed_from
    raise InputError(
        f"no {PARAMETERS_DIR}/ folder in {start} or its parents",
        hint="run from inside a fleetlib checkout or set FLEET_ROOT",
    )


def fleet_home(*, env: Mapping[str, str] = os.environ) -> Path:
    """FLEET_HOME, created on first use (private to the user, 0700): sandbox state, caches and run archives."""
    given = env.get("FLEET_HOME")
    home = Path(given or Path.home() / ".fleet").expanduser()
    shown = f"FLEET_HOME={given}" if given else str(home)
    if home.exists() and not home.is_dir():
        raise InputError(f"{shown} is a file, not a folder", hint="point FLEET_HOME at a folder, or unset it")
    old = os.umask(0o077)
    try:
        home.mkdir(parents=True, exist_ok=True)
        if home.stat().st_mode & 0o077 and home.stat().st_uid == os.getuid():
            home.chmod(0o700)  # made before fleetlib kept it private: close it now
    except OSError as e:
        raise InputError(f"{shown}: cannot create the folder: {e.strerror or e}",
                         hint="point FLEET_HOME at a folder you can write to") from None
    finally:
        os.umask(old)
    return home

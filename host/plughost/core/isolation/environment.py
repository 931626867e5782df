"""An isolated plugin's own virtualenv, layered over the host's environment.

The worker needs plughost itself (and FastMCP, SQLAlchemy...), and the plugin needs its own
pins. The virtualenv gets a ``.pth`` file that adds the host environment's site-packages
*after* its own: what is installed in the virtualenv (the plugin, the versions it pins) wins,
and everything else, plughost included, is the host's very installation, so the worker always
runs the host's version of plughost and creating the environment installs only what differs.
The price: the host's packages are visible to the plugin as a fallback (an undeclared import
may work), and a pin that replaces one of plughost's own dependencies (pydantic, say) changes
it under the worker's plughost too. Installing plughost into the virtualenv instead would
isolate completely, at the cost of a full second installation to keep at the host's version.
"""

from __future__ import annotations

import site
import subprocess
import sys
import venv
from collections.abc import Sequence
from pathlib import Path

from plughost.errors import PlughostError

#: The ``.pth`` file that layers the host's environment under the virtualenv's own.
LAYER_FILE = "plughost-host-environment.pth"


class IsolationEnvironmentError(PlughostError):
    """The virtualenv could not be created, or its packages not installed."""


def host_site_dirs() -> list[str]:
    """The site-packages directories of the environment the host runs from."""
    found = [*site.getsitepackages(), site.getusersitepackages()]
    return [d for d in dict.fromkeys(found) if Path(d).is_dir()]


def create(path: Path, requirements: Sequence[str]) -> Path:
    """A virtualenv at ``path`` layered over the host's, with ``requirements`` (and any pip
    options among them) installed by its pip; its interpreter."""
    venv.EnvBuilder(with_pip=True, clear=False, symlinks=True).create(path)
    python = path / "bin" / "python"
    own = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    lines = [f"import site; site.addsitedir({d!r})" for d in host_site_dirs()]
    (Path(own) / LAYER_FILE).write_text("\n".join(lines) + "\n")
    if requirements:
        done = subprocess.run(
            [str(python), "-m", "pip", "install", "--disable-pip-version-check", *requirements],
            stdout=sys.stderr,
            stderr=sys.stderr,
        )
        if done.returncode != 0:
            raise IsolationEnvironmentError(
                f"pip could not install {' '.join(requirements)} into {path} "
                f"(exit {done.returncode}); its output is above"
            )
    return python

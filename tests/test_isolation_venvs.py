"""Two plugins that pin conflicting versions of one library, served by one host (issue 26).

``pina`` needs pinlib 1 and ``pinb`` pinlib 2 (both local source packages under
tests/isolation/, installed by pip from these paths). Neither can be installed beside the other
in the host's environment; ``plughost isolate create`` makes each a virtualenv of its own
(layered over the host's, so plughost is the host's), and one ``plughost serve`` runs each in a
worker from its virtualenv, each seeing its own pinlib, behind the host's sign-in and scopes.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from processes import cli_env, run_cli, serve

HERE = Path(__file__).parent / "isolation"


def _create(env: dict[str, str], namespace: str, *requirements: Path) -> dict[str, str]:
    done = run_cli(env, "isolate", "create", namespace, *map(str, requirements), timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)


def test_conflicting_pins_are_served_side_by_side_each_from_its_own_virtualenv(tmp_path: Path):
    env = cli_env(tmp_path / "data")
    with ThreadPoolExecutor(2) as pool:
        made = pool.map(
            lambda args: _create(env, *args),
            [
                ("pina", HERE / "plugins" / "pin_a", HERE / "libs" / "pinlib-1"),
                ("pinb", HERE / "plugins" / "pin_b", HERE / "libs" / "pinlib-2"),
            ],
        )
        settings = {key: value for found in made for key, value in found.items()}
    assert settings["PLUGHOST_ISOLATION__PINA"] == "process"
    assert settings["PLUGHOST_WORKERS__PINA__PYTHON"] != settings["PLUGHOST_WORKERS__PINB__PYTHON"]

    served = serve({**env, **settings}, "--log-level", "warning")
    try:
        agent = served.client("pina:read pinb:read")
        assert agent.call("pina_version").data == {"result": "1.0.0"}
        assert agent.call("pinb_version").data == {"result": "2.0.0"}
        refused = served.client("pina:read").call("pinb_version")
        assert refused.status_code == 403 and refused.missing_scopes == ["pinb:read"]
    finally:
        served.stop()

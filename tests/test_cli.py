"""The operator's commands: ``plughost token`` and ``plughost check``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import jwt
from processes import cli_env, run_cli

from plughost.testing import free_port


def run(tmp_path, *args, **env):
    return run_cli(cli_env(tmp_path / "data", **env), *args)


def test_token_carries_the_requested_scopes_tenant_and_subject(tmp_path):
    done = run(
        tmp_path,
        "token",
        "--scope",
        "todo:read",
        "--tenant",
        "acme",
        "--subject",
        "ann",
        "--ttl",
        "120",
        "--url",
        "http://127.0.0.1:9999",
    )
    assert done.returncode == 0, done.stderr
    claims = jwt.decode(done.stdout.strip(), options={"verify_signature": False})
    assert claims["scope"] == "todo:read"
    assert (claims["oid"], claims["sub"]) == ("acme", "ann")
    assert claims["aud"] == "http://127.0.0.1:9999/mcp"
    assert claims["exp"] - claims["iat"] == 120


def test_token_refuses_unknown_scopes(tmp_path):
    done = run(tmp_path, "token", "--scope", "todo:read admin:everything")
    assert done.returncode == 2
    assert "unknown scope(s) admin:everything" in done.stderr


def test_token_refuses_a_lifetime_the_host_would_refuse(tmp_path):
    done = run(tmp_path, "token", "--ttl", str(10 * 365 * 86_400))
    assert done.returncode == 2
    assert "PLUGHOST_AUTH__MAX_TOKEN_LIFETIME_SECONDS" in done.stderr and not done.stdout


def test_token_refuses_outside_dev_mode(tmp_path):
    done = run(
        tmp_path,
        "token",
        PLUGHOST_AUTH__ISSUER="oidc",
        PLUGHOST_AUTH__ISSUER_URL="https://idp.example",
        PLUGHOST_AUTH__PUBLIC_URL="https://mcp",
    )
    assert done.returncode == 2
    assert "oidc issuer" in done.stderr


def test_check_passes_in_dev_mode(tmp_path):
    done = run(tmp_path, "check")
    assert done.returncode == 0, done.stderr
    assert "issuer preset:   dev" in done.stdout
    assert "todo:write" in done.stdout
    assert done.stdout.rstrip().endswith("ok")


def test_check_fetches_the_issuers_keys(tmp_path, stand_in_issuer):
    env = {
        "PLUGHOST_AUTH__ISSUER": "oidc",
        "PLUGHOST_AUTH__ISSUER_URL": stand_in_issuer.url,
        "PLUGHOST_AUTH__JWKS_URI": f"{stand_in_issuer.url}/keys",
        "PLUGHOST_AUTH__PUBLIC_URL": "https://mcp.example.com",
    }
    done = run(tmp_path, "check", **env)
    assert done.returncode == 0, done.stderr
    assert stand_in_issuer.published[-1] in done.stdout
    assert "audiences (aud): https://mcp.example.com/mcp" in done.stdout
    stand_in_issuer.up = False
    down = run(tmp_path, "check", **env)
    assert down.returncode == 1
    assert "no usable signing keys" in down.stderr


def test_check_fails_on_a_broken_plugin(tmp_path, make_dist):
    make_dist("acme-broken", "raise ImportError('nope')\n", namespace="broken")
    done = run(tmp_path, "check", PYTHONPATH=str(make_dist.root))
    assert done.returncode == 1
    assert "plugin broken failed" in done.stderr


def test_check_reports_bad_settings(tmp_path):
    done = run(tmp_path, "check", PLUGHOST_AUTH__ISSUER="scalekit")
    assert done.returncode == 2
    assert "SCALEKIT_ENVIRONMENT_URL" in done.stderr


def test_plugins_lists_resources_templates_and_prompts_with_their_scopes(tmp_path):
    done = run(tmp_path, "plugins")
    assert done.returncode == 0, done.stderr
    lines = [line.strip() for line in done.stdout.splitlines()]
    listed = {
        tuple(line.split()): lines[number + 1]
        for number, line in enumerate(lines)
        if line.startswith(("todo://", "todo_plan_my_day"))
    }
    assert listed == {
        ("todo://open", "todo:read"): "resource, text/markdown",
        ("todo://items/{id}", "todo:read"): "template, application/json; completes: id",
        ("todo_plan_my_day", "todo:read"): "prompt; completes: focus",
    }


WEATHER = Path(__file__).parent / "upstreams" / "weather.py"


def test_plugins_json_lists_each_mount_after_the_plugins_with_kind_remote(tmp_path):
    done = run(
        tmp_path,
        "plugins",
        "--json",
        PLUGHOST_ENABLED_PLUGINS="todo",
        PLUGHOST_MOUNTS__WEATHER__COMMAND=json.dumps([sys.executable, str(WEATHER)]),
        PLUGHOST_MOUNTS__WEATHER__SCOPES=json.dumps({"weather:read": "Read forecasts"}),
        PLUGHOST_MOUNTS__WEATHER__TOOLS=json.dumps({"forecast": ["weather:read"]}),
        PLUGHOST_MOUNTS__GONE__URL=f"http://127.0.0.1:{free_port()}/mcp",
        PLUGHOST_MOUNTS__GONE__SCOPES=json.dumps({"gone:read": "Nothing"}),
        PLUGHOST_MOUNTS__GONE__CONNECT_TIMEOUT_SECONDS="2",
    )
    assert done.returncode == 0, done.stderr
    records = [r for r in json.loads(done.stdout) if r["status"] != "disabled"]
    assert [(r["kind"], r["namespace"]) for r in records] == [
        ("plugin", "todo"),
        ("remote", "weather"),
        ("remote", "gone"),
    ]
    todo, weather, gone = records
    assert todo["status"] == "loaded" and todo["tools"]
    assert weather["status"] == "up" and weather["error"] is None
    assert (weather["transport"], weather["server"], weather["version"]) == (
        "stdio",
        "weather",
        "1.4.2",
    )
    assert weather["where"].endswith("weather.py")
    assert weather["scopes"] == {"weather:read": "Read forecasts"}
    assert "weather_forecast" in weather["served"]
    assert weather["skipped"]["admin_reset"] == "no scopes declared for it"
    assert gone["status"] == "down" and gone["error"] and gone["served"] == []

"""deploy/compose.replicas.yaml + nginx.replicas.conf: two replicas on one PostgreSQL behind a sticky load
balancer, checked without a Docker engine (the behaviour they rely on, replicas sharing one database and
sessions living in one replica, is run for real by tests/postgres/test_replicas.py)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy.engine import make_url

from tests.test_deploy import DEPLOY, SECRET_WORDS, _env_names, _environment

COMPOSE = DEPLOY / "compose.replicas.yaml"
NGINX = DEPLOY / "nginx.replicas.conf"
REPLICAS = ("replica-a", "replica-b")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_services_postgres_two_replicas_and_a_balancer(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"postgres", *REPLICAS, "lb"}
    a, b = (services[r] for r in REPLICAS)
    assert a == b, "the replicas run the same configuration (one poller at a time is the lease's job)"
    assert a["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "pg_isready" in services["postgres"]["healthcheck"]["test"]
    assert "--locale=C" in services["postgres"]["environment"]["POSTGRES_INITDB_ARGS"]


def test_replica_environment_is_known_and_secret_free(compose: dict[str, Any]) -> None:
    svc = compose["services"]["replica-a"]
    env = _environment(svc)
    assert env["OPS_POLLER_ENABLED"] == "true" and env["REMOTE_AUTH_ENABLE"] == "true"
    assert env["FASTMCP_TYPE"] == "streamable-http"
    assert "OPS_DATABASE_URL" not in env and "REMOTE_SECRET_KEY" not in env, "built from the secrets"
    unknown = [k for k in env if k not in _env_names() and not k.startswith("OS_")]
    assert not unknown, f"compose sets variables the server does not read: {unknown}"
    for key, value in env.items():
        if SECRET_WORDS.search(key):
            assert value.startswith("${") or value == "", key
    for name in ("remote_secret_key", "postgres_password"):
        assert "file" in compose["secrets"][name]
    pg = compose["services"]["postgres"]["environment"]
    assert "POSTGRES_PASSWORD" not in pg and pg["POSTGRES_PASSWORD_FILE"] == "/run/secrets/postgres_password"
    ignored = (DEPLOY / ".gitignore").read_text(encoding="utf-8").split()
    assert "secrets/" in ignored and "clouds.yaml" in ignored


def test_entrypoint_builds_the_database_url_and_token(compose: dict[str, Any], tmp_path: Path) -> None:
    sh = shutil.which("sh")
    if sh is None:
        pytest.skip("no POSIX sh on this machine")
    svc = compose["services"]["replica-a"]
    entry, command = svc["entrypoint"], svc["command"]
    script = entry[2].replace("$$", "$")
    token, password = tmp_path / "token", tmp_path / "password"
    token.write_text("tok-123\n")
    password.write_text("0a1b2c3d\n")
    script = script.replace("/run/secrets/remote_secret_key", str(token)).replace(
        "/run/secrets/postgres_password", str(password))
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    fake = fake_bin / "mcp-openstack-ops"
    fake.write_text('#!/bin/sh\nprintf "%s|%s|" "$REMOTE_SECRET_KEY" "$OPS_DATABASE_URL"; printf "%s|" "$@"\n')
    fake.chmod(0o755)
    proc = subprocess.run([sh, "-c", script, *entry[3:], *command],
                          env={"PATH": f"{fake_bin}:{os.environ.get('PATH', '')}"},
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    tok, url, *args = proc.stdout.split("|")[:-1]
    assert tok == "tok-123" and args == ["serve"]
    u = make_url(url)
    assert (u.drivername, u.username, u.password, u.host, u.port, u.database) == (
        "postgresql+asyncpg", "ops", "0a1b2c3d", "postgres", 5432, "ops")


def test_balancer_is_sticky_per_client_and_streams(compose: dict[str, Any]) -> None:
    lb = compose["services"]["lb"]
    for p in lb["ports"]:
        assert str(p).startswith("127.0.0.1:") and str(p).endswith(":8080")
    assert any(isinstance(v, dict) and v["source"] == "./nginx.replicas.conf" and v["read_only"] for v in lb["volumes"])
    conf = NGINX.read_text(encoding="utf-8")
    upstream = re.search(r"upstream mcp_replicas \{(.*?)\}", conf, re.S)
    assert upstream is not None
    assert re.search(r"^\s*hash \$remote_addr consistent;", upstream.group(1), re.M), "sessions need affinity"
    servers = re.findall(r"^\s*server (\S+?):8080\b", upstream.group(1), re.M)
    assert sorted(servers) == sorted(REPLICAS)
    assert re.search(r"proxy_pass http://mcp_replicas;", conf) and "proxy_buffering off;" in conf


def test_image_has_the_postgres_driver() -> None:
    """The replicas' image can reach PostgreSQL: asyncpg is in the hash-pinned lock the image installs."""
    assert "-r deploy/requirements.lock" in (DEPLOY / "Dockerfile").read_text()
    assert re.search(r"(?m)^asyncpg==\S+", (DEPLOY / "requirements.lock").read_text())

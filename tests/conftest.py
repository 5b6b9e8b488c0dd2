"""Test harness: a real database (SQLite or PostgreSQL) and a real server on 127.0.0.1.

The engine is chosen by ALLIANCE_TEST_DATABASE_URL: unset = SQLite files in a temp folder;
a postgresql+psycopg URL = one fresh database per xdist worker on that server. Every test
that touches storage therefore runs on both engines when CI runs the suite twice.
Tests create their own accounts and programs and assert only on those, so they never need
to clean up and can share one migrated database per worker.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def require(present: bool, message: str) -> None:
    """A dependency outside Python (a browser, a font): missing, it is a failure in CI
    (CI=true, where .ci/run installs it) and a skip on a developer's machine."""
    if present:
        return
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def _fresh_postgres(url: str, purpose: str) -> str:
    """A fresh database for `purpose` per xdist worker, named after the requested one too
    (…/test → alliance_suite_test_gw0), so suites started with different database names on
    one server (two checkouts side by side) never drop each other's databases."""
    import psycopg

    base, _, requested = url.rpartition("/")
    name = f"alliance_{purpose}_{requested}_{_worker()}"
    admin = base.replace("postgresql+psycopg://", "postgresql://") + "/postgres"
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        pytest.exit(f"PostgreSQL at {admin} is not reachable: {exc}", returncode=3)
    return f"{base}/{name}"


@pytest.fixture(scope="session")
def db_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    requested = os.environ.get("ALLIANCE_TEST_DATABASE_URL", "")
    if requested.startswith("postgresql"):
        url = _fresh_postgres(requested, "suite")
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'alliance.db'}"
    os.environ["ALLIANCE_DATABASE_URL"] = url
    os.environ.setdefault("ALLIANCE_SECRET_KEY", "test-secret-key")
    from alliance.settings import get_settings

    get_settings.cache_clear()
    from alliance.db.migrate import upgrade

    upgrade(url)
    yield url
    from alliance.db.engine import dispose_all

    dispose_all()


@pytest.fixture(scope="session")
def engine_name(db_url: str) -> str:
    return "postgresql" if db_url.startswith("postgresql") else "sqlite"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """`alliance serve` in a subprocess, bound to 127.0.0.1 on a free port."""

    def __init__(
        self,
        db_url: str,
        env: dict[str, str] | None = None,
        workers: int = 1,
        new_session: bool = False,
    ) -> None:
        # new_session: the server and its worker processes get their own process group, so a
        # test can SIGKILL them all at once (os.killpg(server.proc.pid, SIGKILL)).
        self.new_session = new_session
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # Tests run the jobs they need themselves (run_due), at the moment they choose.
        self.env = {
            **os.environ,
            "ALLIANCE_DATABASE_URL": db_url,
            "ALLIANCE_RUN_JOBS": "false",
            **(env or {}),
        }
        self.workers = workers
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = Path(os.environ.get("TMPDIR", "/tmp")) / f"alliance-server-{self.port}.log"

    def start(self) -> Server:
        cmd = [
            sys.executable,
            "-m",
            "alliance.cli",
            "serve",
            "--port",
            str(self.port),
            "--workers",
            str(self.workers),
        ]
        self.proc = subprocess.Popen(
            cmd,
            env=self.env,
            cwd=ROOT,
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=self.new_session,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        # Stop it before giving up: an abandoned server keeps a port and a core busy for the
        # rest of the run (and after it), which makes the next start slower still.
        self.stop()
        raise RuntimeError(f"server did not start: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="session")
def server(db_url: str) -> Iterator[Server]:
    srv = Server(db_url).start()
    yield srv
    srv.stop()


@pytest.fixture()
def http(server: Server) -> Iterator[httpx.Client]:
    """An HTTP client for the real server; follows no redirects (tests inspect them)."""
    with httpx.Client(base_url=server.url, timeout=10, follow_redirects=False) as client:
        yield client


@pytest.fixture(scope="session")
def operator_key(db_url: str) -> str:
    from alliance.accounts.service import create_operator
    from alliance.db.engine import transaction

    with transaction() as session:
        _, key = create_operator(session, name="Test operator")
    return key


def pytest_report_header(config: pytest.Config) -> str:
    url = os.environ.get("ALLIANCE_TEST_DATABASE_URL") or "sqlite (temp files)"
    return f"alliance database: {url}; CI={IN_CI}"

"""Benchmark `GET /c/{code}` against nginx answering `return 302` on the same machine.

    .venv/bin/python bench/redirect.py [--seconds N] [--db sqlite|postgresql] [--workers N]

It creates a fresh database (a temp SQLite file, or the PostgreSQL database `alliance_bench`),
migrates it, adds one program, partner and link, starts `alliance serve` as a user would,
nginx with a throw-away config and, as the floor for any Python answer, a bare ASGI app
that only says 302 on the same server (Granian, same worker count), then drives them with wrk:

  * throughput: 64 connections, as fast as they go;
  * moderate load: ~1000 requests/s, spread over 50 connections with random pauses (a wrk
    Lua script), to read the latency a visitor sees on a normal day.

It prints req/s, p50, p99, the ratio to nginx and the server's memory (RSS of the server and
its workers, from /proc), then checks that the clicks table holds at least as many clicks as
302s were counted: every acknowledged click must be stored. Targets (issue): >= 25% of nginx
req/s, p99 <= 10 ms at 64 connections, p99 <= 3 ms at 1000 req/s, RSS <= 250 MB.

Needs `wrk` and `nginx` on PATH (Debian: `apt-get install -y nginx wrk`).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

CONNECTIONS = 64
ALLIANCE_64 = "alliance /c/, 64 conn"
RATE = 1000
RATE_CONNECTIONS = 50
TARGETS = (
    "targets: >= 25% of nginx req/s; p99 <= 10 ms @64c; p99 <= 3 ms @1000/s; RSS <= 250 MB\n"
    "RSS: all = supervisor + workers (peak during the run), max = the largest single process;\n"
    "PSS: the same total with shared pages counted once (what the server really holds)"
)

NGINX_CONF = """
daemon off;
worker_processes auto;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    server {{
        listen 127.0.0.1:{port};
        location / {{ return 302 http://example.com/; }}
    }}
}}
"""

# The floor for any Python answer: an ASGI app that only says 302, on the same server.
BARE_ASGI = """
async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    headers = [(b"location", b"http://example.com/"), (b"content-length", b"0")]
    await send({"type": "http.response.start", "status": 302, "headers": headers})
    await send({"type": "http.response.body", "body": b""})
"""

# Each connection waits a random 0..2*mean ms between requests: ~RATE req/s in total, and the
# connections drift apart instead of firing in lock-step bursts.
RATE_LUA = """
local mean = {mean_ms}
function delay()
    return math.random(0, 2 * mean)
end
"""


@dataclass
class Result:
    target: str
    requests: int = 0
    rps: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    not_3xx: int = 0
    socket_errors: int = 0
    rss_mb: float | None = None  # whole server: supervisor + workers
    rss_process_mb: float | None = None  # the largest single process
    pss_mb: float | None = None  # whole server, shared pages counted once (PSS)
    notes: list[str] = field(default_factory=list)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not answer within {seconds:.0f} s")


def require_tools() -> None:
    missing = [tool for tool in ("wrk", "nginx") if shutil.which(tool) is None]
    if missing:
        raise SystemExit(
            f"missing: {', '.join(missing)}. Install them first, e.g. on Debian/Ubuntu:\n"
            "    sudo apt-get update && sudo apt-get install -y nginx wrk"
        )


# -- database -------------------------------------------------------------------------------


def fresh_database(kind: str, pg_url: str, workdir: Path, name: str = "alliance_bench") -> str:
    """An empty database: a SQLite file in `workdir`, or PostgreSQL database `name` made
    anew (the benchmarks share this)."""
    if kind == "sqlite":
        return f"sqlite:///{workdir / 'bench.db'}"
    import psycopg

    base = pg_url.rsplit("/", 1)[0]
    admin = base.replace("postgresql+psycopg://", "postgresql://") + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{base}/{name}"


def seed(database_url: str) -> tuple[str, str]:
    """Migrate and add one advertiser, program, partner, approved enrollment and link."""
    os.environ["ALLIANCE_DATABASE_URL"] = database_url
    from alliance.settings import get_settings

    get_settings.cache_clear()
    from alliance.accounts.models import Advertiser, Partner
    from alliance.db.engine import dispose_all, transaction
    from alliance.db.migrate import upgrade
    from alliance.ids import new_id, new_link_code
    from alliance.programs.models import Enrollment, EnrollmentStatus, Program
    from alliance.tracking.models import Link

    upgrade(database_url)
    advertiser_id, program_id, partner_id = new_id("adv"), new_id("prg"), new_id("ptn")
    link_id, code = new_id("lnk"), new_link_code()
    with transaction(database_url) as session:
        session.add(Advertiser(id=advertiser_id, name="Bench shop", country="DE", currency="EUR"))
        session.add(
            Partner(
                id=partner_id, name="Bench blog", type="content", country="DE",
                payout_currency="EUR",
            )
        )  # fmt: skip
        session.flush()
        session.add(
            Program(
                id=program_id, advertiser_id=advertiser_id, name="Bench program",
                currency="EUR", landing_url="https://shop.example/?utm_source=alliance",
                postback_token=new_id("tok"),
            )
        )  # fmt: skip
        session.flush()
        session.add(
            Enrollment(
                id=new_id("enr"), program_id=program_id, partner_id=partner_id,
                status=EnrollmentStatus.approved,
            )
        )  # fmt: skip
        session.add(Link(id=link_id, code=code, program_id=program_id, partner_id=partner_id))
    dispose_all()
    return link_id, code


def count_clicks(database_url: str, link_id: str) -> int:
    from sqlalchemy import func, select

    from alliance.db.engine import reading
    from alliance.tracking.models import Click

    with reading(database_url) as session:
        return session.scalar(select(func.count()).where(Click.link_id == link_id)) or 0


# -- processes ------------------------------------------------------------------------------


def tree_rss_mb(pid: int) -> tuple[float, float, float]:
    """RSS of `pid` and all its descendants (the server and its workers), in MB: the total,
    the largest single process, and the total PSS. Forked workers share their parent's pages
    and RSS counts those in every process; PSS splits each shared page among its sharers, so
    the PSS total is the memory the server really holds."""
    total_kb = largest_kb = pss_kb = 0
    pids = [pid]
    while pids:
        current = pids.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        match = re.search(r"VmRSS:\s+(\d+) kB", status)
        rss_kb = int(match.group(1)) if match else 0
        try:
            rollup = Path(f"/proc/{current}/smaps_rollup").read_text()
            pss = re.search(r"^Pss:\s+(\d+) kB", rollup, re.M)
            pss_kb += int(pss.group(1)) if pss else rss_kb
        except OSError:
            pss_kb += rss_kb
        total_kb += rss_kb
        largest_kb = max(largest_kb, rss_kb)
        pids.extend(int(c) for c in children)
    return total_kb / 1024, largest_kb / 1024, pss_kb / 1024


class RssSampler:
    """Peak RSS of a process tree (total, and largest process) while a run lasts."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self.peak_process, self.peak_pss = pid, 0.0, 0.0, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        total, largest, pss = tree_rss_mb(self.pid)
        self.peak = max(self.peak, total)
        self.peak_pss = max(self.peak_pss, pss)
        self.peak_process = max(self.peak_process, largest)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(0.25)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()


def start_alliance(
    database_url: str, workers: int, workdir: Path
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    # The jobs child of `serve` would be measured with the server: benchmarks turn it off.
    env = {**os.environ, "ALLIANCE_DATABASE_URL": database_url, "ALLIANCE_RUN_JOBS": "false"}
    log = (workdir / "alliance.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "alliance.cli", "serve", "--host", "127.0.0.1",
         "--port", str(port), "--workers", str(workers)],
        env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/healthz")
    return proc, url


def start_bare_asgi(workers: int, workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    (workdir / "bare_asgi.py").write_text(BARE_ASGI)
    log = (workdir / "bare.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "granian", "--interface", "asgi", "--host", "127.0.0.1",
         "--port", str(port), "--workers", str(workers), "--no-ws", "bare_asgi:app"],
        cwd=workdir, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    wait_http(url)
    return proc, url


def start_nginx(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    conf = workdir / "nginx.conf"
    conf.write_text(NGINX_CONF.format(dir=workdir, port=port))
    proc = subprocess.Popen(
        ["nginx", "-c", str(conf), "-p", str(workdir), "-e", str(workdir / "error.log")],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    wait_http(url)
    return proc, url


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


# -- wrk ------------------------------------------------------------------------------------

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if not match:
        raise ValueError(f"unreadable wrk latency {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def _grab(pattern: str, text: str) -> str:
    match = re.search(pattern, text)
    if match is None:
        raise SystemExit(f"unexpected wrk output (no {pattern!r}):\n{text}")
    return match.group(1)


def wrk(
    target: str, url: str, seconds: int, connections: int, script: Path | None = None
) -> Result:
    threads = min(2, connections)
    cmd = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds}s",
        "--latency",
        "--timeout",
        "5s",
    ]
    if script is not None:
        cmd += ["-s", str(script)]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    result = Result(target)
    result.requests = int(_grab(r"(\d+) requests in", out))
    result.rps = float(_grab(r"Requests/sec:\s+([\d.]+)", out))
    result.p50_ms = _ms(_grab(r"\s50%\s+(\S+)", out))
    result.p99_ms = _ms(_grab(r"\s99%\s+(\S+)", out))
    if match := re.search(r"Non-2xx or 3xx responses: (\d+)", out):
        result.not_3xx = int(match.group(1))
    if match := re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    ):
        result.socket_errors = sum(int(g) for g in match.groups())
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=10, help="length of each measured run")
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--workers", type=int, default=1, help="alliance serve worker processes")
    parser.add_argument(
        "--pg-url",
        default=os.environ.get(
            "ALLIANCE_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
        ),
        help="PostgreSQL server to create the alliance_bench database on",
    )
    args = parser.parse_args()
    require_tools()

    workdir = Path(tempfile.mkdtemp(prefix="alliance-bench-"))
    database_url = fresh_database(args.db, args.pg_url, workdir)
    link_id, code = seed(database_url)
    from alliance.settings import get_settings

    settings = get_settings()
    print(
        f"database {database_url}; workers {args.workers}; {args.seconds} s per run; "
        f"{os.cpu_count()} CPUs; click batch max {settings.click_batch_max}, "
        f"wait {settings.click_batch_wait_ms} ms, sqlite synchronous {settings.sqlite_synchronous}"
    )

    rate_script = workdir / "rate.lua"
    rate_script.write_text(RATE_LUA.format(mean_ms=round(RATE_CONNECTIONS * 1000 / RATE)))
    nginx, nginx_url = start_nginx(workdir)
    bare, bare_url = start_bare_asgi(args.workers, workdir)
    alliance, alliance_url = start_alliance(database_url, args.workers, workdir)
    link_url = f"{alliance_url}/c/{code}?sub1=bench"
    results: list[Result] = []
    counted_302 = 0
    try:
        # Warm both up (caches, connections, JIT-free but page-cache-full) before measuring.
        wrk("warm-up", nginx_url + "/", 2, CONNECTIONS)
        wrk("warm-up", bare_url + "/", 2, CONNECTIONS)
        warm = wrk("warm-up", link_url, 2, CONNECTIONS)
        counted_302 += warm.requests - warm.not_3xx

        results.append(wrk("nginx return 302, 64 conn", nginx_url + "/", args.seconds, CONNECTIONS))
        results.append(wrk("bare ASGI 302, 64 conn", bare_url + "/", args.seconds, CONNECTIONS))
        with RssSampler(alliance.pid) as rss:
            run = wrk(ALLIANCE_64, link_url, args.seconds, CONNECTIONS)
        run.rss_mb, run.rss_process_mb, run.pss_mb = rss.peak, rss.peak_process, rss.peak_pss
        results.append(run)
        counted_302 += run.requests - run.not_3xx

        results.append(
            wrk(f"nginx, ~{RATE}/s", nginx_url + "/", args.seconds, RATE_CONNECTIONS, rate_script)
        )
        with RssSampler(alliance.pid) as rss:
            run = wrk(
                f"alliance /c/, ~{RATE}/s", link_url, args.seconds, RATE_CONNECTIONS, rate_script
            )
        run.rss_mb, run.rss_process_mb, run.pss_mb = rss.peak, rss.peak_process, rss.peak_pss
        results.append(run)
        counted_302 += run.requests - run.not_3xx
    finally:
        stop(alliance)  # graceful: the click writers drain before the workers exit
        stop(nginx)
        stop(bare)

    stored = count_clicks(database_url, link_id)
    nginx_rps = results[0].rps
    header = (
        "target", "req/s", "p50 ms", "p99 ms", "vs nginx", "RSS MB all/max", "PSS MB", "errors"
    )  # fmt: skip
    print()
    print("{:<28} {:>9} {:>8} {:>8} {:>9} {:>15} {:>7}  {}".format(*header))
    for r in results:
        # The ratio means something for the throughput run only; at a fixed rate both keep up.
        is_64 = "64 conn" in r.target and r is not results[0]
        ratio = f"{100 * r.rps / nginx_rps:.0f}%" if is_64 else ""
        memory = f"{r.rss_mb:.0f}/{r.rss_process_mb:.0f}" if r.rss_mb is not None else ""
        pss = f"{r.pss_mb:.0f}" if r.pss_mb is not None else ""
        errors = r.not_3xx + r.socket_errors
        row = (
            r.target,
            f"{r.rps:.0f}",
            f"{r.p50_ms:.2f}",
            f"{r.p99_ms:.2f}",
            ratio,
            memory,
            pss,
            errors,
        )
        print("{:<28} {:>9} {:>8} {:>8} {:>9} {:>15} {:>7}  {}".format(*row))
    print()
    print(TARGETS)
    verdict = "OK" if stored >= counted_302 else "CLICKS MISSING"
    print(
        f"clicks stored: {stored}; 302s counted by wrk: {counted_302} -> {verdict} "
        "(stored may exceed counted: wrk stops counting with requests still in flight)"
    )
    shutil.rmtree(workdir, ignore_errors=True)  # the PostgreSQL database stays for a look
    if stored < counted_302:
        raise SystemExit(1)


if __name__ == "__main__":
    main()

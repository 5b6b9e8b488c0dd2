"""An acknowledged click is durable: SIGKILL the server mid-load, every 302 is in the database."""

from __future__ import annotations

import os
import signal
import threading
import time
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import select

from alliance.db.engine import reading
from alliance.tracking.models import Click
from tests.conftest import Server
from tests.tracking.factories import make_link

THREADS = 32
KILL_AFTER_S = 1.0


@pytest.mark.slow
def test_every_acknowledged_click_survives_sigkill(db_url: str) -> None:
    link = make_link()
    # Two worker processes: two click writers competing for the same database.
    server = Server(db_url, workers=2, new_session=True).start()
    acknowledged: list[str] = []
    errors: list[str] = []
    killed = threading.Event()
    lock = threading.Lock()

    def visitor() -> None:
        with httpx.Client(base_url=server.url, timeout=5) as client:
            while not killed.is_set():
                try:
                    response = client.get(f"/c/{link.code}?sub1=durability")
                except httpx.HTTPError:
                    continue  # the server is gone (or going): keep trying until told to stop
                if response.status_code == 302:
                    query = urlsplit(response.headers["location"]).query
                    with lock:
                        acknowledged.append(parse_qs(query)["alclid"][0])
                else:
                    with lock:
                        errors.append(f"{response.status_code}: {response.text[:200]}")

    threads = [threading.Thread(target=visitor) for _ in range(THREADS)]
    try:
        for thread in threads:
            thread.start()
        # Kill a second into steady load, not a second after start-up: the first requests
        # of a fresh server wait on cold caches and on the disk still writing back the
        # freshly migrated database (the ECB rates), which says nothing about durability.
        warm_by = time.monotonic() + 15
        while time.monotonic() < warm_by:
            with lock:
                if len(acknowledged) >= 20:
                    break
            time.sleep(0.01)
        time.sleep(KILL_AFTER_S)
        assert server.proc is not None
        os.killpg(server.proc.pid, signal.SIGKILL)  # the server and its workers, no goodbye
        server.proc.wait(10)
        with lock:
            seen = list(acknowledged)
    finally:
        killed.set()
        for thread in threads:
            thread.join(10)
        server.stop()

    assert not errors, errors[:5]
    assert len(seen) > 100, "too little load to prove anything"
    # Responses that were in flight when the kill landed may have arrived after `seen` was
    # copied; they count too.
    with reading() as session:
        stored = set(session.scalars(select(Click.id).where(Click.link_id == link.link_id)))
    missing = set(acknowledged) - stored
    assert not missing, f"{len(missing)} acknowledged clicks lost, e.g. {sorted(missing)[:3]}"
    # Clicks committed but never acknowledged (killed before the 302 went out) are fine.
    assert len(stored) >= len(acknowledged)

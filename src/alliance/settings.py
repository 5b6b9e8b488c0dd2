"""One settings object. Every ALLIANCE_* variable is declared here once, with its default.

The embedded default (SQLite file under ./var, 127.0.0.1:8000) works with no variable set.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ALLIANCE_", env_file=".env", extra="ignore")

    # Where data lives. sqlite:///path (WAL mode is switched on at connect) or
    # postgresql+psycopg://user@host:port/db. Default: a file beside the checkout.
    database_url: str = "sqlite:///var/alliance.db"

    # Interface and port `alliance serve` binds. Loopback unless told otherwise.
    host: str = "127.0.0.1"
    port: int = 8000
    # Server worker processes. Each has its own click writer; see docs/adr/0003.
    workers: int = 1

    # Public base URL used to build tracking links shown to partners.
    public_url: str = "http://127.0.0.1:8000"

    # Secret key for hashing visitor IPs (clicks never store a raw IP) and signing sessions.
    # The default is only fit for a laptop; production sets its own.
    secret_key: str = Field(default="dev-only-change-me", min_length=8)

    # Click writer group commit: a batch is flushed when it holds this many clicks or when
    # its oldest click has waited this many milliseconds, whichever comes first.
    click_batch_max: int = 512
    click_batch_wait_ms: float = 2.0

    # SQLite durability for committed clicks and events: FULL fsyncs every commit (survives
    # power loss); NORMAL survives a process crash only. Group commit keeps FULL affordable.
    sqlite_synchronous: str = "FULL"

    # Largest request body accepted by inbound endpoints (bytes).
    max_body_bytes: int = 1_048_576

    # Seconds the in-process link cache keeps a resolved link before looking again.
    link_cache_ttl_s: float = 30.0

    # Take the client IP (for the click's country and IP hash) from the rightmost
    # X-Forwarded-For entry. Only behind a reverse proxy that sets it: otherwise visitors
    # could claim any IP.
    trust_forwarded_for: bool = False

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def sqlite_path(self) -> Path | None:
        if not self.is_sqlite:
            return None
        raw = self.database_url.split("///", 1)[1] if "///" in self.database_url else ""
        return Path(raw) if raw and raw != ":memory:" else None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()

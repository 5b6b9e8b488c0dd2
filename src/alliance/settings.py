"""One settings object. Every ALLIANCE_* variable is declared here once, with its default.

The embedded default (SQLite file under ./var, 127.0.0.1:8000) works with no variable set.
"""

from __future__ import annotations

import os
import secrets
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, model_validator
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

    # Secret key for hashing visitor IPs (clicks never store a raw IP), sealing stored
    # answers and signing dashboard sessions. Unset: a random key is made once and kept in
    # `secret_file` (mode 0600), so a laptop needs no set-up and no key ever sits in the code.
    # Several hosts must share one key: set ALLIANCE_SECRET_KEY on each.
    secret_key: str = Field(default="", min_length=0)
    secret_file: Path = Path("var/secret.key")

    # `alliance serve` also runs the periodic jobs (approvals, rollups, webhooks out...) in a
    # child process every `jobs_every_s` seconds: right for one machine. With several
    # servers, set it false everywhere and run one `alliance jobs run --every 15` instead.
    run_jobs: bool = True
    jobs_every_s: float = Field(default=15.0, gt=0)

    # Dashboards (docs/dashboards.md).
    # Hours a sign-in lasts; signing out, or "sign out everywhere", ends it sooner.
    session_hours: float = Field(default=12.0, gt=0, le=24 * 30)
    # Failed sign-ins allowed per e-mail address (and 4x that per client address) within
    # the window before sign-in answers 429 with Retry-After.
    login_max_failures: int = Field(default=5, ge=1)
    login_window_s: int = Field(default=900, ge=1)
    # Days an invitation link stays valid.
    invitation_days: int = Field(default=7, ge=1, le=90)

    # Click writer group commit: a batch is flushed when it holds this many clicks or when
    # its oldest click has waited this many milliseconds, whichever comes first.
    click_batch_max: int = 512
    click_batch_wait_ms: float = 2.0

    # SQLite durability for committed clicks and events: FULL fsyncs every commit (survives
    # power loss); NORMAL survives a process crash only. Group commit keeps FULL affordable.
    sqlite_synchronous: str = "FULL"

    # Bulk validations of more rows than this are queued for `alliance jobs run` (202).
    validation_inline_rows: int = 2000

    # Largest request body accepted by inbound endpoints (bytes).
    max_body_bytes: int = 1_048_576

    # Seconds the in-process link cache keeps a resolved link before looking again.
    link_cache_ttl_s: float = 30.0

    # Take the client IP (for the click's country and IP hash) from the rightmost
    # X-Forwarded-For entry. Only behind a reverse proxy that sets it: otherwise visitors
    # could claim any IP.
    trust_forwarded_for: bool = False

    # Hours an Idempotency-Key answer is kept and replayed; after that the key may be used
    # again, and the purge_idempotency_keys job deletes it.
    idempotency_ttl_hours: float = Field(default=24.0, gt=0)

    # Outbound webhooks and partner postbacks (docs/webhooks-out.md).
    # Seconds one delivery attempt may take in all (connect, TLS, request, response headers).
    webhook_timeout_s: float = Field(default=10.0, gt=0, le=120)
    # Attempts before a delivery is dead (the dead-letter list; POST .../retry sends it again).
    webhook_max_attempts: int = Field(default=12, ge=1, le=100)
    # Wait after n failed attempts: random in [0, min(cap, base * 2**n)] seconds ("full
    # jitter"). With the defaults, 12 attempts span at most ~20 hours (~10 on average).
    webhook_backoff_base_s: float = Field(default=30.0, gt=0)
    webhook_backoff_cap_s: float = Field(default=6 * 3600.0, gt=0)
    # Ports a webhook or postback URL may name besides 80 and 443, comma-separated ("8443").
    webhook_allow_ports: str = ""
    # Hosts exempt from the SSRF address and port checks, comma-separated host names, IPs or
    # CIDR networks. Meant for tests (127.0.0.1) and receivers on a network you control;
    # anything listed here can be reached by any advertiser or partner.
    webhook_allow_hosts: str = ""
    # Deliveries one `deliver_webhooks` run sends at once.
    webhook_concurrency: int = Field(default=8, ge=1, le=64)
    # Days delivered and dead deliveries (and their events) stay in the delivery log.
    webhook_retention_days: int = Field(default=30, ge=1)

    # E-mail (docs/mail.md): invitations and payout notices are queued in the database and
    # sent by the `deliver_mail` job through this SMTP server. Unset host: nothing is sent,
    # the mails stay queued (the operator sees them under Operator -> E-mail) until one is set.
    smtp_host: str = ""
    # 587 is the submission port (STARTTLS); 25 for a local relay that needs no TLS.
    smtp_port: int = Field(default=587, ge=1, le=65535)
    # Sign in to the server when a user name is set; the password comes from the environment
    # (or .env), never from the code.
    smtp_username: str = ""
    smtp_password: SecretStr = SecretStr("")
    # Upgrade the connection with STARTTLS before signing in (certificate checked).
    smtp_starttls: bool = True
    # Seconds a connection, and each SMTP command, may take.
    smtp_timeout_s: float = Field(default=20.0, gt=0, le=300)
    # The From: of every mail, e.g. "Alliance <no-reply@network.example>".
    mail_from: str = "Alliance <no-reply@localhost>"
    # Attempts before a mail the server keeps refusing for now (4xx, unreachable) is given
    # up; the wait after n failures is random in [0, min(cap, base * 2**n)] seconds, as for
    # webhooks. A permanent refusal (5xx) is given up at once.
    mail_max_attempts: int = Field(default=10, ge=1, le=100)
    mail_backoff_base_s: float = Field(default=60.0, gt=0)
    mail_backoff_cap_s: float = Field(default=6 * 3600.0, gt=0)

    # Payouts (docs/payouts.md): the threshold of a partner that has not chosen one, in euros
    # (converted to its payout currency at the run day's ECB rate).
    payout_default_threshold_eur: Decimal = Field(default=Decimal(50), ge=0)

    # Cross-promotion (docs/audience-overlap.md): days of valid clicks an audience sketch
    # covers (a rolling window ending when the refresh_audience_sketches job runs).
    crosspromo_sketch_window_days: int = Field(default=90, ge=1, le=3650)

    @model_validator(mode="after")
    def _ensure_secret_key(self) -> Settings:
        if not self.secret_key:
            self.secret_key = _load_or_create_secret(self.secret_file)
        if len(self.secret_key) < 8:
            raise ValueError("ALLIANCE_SECRET_KEY must be at least 8 characters")
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def sqlite_path(self) -> Path | None:
        return sqlite_path(self.database_url)


def sqlite_path(database_url: str) -> Path | None:
    """The database file of a SQLite URL; None for PostgreSQL or an in-memory database."""
    if not database_url.startswith("sqlite") or "///" not in database_url:
        return None
    raw = database_url.split("///", 1)[1]
    return Path(raw) if raw and raw != ":memory:" else None


def _load_or_create_secret(path: Path) -> str:
    """The key kept in `path`, made on first use. O_EXCL: concurrent workers agree on one."""
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as out:
        out.write(key + "\n")
    return key


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()

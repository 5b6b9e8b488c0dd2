"""Standard Webhooks signatures (https://www.standardwebhooks.com), so receivers can verify
deliveries with the off-the-shelf libraries (svix, standardwebhooks) or ten lines of code.

* the secret is `whsec_` + base64 of 32 random bytes; the HMAC key is those bytes;
* `webhook-signature` is `v1,` + base64(HMAC-SHA256(key, f"{id}.{timestamp}.{body}")), and
  holds one such signature per valid secret, separated by spaces (a rotation's grace period);
* `webhook-id` is the event id — the same on every attempt, receivers deduplicate on it;
* `webhook-timestamp` is the attempt's time in Unix seconds, so a retry a day later is still
  fresh for a receiver that refuses old timestamps (replay protection).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Sequence

SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix, not a secret
SECRET_BYTES = 32  # the spec allows 24 to 64


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def secret_key(secret: str) -> bytes:
    """The HMAC key: the base64-decoded part after `whsec_`."""
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def secret_hint(secret: str) -> str:
    """Enough of a secret to tell two apart in a list, not enough to use it."""
    return secret[: len(SECRET_PREFIX) + 4] + "…"


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def signed_headers(
    message_id: str, timestamp: int, body: bytes, secrets_in_use: Sequence[str]
) -> dict[str, str]:
    """The three Standard Webhooks headers of one attempt."""
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(
            signature(secret, message_id, timestamp, body) for secret in secrets_in_use
        ),
    }

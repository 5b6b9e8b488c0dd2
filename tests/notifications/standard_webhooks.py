"""An independent receiver-side implementation of the Standard Webhooks verification, written
from the specification (https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/
standard-webhooks.md), not from Alliance's code: what a receiver's library does."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Mapping

TOLERANCE_S = 5 * 60


class VerificationError(Exception):
    pass


def verify(secret: str, headers: Mapping[str, str], payload: bytes) -> None:
    """Raise VerificationError unless one of the signatures is valid for one of the secrets'
    keys and the timestamp is within five minutes of now."""
    lowered = {k.lower(): v for k, v in headers.items()}
    try:
        msg_id = lowered["webhook-id"]
        timestamp = lowered["webhook-timestamp"]
        signatures = lowered["webhook-signature"]
    except KeyError as missing:
        raise VerificationError(f"missing header {missing}") from None
    if abs(time.time() - int(timestamp)) > TOLERANCE_S:
        raise VerificationError("timestamp outside the tolerance")
    if not secret.startswith("whsec_"):
        raise VerificationError("not a whsec_ secret")
    key = base64.b64decode(secret[len("whsec_") :])
    to_sign = msg_id.encode() + b"." + timestamp.encode() + b"." + payload
    expected = base64.b64encode(hmac.new(key, to_sign, hashlib.sha256).digest())
    for versioned in signatures.split(" "):
        version, _, value = versioned.partition(",")
        if version == "v1" and hmac.compare_digest(value.encode(), expected):
            return
    raise VerificationError("no matching signature")

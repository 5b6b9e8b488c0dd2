"""Errors that cross the domain/edge boundary and become problem+json answers (RFC 9457)."""

from __future__ import annotations

from typing import Any


class AllianceError(Exception):
    """A refusal the caller can act on. `field` names the input at fault when there is one."""

    status = 400
    type_slug = "bad-request"
    title = "Bad request"

    def __init__(self, detail: str, *, field: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field
        self.extra = extra

    def problem(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": f"https://alliance.dev/problems/{self.type_slug}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if self.field:
            body["field"] = self.field
        if instance:
            body["instance"] = instance
        body.update(self.extra)
        return body


class InvalidInput(AllianceError):
    status = 422
    type_slug = "invalid-input"
    title = "Invalid input"


class NotAuthenticated(AllianceError):
    status = 401
    type_slug = "not-authenticated"
    title = "Not authenticated"


class Forbidden(AllianceError):
    status = 403
    type_slug = "forbidden"
    title = "Forbidden"


class NotFound(AllianceError):
    status = 404
    type_slug = "not-found"
    title = "Not found"


class Conflict(AllianceError):
    status = 409
    type_slug = "conflict"
    title = "Conflict"


class PayloadTooLarge(AllianceError):
    status = 413
    type_slug = "payload-too-large"
    title = "Payload too large"

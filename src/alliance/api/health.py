"""/healthz: the database answers."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import text

from alliance.db.engine import reading

router = APIRouter(include_in_schema=False)


@router.get("/healthz")
def healthz() -> dict[str, str]:
    with reading() as session:
        session.execute(text("SELECT 1"))
    return {"status": "ok"}

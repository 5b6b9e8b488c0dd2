"""Every router of the dashboards, in one list."""

from __future__ import annotations

from fastapi import APIRouter


def routers() -> list[APIRouter]:
    from alliance.web import (
        advertiser,
        auth,
        contest_pages,
        join_pages,
        operator,
        partner,
        reports,
        team,
    )

    return [
        auth.router,
        team.router,
        operator.router,
        advertiser.router,
        partner.router,
        reports.router,
        contest_pages.router,
        join_pages.router,
    ]

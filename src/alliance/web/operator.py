"""The operator pages: the network overview, accounts, the review queue, payouts, e-mail and
system health.

`router` is the one web/pages.py includes; each page lives in its own operator_* module.
"""

from __future__ import annotations

from fastapi import APIRouter

from alliance.web import (
    operator_accounts,
    operator_health,
    operator_mail,
    operator_overview,
    operator_payouts,
    operator_review,
)

router = APIRouter()
for _module in (
    operator_overview,
    operator_accounts,
    operator_review,
    operator_payouts,
    operator_mail,
    operator_health,
):
    router.include_router(_module.router)

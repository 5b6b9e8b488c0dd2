"""The periodic job of the fair-exchange ledger: count newly confirmed deliveries of every
agreed (or recently completed) campaign, then raise or resolve tolerance alerts. Running it
twice changes nothing (unique entries, one alert per crossing)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from alliance.crosspromo import exchange
from alliance.db.engine import transaction


def confirm_exchanges(now: datetime, _last: dict[str, Any] | None) -> dict[str, Any]:
    with transaction() as session:
        ids = exchange.ledger_campaigns(session, now, exchange.DEFAULT_SCREENING)
    entries = alerts = 0
    for campaign_id in ids:
        # One transaction per campaign: a large campaign does not hold back the others.
        with transaction() as session:
            entries += exchange.record_confirmed(session, campaign_id, now)
            alerts += exchange.check_alerts(session, campaign_id, now)
    return {"campaigns": len(ids), "entries": entries, "alerts": alerts}

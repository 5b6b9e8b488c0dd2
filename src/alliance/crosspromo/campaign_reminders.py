"""The `campaign_reminders` job: reminders of due slots and deliverables, each sent once.

For every agreed campaign (active or live), every item still owed (a slot its promoter has
not marked as run, a deliverable requested or sent back) gets the reminder its schedule says
is current (campaign_rules.due_reminder: 72 h, 24 h and 2 h before, then daily at the due
local time while overdue), in the owing party's time zone (or the campaign's). A reminder is
a row keyed by (item, due moment, offset) and its mails are queued in the same savepoint: two
workers, or a run repeated, insert the row once and so mail once. Each campaign is handled in
its own transaction under its row lock; a campaign that fails is logged and the others go on.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from alliance.clock import as_utc, utcnow
from alliance.crosspromo import campaign_schedule, campaigns
from alliance.crosspromo.campaign_models import (
    Campaign,
    CampaignParty,
    CampaignReminder,
    CampaignSlot,
)
from alliance.crosspromo.campaign_rules import AGREED_STATES, Reminder, due_reminder, zone
from alliance.mail import outbox
from alliance.mail.models import MailKind
from alliance.programs.models import Program
from alliance.tracking.models import Link
from alliance.tracking.service import link_url

log = logging.getLogger(__name__)


def local_text(moment: datetime, time_zone: str) -> str:
    """ "2026-03-30 09:00 (Europe/Berlin)": the same words in every language."""
    return f"{as_utc(moment).astimezone(zone(time_zone)):%Y-%m-%d %H:%M} ({time_zone})"


def _slot_details(session: Session, slot_id: str) -> dict[str, str]:
    slot = session.get_one(CampaignSlot, slot_id)
    link = session.get_one(Link, slot.link_id)
    program = session.get_one(Program, slot.program_id)
    return {"channel": slot.channel, "program": program.name, "url": link_url(link.code)}


def remind_campaign(session: Session, campaign: Campaign, now: datetime) -> int:
    """Send what is due in one campaign (the caller holds its lock); returns reminders sent."""
    rows = {p.id: p for p in campaigns.parties(session, campaign.id)}
    sent = 0
    for item in campaign_schedule.owed_items(session, campaign.id):
        party = rows.get(item.party_id)
        if party is None:
            continue
        time_zone = party.time_zone or campaign.time_zone
        reminder = due_reminder(item.due_at, zone(time_zone), now, not_before=campaign.agreed_at)
        if reminder is None or _already_sent(session, item.id, item.due_at, reminder):
            continue
        if _send(session, campaign, item, party, reminder, time_zone, now):
            sent += 1
    return sent


def _already_sent(session: Session, item_id: str, due_at: datetime, reminder: Reminder) -> bool:
    return (
        session.scalars(
            select(CampaignReminder.id).where(
                CampaignReminder.item_id == item_id,
                CampaignReminder.due_at == due_at,
                CampaignReminder.offset_key == reminder.key,
            )
        ).first()
        is not None
    )


def _send(
    session: Session,
    campaign: Campaign,
    item: campaign_schedule.DueItem,
    party: CampaignParty,
    reminder: Reminder,
    time_zone: str,
    now: datetime,
) -> bool:
    to = campaigns.party_recipients(session, party)
    details = _slot_details(session, item.id) if item.kind == "slot" else {}
    try:
        # The row and its mails together: losing the unique key to another worker rolls back
        # both, so the other worker's mail is the only one.
        with session.begin_nested():
            session.add(
                CampaignReminder(
                    campaign_id=campaign.id,
                    item_id=item.id,
                    due_at=item.due_at,
                    offset_key=reminder.key,
                    party_id=party.id,
                    scheduled_at=reminder.at,
                    sent_at=now,
                    mails=len(to),
                )
            )
            session.flush()
            outbox.queue_all(
                session,
                to,
                MailKind.campaign_reminder,
                about=campaign.id,
                title=campaign.title,
                item_kind=item.kind,
                item_title=item.title,
                due=local_text(item.due_at, time_zone),
                overdue=item.due_at <= now,
                channel=details.get("channel", ""),
                program=details.get("program", ""),
                url=details.get("url", ""),
                link=campaigns.campaign_page_url(campaign.id, party),
            )
    except IntegrityError:
        return False
    return True


def send_due_reminders(now: datetime, _last: dict[str, Any] | None) -> dict[str, Any]:
    """The job (jobs/runner.py): every agreed campaign, each in its own transaction."""
    from alliance.db.engine import reading, transaction

    now = now or utcnow()
    with reading() as session:
        ids = session.scalars(
            select(Campaign.id).where(Campaign.status.in_([s.value for s in AGREED_STATES]))
        ).all()
    sent = failed = 0
    for campaign_id in ids:
        try:
            with transaction() as session:
                campaign = session.scalars(
                    select(Campaign).where(Campaign.id == campaign_id).with_for_update()
                ).one()
                if campaigns.status_of(campaign) not in AGREED_STATES:
                    continue  # cancelled or completed meanwhile
                sent += remind_campaign(session, campaign, now)
        except Exception:
            log.exception("campaign reminders failed for %s", campaign_id)
            failed += 1
    return {"campaigns": len(ids), "sent": sent, "failed": failed}


def advance_campaigns(now: datetime, _last: dict[str, Any] | None) -> dict[str, Any]:
    """The job that moves campaigns with the clock: live at the first slot, completed at
    the end of the period (campaigns.advance_due)."""
    return dict(campaigns.advance_due(now))

"""A campaign's schedule as an iCalendar file (RFC 5545), built with `icalendar`.

One VEVENT per slot (its start to its end) and one per deliverable due date (an event at the
due moment). Times are written in the campaign's time zone with TZID and the matching
VTIMEZONE, so a calendar shows 09:00 Berlin as 09:00 Berlin in any zone, across daylight-saving
changes. UIDs are the slot and deliverable ids at the network's host: stable, so importing
the file again updates the events instead of duplicating them; SEQUENCE is the terms version
(and DTSTAMP the last change), so clients take the newer schedule. A cancelled campaign's
events say STATUS:CANCELLED.
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

import icalendar
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from alliance.clock import as_utc
from alliance.crosspromo import campaign_schedule, campaigns
from alliance.crosspromo.campaign_models import Campaign
from alliance.crosspromo.campaign_rules import CampaignStatus, zone
from alliance.programs.models import Program
from alliance.settings import get_settings
from alliance.tracking.models import Link
from alliance.tracking.service import link_url

MEDIA_TYPE = "text/calendar; charset=utf-8"
PRODID = "-//Alliance//Co-promotion campaigns//EN"
# A deliverable is due at a moment; calendars show a zero-length event poorly.
DUE_EVENT_LENGTH = timedelta(minutes=30)


def _host() -> str:
    return urlsplit(get_settings().public_url).hostname or "alliance.invalid"


def uid(item_id: str) -> str:
    return f"{item_id}@{_host()}"


def calendar(session: Session, campaign: Campaign) -> icalendar.Calendar:
    tz = zone(campaign.time_zone)
    rows = campaigns.parties(session, campaign.id)
    names = campaigns.party_names(session, rows)
    slot_rows = campaigns.slots(session, campaign.id)
    codes = dict(
        session.execute(
            select(Link.id, Link.code).where(Link.id.in_([s.link_id for s in slot_rows]))
        ).all()
    )
    programs = dict(
        session.execute(
            select(Program.id, Program.name).where(
                Program.id.in_({s.program_id for s in slot_rows})
            )
        ).all()
    )
    cancelled = campaign.status == CampaignStatus.cancelled.value
    stamp = as_utc(campaign.updated_at)
    page = campaigns.campaign_page_url(campaign.id)
    cal = icalendar.Calendar.new(
        prodid=PRODID,
        uid=uid(campaign.id),
        name=campaign.title,
        description=campaign.description or None,
        url=page,
    )
    for slot in slot_rows:
        promoter = names.get(slot.promoter_party_id, "")
        program = programs.get(slot.program_id, slot.program_id)
        lines = [
            f"{promoter} promotes {program} on {slot.channel}.",
            f"Tracking link: {link_url(codes[slot.link_id])}",
        ]
        if slot.notes:
            lines.append(slot.notes)
        lines.append(page)
        cal.add_component(
            icalendar.Event.new(
                uid=uid(slot.id),
                summary=f"{campaign.title}: {slot.title} ({promoter}, {slot.channel})",
                description="\n".join(lines),
                start=as_utc(slot.starts_at).astimezone(tz),
                end=as_utc(slot.ends_at).astimezone(tz),
                stamp=stamp,
                sequence=campaign.terms_version,
                categories=["campaign slot", slot.channel],
                status=icalendar.STATUS.CANCELLED if cancelled else icalendar.STATUS.CONFIRMED,
                url=page,
            )
        )
    for item in campaign_schedule.deliverables(session, campaign.id):
        due = as_utc(item.due_at).astimezone(tz)
        who = names.get(item.party_id, "")
        lines = [item.description, f"Status: {item.status}", page]
        description = "\n".join(line for line in lines if line)
        cal.add_component(
            icalendar.Event.new(
                uid=uid(item.id),
                summary=f"{campaign.title}: {item.title} due ({who})",
                description=description,
                start=due,
                end=due + DUE_EVENT_LENGTH,
                stamp=max(stamp, as_utc(item.updated_at)),
                sequence=campaign.terms_version,
                categories=["campaign deliverable"],
                status=icalendar.STATUS.CANCELLED if cancelled else icalendar.STATUS.CONFIRMED,
                transparency=icalendar.TRANSP.TRANSPARENT,
                url=page,
            )
        )
    cal.add_missing_timezones()
    return cal


def ics_bytes(session: Session, campaign: Campaign) -> bytes:
    data: bytes = calendar(session, campaign).to_ical()
    return data


def filename(campaign: Campaign) -> str:
    return f"{campaign.id}.ics"


def response(session: Session, campaign: Campaign) -> Response:
    return Response(
        ics_bytes(session, campaign),
        media_type=MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{filename(campaign)}"'},
    )

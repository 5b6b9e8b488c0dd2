"""Conversion ingestion: from a stored inbound event to a conversion, its status and its money.

`process_event` is the whole path for one raw request (postback or pixel) inside one session:
decode and validate the parameters, authenticate, then `record` the conversion report —
create (attribute, price, accrue) or move an existing conversion (complete, decline, refund).
It raises `Rejected` with a stable reason code; the caller rolls the session back and keeps
the reason on the inbound event (docs/adr/0006).

Idempotency is the database's: (program_id, order_id, kind) is unique on conversions, the
commission's source_key is unique, ledger entries carry unique keys. Two identical postbacks
racing on PostgreSQL both pass the "not there yet" check, one insert fails with an
IntegrityError, and the caller processes that event again, which now finds the conversion and
answers duplicate. On SQLite the write transaction is BEGIN IMMEDIATE, so they never overlap.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import Connection, bindparam, func, select
from sqlalchemy.orm import Session

from alliance.api.fields import is_public_id
from alliance.attribution.rules import Attribution, ClickFact, OrderFacts, attribute
from alliance.clock import as_utc
from alliance.commissions import service as ledger
from alliance.commissions.calculator import (
    LineFacts,
    SaleFacts,
    commission_base,
    quote_conversion,
)
from alliance.commissions.models import CommissionStatus
from alliance.commissions.terms import TermsDocument, parse_terms
from alliance.conversions.batch import (
    BatchCache,
    CreateBuffer,
    NeedsWrites,
    NewConversion,
    insert_new,
)
from alliance.conversions.inbox import cookie
from alliance.conversions.models import (
    CONVERSION_TRANSITIONS,
    Conversion,
    ConversionEvent,
    ConversionStatus,
    CustomerBinding,
)
from alliance.conversions.postback import (
    ConversionInput,
    RawRequest,
    Rejected,
    authenticate,
    decode_params,
    read_conversion,
)
from alliance.crosspromo import bundle_allocations
from alliance.errors import InvalidInput
from alliance.ids import PREFIXES, new_id
from alliance.notifications import outbox
from alliance.payouts import fx
from alliance.programs.feeds import categories_for
from alliance.programs.models import (
    AttributionPriority,
    CommissionTerms,
    Coupon,
    Enrollment,
    EnrollmentStatus,
    Program,
)
from alliance.settings import get_settings
from alliance.tracking.models import Click

# How many of a visitor's clicks attribution looks at (newest first); a visitor with more
# clicks than this inside one window is a bot farm, and the newest ones decide anyway.
MAX_PATH_CLICKS = 100

OutcomeStatus = Literal["accepted", "duplicate"]

# The hot-path queries, built once with bind parameters: building a statement per request
# costs more CPU than executing it (SQLAlchemy caches the compiled form, not the expression).
_ORDER_KEY = (
    Conversion.program_id == bindparam("program_id"),
    Conversion.order_id == bindparam("order_id"),
    Conversion.kind == bindparam("kind"),
)
# Most postbacks are new orders: a plain id probe is much cheaper than loading (and locking)
# an entity, which only an existing order needs.
_EXISTS = select(Conversion.id).where(*_ORDER_KEY)
_EXISTING = (
    select(Conversion)
    .where(*_ORDER_KEY)
    .with_for_update()
    .execution_options(populate_existing=True)
)
# Column selects, not entities: attribution needs six values, and loading Click objects
# cost more than the queries themselves.
_CLICK_FACT = (
    Click.id,
    Click.program_id,
    Click.partner_id,
    Click.occurred_at,
    Click.is_bot,
    Click.invalid_reason,
)
_NAMED_CLICK = select(*_CLICK_FACT).where(Click.id == bindparam("click_id"))
_IN_WINDOW = (
    Click.program_id == bindparam("program_id"),
    Click.occurred_at >= bindparam("since"),
    Click.occurred_at <= bindparam("until"),
)
# Served by the index (program_id, visitor_id, occurred_at).
_VISITOR_CLICKS = (
    select(*_CLICK_FACT)
    .where(Click.visitor_id == bindparam("visitor_id"), *_IN_WINDOW)
    .order_by(Click.occurred_at.desc())
    .limit(MAX_PATH_CLICKS)
)
# The same for the visitor of a click id, in one statement (one round trip, not two); the
# named click's own row is looked up separately only when it is not among the results.
_NAMED_VISITOR = (
    select(Click.visitor_id)
    .where(Click.id == bindparam("click_id"), Click.program_id == bindparam("program_id"))
    .scalar_subquery()
)
_CLICK_VISITOR_CLICKS = (
    select(*_CLICK_FACT)
    .where(Click.visitor_id == _NAMED_VISITOR, *_IN_WINDOW)
    .order_by(Click.occurred_at.desc())
    .limit(MAX_PATH_CLICKS)
)
_COUPON_OWNER = select(Coupon.partner_id).where(
    Coupon.program_id == bindparam("program_id"), Coupon.code_key == bindparam("code_key")
)
_BINDING = select(CustomerBinding).where(
    CustomerBinding.program_id == bindparam("program_id"),
    CustomerBinding.customer_id == bindparam("customer_id"),
)
_ENROLLMENT = select(Enrollment.status, Enrollment.group).where(
    Enrollment.program_id == bindparam("program_id"),
    Enrollment.partner_id == bindparam("partner_id"),
)
_LATEST_TERMS = (
    select(CommissionTerms)
    .where(CommissionTerms.program_id == bindparam("program_id"))
    .order_by(CommissionTerms.version.desc())
    .limit(1)
)


def _core(session: Session) -> Connection:
    """The session's connection, for the hot path's plain-column queries: Core execution skips
    the ORM's per-statement compile state. Flushing first keeps what autoflush guaranteed (the
    flush is a no-op on a clean session)."""
    session.flush()
    return session.connection()


@dataclass(frozen=True, slots=True)
class Outcome:
    status: OutcomeStatus
    conversion_id: str
    program_id: str


class ProgramRejected(Rejected):
    """A rejection that knows the program it concerns (kept on the inbound event)."""

    def __init__(self, inner: Rejected, program_id: str) -> None:
        super().__init__(inner.reason, inner.detail, field=inner.field)
        self.program_id = program_id


# --- the whole path --------------------------------------------------------------------------


def process_event(
    session: Session,
    raw: RawRequest,
    event_id: str,
    now: datetime,
    *,
    cache: BatchCache | None = None,
    buffer: CreateBuffer | None = None,
    writes: bool = True,
) -> Outcome:
    """Apply one stored inbound request. Raises Rejected (possibly a ProgramRejected).

    In a batch, `cache` keeps what the transaction has read and `buffer` defers the inserts of
    new conversions (conversions/batch.py); without them every write happens here.
    `writes=False` (with a buffer) only reads: an event that must write raises NeedsWrites."""
    params = decode_params(raw, get_settings().max_body_bytes)
    program_id = params.text("program")
    if program_id is None:
        raise Rejected("missing_field", "program is required", field="program")
    program = _program(session, program_id, cache)
    try:
        if raw.source != "pixel":
            authenticate(params, program.postback_token)
        visitor = cookie(raw.headers, f"alc_{program.id}") if raw.source == "pixel" else None
        report = read_conversion(
            params,
            program_id=program.id,
            program_currency=program.currency,
            now=now,
            visitor_id=visitor if visitor and is_public_id(visitor, "vis") else None,
        )
        if raw.source == "pixel" and report.click_id is None:
            # The tag passes the first-party alclid; the cookie is a fallback for a tag served
            # from the advertiser's own domain.
            stored = cookie(raw.headers, "alclid")
            if stored and is_public_id(stored, "clk"):
                report = replace(report, click_id=stored)
        if raw.source == "pixel" and report.status != "pending":
            # The pixel is authenticated by nothing: it may only report new, pending orders.
            raise Rejected(
                "bad_status", "the pixel can only report pending conversions", field="status"
            )
        return record(
            session,
            program,
            report,
            event_id,
            now,
            pixel=raw.source == "pixel",
            cache=cache,
            buffer=buffer,
            writes=writes,
        )
    except Rejected as exc:
        if isinstance(exc, ProgramRejected):
            raise
        raise ProgramRejected(exc, program.id) from None


def _program(session: Session, program_id: str, cache: BatchCache | None) -> Program:
    if cache is not None and program_id in cache.programs:
        found = cache.programs[program_id]
    else:
        found = session.get(Program, program_id) if is_public_id(program_id, "prg") else None
        if cache is not None and len(cache.programs) < 1024:
            cache.programs[program_id] = found
    if found is None:
        raise Rejected("unknown_program", f"no program {program_id[:40]!r}", field="program")
    return found


def record(
    session: Session,
    program: Program,
    report: ConversionInput,
    event_id: str | None,
    now: datetime,
    *,
    pixel: bool = False,
    cache: BatchCache | None = None,
    buffer: CreateBuffer | None = None,
    writes: bool = True,
) -> Outcome:
    """Create the conversion or move it along its lifecycle. Locks an existing conversion row
    (PostgreSQL) so two status changes of one order are applied one after the other.

    With a `buffer`, a new pending conversion is only planned here and inserted with the
    batch; anything else is written at once (raises DependsOnBuffered if it would read rows
    the buffer still holds). With `writes=False` it raises NeedsWrites instead of writing."""
    assert writes or buffer is not None, "without writes, new conversions need a buffer"
    if buffer is not None:
        buffer.check_order(program.id, report.order_id, report.kind)
    key = {"program_id": program.id, "order_id": report.order_id, "kind": report.kind}
    existing = None
    if _core(session).execute(_EXISTS, key).first() is not None:
        if not writes:
            raise NeedsWrites  # before taking the row lock
        existing = session.scalars(_EXISTING, key).first()
    if existing is None:
        if not writes and report.status != "pending":
            raise NeedsWrites
        plan = _plan_create(session, program, report, event_id, now, cache, buffer)
        if buffer is not None and report.status == "pending":
            buffer.add(plan)
            return Outcome("accepted", plan.id, program.id)
        insert_new(session, [plan])
        if report.status != "pending":
            conversion = session.get(Conversion, plan.id)
            assert conversion is not None  # inserted just above, in this transaction
            _transition(session, program, conversion, report, event_id, now)
        return Outcome("accepted", plan.id, program.id)
    if pixel:
        return Outcome("duplicate", existing.id, program.id)
    changed = _transition(session, program, existing, report, event_id, now)
    return Outcome("accepted" if changed else "duplicate", existing.id, program.id)


# --- creation --------------------------------------------------------------------------------


# Parsed terms by (terms id, currency). Terms rows are never updated (a change is a new
# version with a new id), so a parse per id is final and the cache never goes stale.
_TERMS_CACHE: dict[tuple[str, str], TermsDocument] = {}


def terms_document(terms: CommissionTerms, currency: str) -> TermsDocument:
    key = (terms.id, currency)
    found = _TERMS_CACHE.get(key)
    if found is None:
        if len(_TERMS_CACHE) > 4096:
            _TERMS_CACHE.clear()
        found = _TERMS_CACHE[key] = parse_terms(terms.rules, currency)
    return found


def latest_terms(
    session: Session, program_id: str, cache: BatchCache | None = None
) -> CommissionTerms | None:
    if cache is not None and program_id in cache.terms:
        return cache.terms[program_id]
    found = session.scalars(_LATEST_TERMS, {"program_id": program_id}).first()
    if cache is not None:
        cache.terms[program_id] = found
    return found


def _enrollment(
    session: Session, program_id: str, partner_id: str, cache: BatchCache | None
) -> tuple[str, str | None] | None:
    """(status, group) of the partner's enrollment in the program, if any."""
    key = (program_id, partner_id)
    if cache is not None and key in cache.enrollments:
        return cache.enrollments[key]
    row = session.execute(_ENROLLMENT, {"program_id": program_id, "partner_id": partner_id}).first()
    found = (row.status, row.group) if row is not None else None
    if cache is not None and len(cache.enrollments) < 65_536:
        cache.enrollments[key] = found
    return found


def _clicks_for(
    session: Session, program: Program, report: ConversionInput, order_at: datetime
) -> tuple[list[ClickFact], str | None]:
    """The visitor's clicks in the program up to the order, and how the visitor was found."""
    window = timedelta(days=program.cookie_window_days)
    in_window = {
        "program_id": program.id,
        "since": order_at - window - timedelta(days=1),
        "until": order_at,
    }
    # The last click in the window wins even when the advertiser sent back an older click id
    # of the same visitor.
    if report.click_id is not None:
        facts: list[ClickFact] = []
        if is_public_id(report.click_id, "clk"):
            rows = _core(session).execute(
                _CLICK_VISITOR_CLICKS, {**in_window, "click_id": report.click_id}
            )
            facts = [ClickFact(*row) for row in rows]
        if all(c.click_id != report.click_id for c in facts):
            facts.append(_named_click(session, program, report.click_id))
        return facts, "click_id"
    if report.visitor_id is None:
        return [], None
    rows = _core(session).execute(_VISITOR_CLICKS, {**in_window, "visitor_id": report.visitor_id})
    return [ClickFact(*row) for row in rows], "cookie"


def _named_click(session: Session, program: Program, click_id: str) -> ClickFact:
    """The click an order names, when it is not among its visitor's clicks in the window:
    unknown, of another program, or outside the window (then still shown on the order, and
    it explains a refusal)."""
    row = None
    if is_public_id(click_id, "clk"):
        row = _core(session).execute(_NAMED_CLICK, {"click_id": click_id}).first()
    if row is None:
        raise Rejected("unknown_click", "no click with this id", field="click_id")
    if row.program_id != program.id:
        raise Rejected(
            "click_other_program", "the click belongs to another program", field="click_id"
        )
    return ClickFact(*row[:6])


def _plan_create(
    session: Session,
    program: Program,
    report: ConversionInput,
    event_id: str | None,
    now: datetime,
    cache: BatchCache | None,
    buffer: CreateBuffer | None,
) -> NewConversion:
    """Attribute and price a new conversion: every row it writes, nothing written yet."""
    amount = report.amount
    if amount is None:
        if report.kind == "sale":
            raise Rejected("missing_field", "amount is required for a new sale", field="amount")
        amount = Decimal(0)
    order_at = report.occurred_at or now
    clicks, click_method = _clicks_for(session, program, report, order_at)
    coupon_partner = None
    if report.coupon is not None:
        coupon_partner = session.scalar(
            _COUPON_OWNER, {"program_id": program.id, "code_key": report.coupon.upper()}
        )
    binding = None
    if report.customer_id is not None:
        if buffer is not None:
            buffer.check_customer(program.id, report.customer_id)
        binding = session.scalars(
            _BINDING, {"program_id": program.id, "customer_id": report.customer_id}
        ).first()
    result = attribute(
        OrderFacts(
            program_id=program.id,
            occurred_at=order_at,
            window=timedelta(days=program.cookie_window_days),
            coupon_partner_id=coupon_partner,
            customer_partner_id=binding.partner_id if binding else None,
            coupon_beats_click=program.attribution_priority == AttributionPriority.coupon,
        ),
        clicks,
    )
    if not isinstance(result, Attribution):
        reason = "no_attribution" if result.reason == "no_click" else result.reason
        raise Rejected(reason, result.detail, field="click_id" if report.click_id else None)
    attributed_by = {"click": click_method or "click_id", "coupon": "coupon"}.get(
        result.method, "customer"
    )

    enrollment = _enrollment(session, program.id, result.partner_id, cache)
    if enrollment is None or enrollment[0] != EnrollmentStatus.approved:
        raise Rejected(
            "partner_not_approved",
            f"the attributed partner {result.partner_id} is not approved in this program",
            field="click_id" if result.method == "click" else result.method,
        )
    terms = latest_terms(session, program.id, cache)
    if terms is None:
        raise Rejected("no_terms", "the program has no commission terms yet", field="program")
    try:
        document = terms_document(terms, program.currency)
    except InvalidInput as exc:  # stored terms that no longer validate: an operator problem
        raise Rejected("no_terms", f"the program's terms are invalid: {exc.detail}") from None

    new_customer = report.new_customer
    if new_customer is None and report.customer_id is not None:
        new_customer = binding is None
    if buffer is not None and document.tier_measure is not None:
        buffer.check_program(program.id)  # the month's volume counts the buffered ones too
    orders_before, sales_before = _month_volume(
        session, program.id, result.partner_id, order_at, document
    )
    lines = report.items
    unlabelled = [i.sku for i in lines if i.sku and not i.category]
    if unlabelled:
        # The product feed names the category an order line left out, so category overrides
        # apply to stores that send only SKUs. A category sent on the line always wins.
        known = categories_for(session, program.id, unlabelled)
        lines = tuple(
            replace(i, category=known.get(i.sku)) if i.sku and not i.category else i for i in lines
        )
    facts = SaleFacts(
        kind=report.kind,
        currency=report.currency,
        amount=amount,
        tax=report.tax,
        shipping=report.shipping,
        items=tuple(LineFacts(i.sku, i.category, i.amount, i.quantity) for i in lines),
        buyer_country=report.buyer_country,
        new_customer=new_customer,
        partner_group=enrollment[1],
        month_orders_before=orders_before,
        month_sales_before=sales_before,
    )
    fx_quote = None
    priced = facts
    if report.currency != program.currency:
        fx_quote = _fx_quote(session, report.currency, program.currency, order_at, cache)
        priced = _in_currency(facts, fx_quote)
    quote = quote_conversion(document, terms.version, priced)
    if fx_quote is not None:
        quote = replace(quote, arithmetic=f"{_fx_text(facts, fx_quote)}; {quote.arithmetic}")
    conversion_id = new_id(PREFIXES["conversion"])
    conversion: dict[str, Any] = {
        "id": conversion_id,
        "program_id": program.id,
        "partner_id": result.partner_id,
        "order_id": report.order_id,
        "kind": report.kind,
        "status": ConversionStatus.pending.value,
        "currency": report.currency,
        "amount": amount,
        "net_amount": commission_base(document, facts),
        "tax_amount": report.tax,
        "shipping_amount": report.shipping,
        "refunded_amount": Decimal(0),
        "fx_rate": fx_quote.rate if fx_quote else None,
        "fx_day": fx_quote.day if fx_quote else None,
        "items": [
            {"sku": i.sku, "category": i.category, "amount": str(i.amount), "quantity": i.quantity}
            for i in lines
        ],
        "click_id": result.click_id,
        "coupon": report.coupon,
        "customer_id": report.customer_id,
        "new_customer": new_customer,
        "buyer_country": report.buyer_country,
        "attributed_by": attributed_by,
        "click_path": [dict(step) for step in result.path],
        "terms_id": terms.id,
        "occurred_at": order_at,
        "completed_at": None,
        "decline_reason": None,
        "created_at": now,
    }
    bind = None
    if report.customer_id is not None and binding is None and report.kind == "sale":
        # The first sale binds the customer to its partner: their later orders without a click
        # or coupon (subscriptions, repeat buyers) are the partner's too.
        bind = {
            "program_id": program.id,
            "customer_id": report.customer_id,
            "partner_id": result.partner_id,
            "first_conversion_id": conversion_id,
            "created_at": now,
        }
    commission, entry = ledger.accrual_rows(conversion, quote, terms)
    return NewConversion(
        conversion=conversion,
        event=_event_row(conversion_id, "created", ConversionStatus.pending.value, event_id, now),
        binding=bind,
        commission=commission,
        entry=entry,
    )


def _fx_quote(
    session: Session,
    order_currency: str,
    program_currency: str,
    order_at: datetime,
    cache: BatchCache | None,
) -> fx.Quote:
    """The ECB rate of the order's day (UTC) into the program's currency; a currency the ECB
    does not quote is refused (kept with its reason), never priced at a guess."""
    key = (order_currency, program_currency, as_utc(order_at).date())
    found = cache.fx.get(key) if cache is not None else None
    if found is None:
        try:
            found = fx.quote(session, *key, field="currency")
        except fx.NoRate as exc:
            raise Rejected("no_rate", exc.detail, field="currency") from None
        if cache is not None:
            cache.fx[key] = found
    return found


def _in_currency(facts: SaleFacts, rate: fx.Quote) -> SaleFacts:
    """The order's amounts in the program's currency, unrounded: the calculator rounds once,
    at the end, so the commission is exactly percent x rate x base, rounded."""
    r = rate.rate
    return replace(
        facts,
        currency=rate.quote,
        amount=facts.amount * r,
        tax=facts.tax * r,
        shipping=facts.shipping * r,
        items=tuple(replace(line, net_amount=line.net_amount * r) for line in facts.items),
    )


def _fx_text(facts: SaleFacts, rate: fx.Quote) -> str:
    """The conversion in words, ahead of the commission's arithmetic."""
    return (
        f"{facts.amount} {facts.currency} at {rate.rate} {rate.quote}/{rate.base}"
        f" (ECB, {rate.day.isoformat()}) = {rate.convert(facts.amount)} {rate.quote}"
    )


def _month_volume(
    session: Session,
    program_id: str,
    partner_id: str,
    order_at: datetime,
    document: TermsDocument,
) -> tuple[int, Decimal]:
    """The partner's non-declined conversions in the program this calendar month before this
    one: (count, sum of commission bases). Only queried when the terms have tiers."""
    if document.tier_measure is None:
        return 0, Decimal(0)
    month_start = order_at.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    where = (
        Conversion.program_id == program_id,
        Conversion.partner_id == partner_id,
        Conversion.status != ConversionStatus.declined.value,
        Conversion.occurred_at >= month_start,
        Conversion.occurred_at < order_at,
    )
    if document.tier_measure == "min_orders":
        count = session.scalar(select(func.count()).select_from(Conversion).where(*where))
        return int(count or 0), Decimal(0)
    # Bases in the program's currency: an order in another currency at the rate it was
    # priced at (stored with it).
    rows = session.execute(select(Conversion.net_amount, Conversion.fx_rate).where(*where)).all()
    return len(rows), sum((net * (rate or 1) for net, rate in rows), Decimal(0))


# --- lifecycle -------------------------------------------------------------------------------


def _event_row(
    conversion_id: str,
    kind: str,
    status: str,
    event_id: str | None,
    now: datetime,
    *,
    refunded: Decimal | None = None,
    note: str | None = None,
) -> dict[str, Any]:
    return {
        "id": new_id(PREFIXES["conversion_event"]),
        "conversion_id": conversion_id,
        "kind": kind,
        "status": status,
        "refunded_amount": refunded,
        "inbound_event_id": event_id,
        "note": note,
        "occurred_at": now,
    }


def _event(
    session: Session,
    conversion: Conversion,
    kind: str,
    event_id: str | None,
    now: datetime,
    *,
    refunded: Decimal | None = None,
    note: str | None = None,
) -> None:
    session.add(
        ConversionEvent(
            id=new_id(PREFIXES["conversion_event"]),
            conversion_id=conversion.id,
            kind=kind,
            status=conversion.status,
            refunded_amount=refunded,
            inbound_event_id=event_id,
            note=note,
            occurred_at=now,
        )
    )


def _illegal(conversion: Conversion, target: str) -> Rejected:
    return Rejected(
        "illegal_transition",
        f"order {conversion.order_id} is {conversion.status}; it cannot become {target}",
        field="status",
    )


def _transition(
    session: Session,
    program: Program,
    conversion: Conversion,
    report: ConversionInput,
    event_id: str | None,
    now: datetime,
) -> bool:
    """Apply the reported status to an existing conversion. True if anything changed."""
    current = ConversionStatus(conversion.status)
    target = report.status
    if report.currency_given and report.currency != conversion.currency:
        raise Rejected(
            "currency_mismatch",
            f"order {conversion.order_id} is in {conversion.currency}, not {report.currency}",
            field="currency",
        )
    if target == "pending":
        # A replay of the first report (trackers resend it): never moves an order backwards.
        return False
    if target == "completed":
        if current is ConversionStatus.completed:
            return False
        if ConversionStatus.completed not in CONVERSION_TRANSITIONS[current]:
            raise _illegal(conversion, target)
        return complete_conversion(session, program, conversion, event_id, now)
    if target == "declined":
        if current is ConversionStatus.declined:
            return False
        return decline_conversion(session, conversion, "declined by the advertiser", event_id, now)
    # refunded: refund_amount is the cumulative gross refunded so far; absent = everything.
    cumulative = report.refund_amount if report.refund_amount is not None else conversion.amount
    return refund_conversion(session, conversion, cumulative, event_id, now)


def complete_conversion(
    session: Session,
    program: Program,
    conversion: Conversion,
    event_id: str | None,
    now: datetime,
) -> bool:
    """pending → completed: the lock period starts now (the time we were told, so a backdated
    report cannot shorten it)."""
    if conversion.status != ConversionStatus.pending:
        if conversion.status == ConversionStatus.completed:
            return False
        raise _illegal(conversion, "completed")
    conversion.status = ConversionStatus.completed.value
    conversion.completed_at = now
    ledger.complete(session, conversion, now, program.lock_period_days)
    bundle_allocations.allocate_sale(session, conversion, now)
    _event(session, conversion, "completed", event_id, now)
    outbox.conversion_changed(session, "conversion.completed", conversion)
    return True


def decline_conversion(
    session: Session, conversion: Conversion, reason: str, event_id: str | None, now: datetime
) -> bool:
    """pending (or completed, still in its lock period) → declined. Once the commission is
    approved the order can only be refunded."""
    current = ConversionStatus(conversion.status)
    if current is ConversionStatus.declined:
        return False
    allowed = ConversionStatus.declined in CONVERSION_TRANSITIONS[current]
    if current is ConversionStatus.completed:
        commission = ledger.commission_for(session, conversion.id)
        allowed = commission is not None and commission.status == CommissionStatus.pending
    if not allowed:
        raise _illegal(conversion, "declined")
    try:
        ledger.decline(session, conversion, reason)
    except ledger.IllegalTransition as exc:
        raise Rejected("illegal_transition", exc.detail, field="status") from None
    conversion.status = ConversionStatus.declined.value
    conversion.decline_reason = reason[:500]
    bundle_allocations.follow_decline(session, conversion, now)
    _event(session, conversion, "declined", event_id, now, note=reason)
    outbox.conversion_changed(session, "conversion.declined", conversion)
    return True


def refund_conversion(
    session: Session,
    conversion: Conversion,
    cumulative: Decimal,
    event_id: str | None,
    now: datetime,
) -> bool:
    """Apply a refund given as the cumulative gross amount refunded so far. A replay or an
    out-of-order smaller amount changes nothing; the full amount reverses the commission."""
    current = ConversionStatus(conversion.status)
    if current is ConversionStatus.refunded:
        return False
    if current is ConversionStatus.declined:
        raise _illegal(conversion, "refunded")
    if cumulative > conversion.amount:
        raise Rejected(
            "bad_amount",
            f"refund_amount {cumulative} is more than the order amount {conversion.amount}",
            field="refund_amount",
        )
    full = cumulative >= conversion.amount
    if not full and cumulative <= conversion.refunded_amount:
        return False
    try:
        ledger.apply_refund(session, conversion, cumulative)
    except ledger.IllegalTransition as exc:
        raise Rejected("illegal_transition", exc.detail, field="status") from None
    conversion.refunded_amount = max(cumulative, conversion.refunded_amount)
    if full:
        conversion.status = ConversionStatus.refunded.value
    bundle_allocations.follow_refund(session, conversion, now)
    _event(session, conversion, "refund", event_id, now, refunded=cumulative)
    outbox.conversion_changed(session, "conversion.refunded", conversion)
    return True

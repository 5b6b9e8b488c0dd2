"""Imports every model so that Base.metadata is complete (Alembic, tests)."""

from alliance.accounts.models import Advertiser, ApiKey, Operator, Partner
from alliance.commissions.models import Commission, LedgerEntry
from alliance.conversions.models import (
    Conversion,
    ConversionEvent,
    CustomerBinding,
    InboundEvent,
)
from alliance.db.base import Base
from alliance.jobs.models import JobRun
from alliance.programs.models import CommissionTerms, Coupon, Enrollment, Program
from alliance.tracking.models import Click, Link

__all__ = [
    "Advertiser",
    "ApiKey",
    "Base",
    "Click",
    "Commission",
    "CommissionTerms",
    "Conversion",
    "ConversionEvent",
    "Coupon",
    "CustomerBinding",
    "Enrollment",
    "InboundEvent",
    "JobRun",
    "LedgerEntry",
    "Link",
    "Operator",
    "Partner",
    "Program",
]

"""Imports every model so that Base.metadata is complete (Alembic, tests)."""

from alliance.accounts.models import Advertiser, ApiKey, Operator, Partner, PartnerApplication
from alliance.accounts.users import Invitation, LoginFailure, Membership, User
from alliance.api.idempotency_models import IdempotencyKey
from alliance.commissions.models import Commission, LedgerEntry
from alliance.conversions.models import (
    Conversion,
    ConversionEvent,
    CustomerBinding,
    InboundEvent,
    OrderRefund,
    OrderValidation,
    OrderValidationRow,
    WebhookIntegration,
)
from alliance.crosspromo.bundle_models import Bundle, BundleAllocation, BundleParty
from alliance.crosspromo.campaign_models import (
    Campaign,
    CampaignDeliverable,
    CampaignParty,
    CampaignReminder,
    CampaignSlot,
)
from alliance.crosspromo.cap_models import FatigueCapRule
from alliance.crosspromo.contest_models import Contest, ContestDraw, ContestEntry, ContestPartner
from alliance.crosspromo.exchange_models import ExchangeAlert, ExchangeEntry, ExchangeSettlement
from alliance.crosspromo.matching_models import (
    CoPurchaseCategory,
    CoPurchasePair,
    MatchingState,
    PartnerCategoryOrders,
)
from alliance.crosspromo.overlap_models import AudienceSketch
from alliance.crosspromo.referral_models import (
    AccountFingerprint,
    PartnerReferral,
    RecruitCode,
    ReferralTerms,
)
from alliance.crosspromo.variant_models import LinkVariant
from alliance.db.base import Base
from alliance.jobs.models import JobRun
from alliance.mail.models import OutgoingMail
from alliance.notifications.models import (
    PartnerPostback,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from alliance.payouts.models import (
    DocumentSequence,
    FxRate,
    NetworkProfile,
    Payout,
    PayoutLine,
    PayoutRun,
    PayoutSettings,
    TaxProfile,
)
from alliance.programs.models import (
    CommissionTerms,
    Coupon,
    Creative,
    Enrollment,
    FeedProduct,
    FeedUpload,
    Program,
)
from alliance.reports.models import (
    CustomerCohort,
    CustomerRollup,
    RefundRollup,
    ReportChange,
    RollupState,
)
from alliance.tracking.models import Click, Link

__all__ = [
    "AccountFingerprint",
    "Advertiser",
    "ApiKey",
    "AudienceSketch",
    "Base",
    "Bundle",
    "BundleAllocation",
    "BundleParty",
    "Campaign",
    "CampaignDeliverable",
    "CampaignParty",
    "CampaignReminder",
    "CampaignSlot",
    "Click",
    "CoPurchaseCategory",
    "CoPurchasePair",
    "Commission",
    "CommissionTerms",
    "Contest",
    "ContestDraw",
    "ContestEntry",
    "ContestPartner",
    "Conversion",
    "ConversionEvent",
    "Coupon",
    "Creative",
    "CustomerBinding",
    "CustomerCohort",
    "CustomerRollup",
    "DocumentSequence",
    "Enrollment",
    "ExchangeAlert",
    "ExchangeEntry",
    "ExchangeSettlement",
    "FatigueCapRule",
    "FeedProduct",
    "FeedUpload",
    "FxRate",
    "IdempotencyKey",
    "InboundEvent",
    "Invitation",
    "JobRun",
    "LedgerEntry",
    "Link",
    "LinkVariant",
    "LoginFailure",
    "MatchingState",
    "Membership",
    "NetworkProfile",
    "Operator",
    "OrderRefund",
    "OrderValidation",
    "OrderValidationRow",
    "OutgoingMail",
    "Partner",
    "PartnerApplication",
    "PartnerCategoryOrders",
    "PartnerPostback",
    "PartnerReferral",
    "Payout",
    "PayoutLine",
    "PayoutRun",
    "PayoutSettings",
    "Program",
    "RecruitCode",
    "ReferralTerms",
    "RefundRollup",
    "ReportChange",
    "RollupState",
    "TaxProfile",
    "User",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookEvent",
    "WebhookIntegration",
]

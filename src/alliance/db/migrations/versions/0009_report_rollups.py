"""report rollups: traffic and orders rollups, the orders change log and its triggers,
customers (lifetime value), and the indexes the refresher and the raw reports read

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-21 16:35:00

The rollup tables are derived data (reports/models.py, ADR 0009): after upgrading a database
that already has clicks or orders, run `alliance rollups rebuild` once; until then the
reports answer from the raw tables (exact, only slower).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import alliance.db.base

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# Frozen copy of reports/models.py's grains: (table, dimensions, measures).
_DIMS = {
    "program_id": 32,
    "partner_id": 32,
    "earner_id": 32,
    "link_id": 32,
    "sub1": 255,
    "country": 2,
    "device": 16,
    "currency": 3,
    "status": 16,
}
_TRAFFIC = ("clicks", "valid_clicks", "unique_clicks", "unique_valid_clicks")
_ORDERS = (
    "orders",
    "refunded_orders",
    "declined_orders",
    "sales",
    "refunded",
    "declined_sales",
    "net_sales",
    "commission_pending",
    "commission_approved",
    "commission_paid",
    "commission_declined",
    "commission_reversed",
    "commission_value",
    "commissions",
)
_OP = ("partner_id", "earner_id", "program_id", "currency")
GRAINS = (
    (
        "traffic_rollups",
        ("partner_id", "program_id", "link_id", "sub1", "country", "device"),
        _TRAFFIC,
    ),
    ("traffic_by_program", ("program_id",), _TRAFFIC),
    ("traffic_by_device", ("device", "program_id"), _TRAFFIC),
    ("traffic_by_country", ("country", "program_id"), _TRAFFIC),
    ("traffic_partners", ("partner_id",), _TRAFFIC),
    ("traffic_partners_by_device", ("device", "partner_id"), _TRAFFIC),
    ("traffic_partners_by_country", ("country", "partner_id"), _TRAFFIC),
    ("traffic_by_audience", ("country", "device", "program_id"), _TRAFFIC),
    ("traffic_by_partner", ("partner_id", "program_id"), _TRAFFIC),
    ("traffic_by_partner_device", ("partner_id", "device", "program_id"), _TRAFFIC),
    ("traffic_by_partner_country", ("partner_id", "country", "program_id"), _TRAFFIC),
    ("traffic_by_link", ("partner_id", "program_id", "link_id", "sub1"), _TRAFFIC),
    ("orders_rollups", (*_OP, "status", "country", "sub1", "device"), _ORDERS),
    ("orders_by_program", ("program_id", "currency", "status"), _ORDERS),
    ("orders_partners", ("partner_id", "earner_id", "currency"), _ORDERS),
    ("orders_partners_by_device", ("device", "partner_id", "earner_id", "currency"), _ORDERS),
    ("orders_partners_by_country", ("country", "partner_id", "earner_id", "currency"), _ORDERS),
    ("orders_by_audience", ("country", "device", "program_id", "currency", "status"), _ORDERS),
    ("orders_by_partner", _OP, _ORDERS),
    (
        "orders_by_partner_device",
        ("partner_id", "earner_id", "device", "program_id", "currency"),
        _ORDERS,
    ),
    (
        "orders_by_partner_country",
        ("partner_id", "earner_id", "country", "program_id", "currency"),
        _ORDERS,
    ),
)

# Every change to an order, its commission or a ledger entry logs the order's (program, UTC
# day) bucket in report_changes, in the same transaction, whatever code wrote it. The day is
# the first ten characters of SQLite's UTC text, PostgreSQL's timestamptz seen in UTC.
SQLITE_TRIGGERS = (
    """
    CREATE TRIGGER report_change_conversion_insert AFTER INSERT ON conversions BEGIN
      INSERT INTO report_changes (program_id, day)
      VALUES (NEW.program_id, substr(NEW.occurred_at, 1, 10));
    END""",
    """
    CREATE TRIGGER report_change_conversion_update
    AFTER UPDATE OF program_id, partner_id, kind, status, currency, amount, refunded_amount,
      click_id, customer_id, buyer_country, occurred_at ON conversions BEGIN
      INSERT INTO report_changes (program_id, day)
      VALUES (NEW.program_id, substr(NEW.occurred_at, 1, 10));
      INSERT INTO report_changes (program_id, day)
      SELECT OLD.program_id, substr(OLD.occurred_at, 1, 10)
      WHERE OLD.program_id <> NEW.program_id
         OR substr(OLD.occurred_at, 1, 10) <> substr(NEW.occurred_at, 1, 10);
    END""",
    """
    CREATE TRIGGER report_change_conversion_delete AFTER DELETE ON conversions BEGIN
      INSERT INTO report_changes (program_id, day)
      VALUES (OLD.program_id, substr(OLD.occurred_at, 1, 10));
    END""",
    """
    CREATE TRIGGER report_change_commission_insert AFTER INSERT ON commissions
    WHEN NEW.conversion_id IS NOT NULL BEGIN
      INSERT INTO report_changes (program_id, day)
      SELECT program_id, substr(occurred_at, 1, 10) FROM conversions
      WHERE id = NEW.conversion_id;
    END""",
    """
    CREATE TRIGGER report_change_commission_update
    AFTER UPDATE OF conversion_id, program_id, partner_id, status, currency, amount
    ON commissions BEGIN
      INSERT INTO report_changes (program_id, day)
      SELECT program_id, substr(occurred_at, 1, 10) FROM conversions
      WHERE id IN (NEW.conversion_id, OLD.conversion_id);
    END""",
    """
    CREATE TRIGGER report_change_commission_delete AFTER DELETE ON commissions
    WHEN OLD.conversion_id IS NOT NULL BEGIN
      INSERT INTO report_changes (program_id, day)
      SELECT program_id, substr(occurred_at, 1, 10) FROM conversions
      WHERE id = OLD.conversion_id;
    END""",
    """
    CREATE TRIGGER report_change_ledger_insert AFTER INSERT ON ledger_entries BEGIN
      INSERT INTO report_changes (program_id, day)
      SELECT c.program_id, substr(c.occurred_at, 1, 10)
      FROM commissions k JOIN conversions c ON c.id = k.conversion_id
      WHERE k.id = NEW.commission_id;
    END""",
    """
    CREATE TRIGGER report_change_ledger_update AFTER UPDATE ON ledger_entries BEGIN
      INSERT INTO report_changes (program_id, day)
      SELECT c.program_id, substr(c.occurred_at, 1, 10)
      FROM commissions k JOIN conversions c ON c.id = k.conversion_id
      WHERE k.id IN (NEW.commission_id, OLD.commission_id);
    END""",
    """
    CREATE TRIGGER report_change_ledger_delete AFTER DELETE ON ledger_entries BEGIN
      INSERT INTO report_changes (program_id, day)
      SELECT c.program_id, substr(c.occurred_at, 1, 10)
      FROM commissions k JOIN conversions c ON c.id = k.conversion_id
      WHERE k.id = OLD.commission_id;
    END""",
)
SQLITE_TRIGGER_NAMES = (
    "report_change_conversion_insert",
    "report_change_conversion_update",
    "report_change_conversion_delete",
    "report_change_commission_insert",
    "report_change_commission_update",
    "report_change_commission_delete",
    "report_change_ledger_insert",
    "report_change_ledger_update",
    "report_change_ledger_delete",
)
POSTGRES_FUNCTIONS = (
    """
    CREATE FUNCTION report_change_conversion() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP <> 'DELETE' THEN
        INSERT INTO report_changes (program_id, day)
        VALUES (NEW.program_id, (NEW.occurred_at AT TIME ZONE 'UTC')::date);
      END IF;
      IF TG_OP = 'DELETE' OR OLD.program_id <> NEW.program_id
         OR (OLD.occurred_at AT TIME ZONE 'UTC')::date
            <> (NEW.occurred_at AT TIME ZONE 'UTC')::date THEN
        INSERT INTO report_changes (program_id, day)
        VALUES (OLD.program_id, (OLD.occurred_at AT TIME ZONE 'UTC')::date);
      END IF;
      RETURN NULL;
    END $$""",
    """
    CREATE FUNCTION report_change_commission() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'INSERT' THEN
        INSERT INTO report_changes (program_id, day)
        SELECT c.program_id, (c.occurred_at AT TIME ZONE 'UTC')::date
        FROM conversions c WHERE c.id = NEW.conversion_id;
      ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO report_changes (program_id, day)
        SELECT c.program_id, (c.occurred_at AT TIME ZONE 'UTC')::date
        FROM conversions c WHERE c.id = OLD.conversion_id;
      ELSE
        INSERT INTO report_changes (program_id, day)
        SELECT c.program_id, (c.occurred_at AT TIME ZONE 'UTC')::date FROM conversions c
        WHERE c.id IN (NEW.conversion_id, OLD.conversion_id);
      END IF;
      RETURN NULL;
    END $$""",
    """
    CREATE FUNCTION report_change_ledger() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'INSERT' THEN
        INSERT INTO report_changes (program_id, day)
        SELECT c.program_id, (c.occurred_at AT TIME ZONE 'UTC')::date
        FROM commissions k JOIN conversions c ON c.id = k.conversion_id
        WHERE k.id = NEW.commission_id;
      ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO report_changes (program_id, day)
        SELECT c.program_id, (c.occurred_at AT TIME ZONE 'UTC')::date
        FROM commissions k JOIN conversions c ON c.id = k.conversion_id
        WHERE k.id = OLD.commission_id;
      ELSE
        INSERT INTO report_changes (program_id, day)
        SELECT c.program_id, (c.occurred_at AT TIME ZONE 'UTC')::date
        FROM commissions k JOIN conversions c ON c.id = k.conversion_id
        WHERE k.id IN (NEW.commission_id, OLD.commission_id);
      END IF;
      RETURN NULL;
    END $$""",
)
POSTGRES_TRIGGERS = (
    """CREATE TRIGGER report_change_conversion
    AFTER INSERT OR DELETE OR UPDATE OF program_id, partner_id, kind, status, currency, amount,
      refunded_amount, click_id, customer_id, buyer_country, occurred_at ON conversions
    FOR EACH ROW EXECUTE FUNCTION report_change_conversion()""",
    """CREATE TRIGGER report_change_commission
    AFTER INSERT OR DELETE OR UPDATE OF conversion_id, program_id, partner_id, status, currency,
      amount ON commissions
    FOR EACH ROW EXECUTE FUNCTION report_change_commission()""",
    """CREATE TRIGGER report_change_ledger
    AFTER INSERT OR DELETE OR UPDATE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION report_change_ledger()""",
)


def upgrade() -> None:
    # The customers refresher reads a customer's orders by (program, customer id); the
    # transactions report pages through the network's orders by (occurred_at, id); the
    # refunds report reads the ledger's refund entries of a period.
    op.create_index(
        "ix_conversions_program_id_customer_id", "conversions", ["program_id", "customer_id"]
    )
    op.create_index("ix_conversions_occurred_at_id", "conversions", ["occurred_at", "id"])
    op.create_index(
        "ix_ledger_entries_entry_type_created_at", "ledger_entries", ["entry_type", "created_at"]
    )
    op.create_table(
        "rollup_states",
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("watermark", sa.String(32), nullable=False),
        sa.Column("through_at", alliance.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", alliance.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_rollup_states"),
    )
    op.create_table(
        "report_changes",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("program_id", sa.String(32), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_report_changes"),
    )
    op.create_index("ix_report_changes_day_program_id", "report_changes", ["day", "program_id"])
    for name, dims, measures in GRAINS:
        op.create_table(
            name,
            sa.Column("span", sa.SmallInteger(), nullable=False),
            sa.Column("day", sa.Date(), nullable=False),
            *(sa.Column(d, sa.String(_DIMS[d]), nullable=False) for d in dims),
            *(sa.Column(m, sa.BigInteger(), nullable=False) for m in measures),
            sa.PrimaryKeyConstraint("span", "day", *dims, name=f"pk_{name}"),
            sqlite_with_rowid=False,
        )
        if "program_id" in dims:
            op.create_index(f"ix_{name}_program_id_day_span", name, ["program_id", "day", "span"])
    op.create_table(
        "refund_rollups",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("program_id", sa.String(32), nullable=False),
        sa.Column("order_day", sa.Date(), nullable=False),
        sa.Column("conversion_id", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("partner_id", sa.String(32), nullable=False),
        sa.Column("earner_id", sa.String(32), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("sub1", sa.String(255), nullable=False),
        sa.Column("device", sa.String(16), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_refund_rollups"),
    )
    for columns in (
        ["program_id", "order_day"],
        ["day"],
        ["program_id", "day"],
        ["partner_id", "day"],
    ):
        op.create_index(f"ix_refund_rollups_{'_'.join(columns)}", "refund_rollups", columns)
    op.create_table(
        "customer_rollups",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("program_id", sa.String(32), nullable=False),
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("partner_id", sa.String(32), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("first_day", sa.Date(), nullable=False),
        sa.Column("orders", sa.BigInteger(), nullable=False),
        sa.Column("net_sales", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_customer_rollups"),
    )
    op.create_index(
        "ix_customer_rollups_program_id_customer_id",
        "customer_rollups",
        ["program_id", "customer_id"],
    )
    op.create_table(
        "customer_cohorts",
        sa.Column("first_day", sa.Date(), nullable=False),
        sa.Column("program_id", sa.String(32), nullable=False),
        sa.Column("partner_id", sa.String(32), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("customers", sa.BigInteger(), nullable=False),
        sa.Column("orders", sa.BigInteger(), nullable=False),
        sa.Column("net_sales", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "first_day", "program_id", "partner_id", "currency", name="pk_customer_cohorts"
        ),
    )
    op.create_index(
        "ix_customer_cohorts_program_id_partner_id_first_day",
        "customer_cohorts",
        ["program_id", "partner_id", "first_day"],
    )
    if op.get_bind().dialect.name == "postgresql":
        for statement in (*POSTGRES_FUNCTIONS, *POSTGRES_TRIGGERS):
            op.execute(statement)
    else:
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table, trigger in (
            ("conversions", "report_change_conversion"),
            ("commissions", "report_change_commission"),
            ("ledger_entries", "report_change_ledger"),
        ):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger} ON {table}")
            op.execute(f"DROP FUNCTION IF EXISTS {trigger}()")
    else:
        for trigger in SQLITE_TRIGGER_NAMES:
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    op.drop_table("customer_cohorts")
    op.drop_table("refund_rollups")
    op.drop_table("customer_rollups")
    for name, _, _ in reversed(GRAINS):
        op.drop_table(name)
    op.drop_table("report_changes")
    op.drop_table("rollup_states")
    op.drop_index("ix_ledger_entries_entry_type_created_at", table_name="ledger_entries")
    op.drop_index("ix_conversions_occurred_at_id", table_name="conversions")
    op.drop_index("ix_conversions_program_id_customer_id", table_name="conversions")

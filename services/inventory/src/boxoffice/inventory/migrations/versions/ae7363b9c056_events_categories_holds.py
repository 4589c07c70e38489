"""events, ticket categories and seat holds

Revision ID: ae7363b9c056
Revises: d98befa23f56
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from boxoffice.chassis.columns import UtcDateTime

revision: str = "ae7363b9c056"
down_revision: str | None = "d98befa23f56"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _string_enum(name: str, *values: str) -> sa.Enum:
    # Plain VARCHAR on every backend (no PostgreSQL enum type to migrate later).
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=False, length=20)


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization", sa.String(length=200), nullable=False),
        sa.Column("slug", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("starts_at", UtcDateTime(), nullable=False),
        sa.Column("ends_at", UtcDateTime(), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("public_reservation_limit", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.CheckConstraint("capacity >= 0", name=op.f("ck_events_capacity_not_negative")),
        sa.CheckConstraint("ends_at > starts_at", name=op.f("ck_events_ends_after_start")),
        sa.CheckConstraint(
            "public_reservation_limit >= 1", name=op.f("ck_events_public_limit_positive")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
        sa.UniqueConstraint("slug", name=op.f("uq_events_slug")),
    )
    op.create_index(op.f("ix_events_organization"), "events", ["organization"])

    op.create_table(
        "ticket_categories",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("name_key", sa.String(length=100), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("visibility", _string_enum("visibility", "public", "hidden"), nullable=False),
        sa.Column("price_minor", sa.BigInteger(), nullable=False),
        sa.Column("max_seats", sa.Integer(), nullable=True),
        sa.Column("held", sa.Integer(), nullable=False),
        sa.Column("sold", sa.Integer(), nullable=False),
        sa.Column("created_on_the_fly", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.CheckConstraint(
            "held >= 0 AND sold >= 0", name=op.f("ck_ticket_categories_counts_not_negative")
        ),
        sa.CheckConstraint(
            "max_seats IS NULL OR held + sold <= max_seats",
            name=op.f("ck_ticket_categories_bounded_not_oversold"),
        ),
        sa.CheckConstraint(
            "price_minor >= 0", name=op.f("ck_ticket_categories_price_not_negative")
        ),
        sa.ForeignKeyConstraint(
            ["event_id"], ["events.id"], name=op.f("fk_ticket_categories_event_id_events")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ticket_categories")),
        sa.UniqueConstraint(
            "event_id", "name_key", name=op.f("uq_ticket_categories_event_name")
        ),
    )
    op.create_index(
        op.f("ix_ticket_categories_event_id"), "ticket_categories", ["event_id"]
    )

    op.create_table(
        "holds",
        sa.Column("reservation_id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("channel", _string_enum("channel", "backoffice", "public"), nullable=False),
        sa.Column(
            "status",
            _string_enum("holdstatus", "held", "sold", "released", "refused"),
            nullable=False,
        ),
        sa.Column("outcome", sa.JSON(), nullable=False),
        sa.Column("release_reason", sa.String(length=200), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"], ["events.id"], name=op.f("fk_holds_event_id_events")
        ),
        sa.PrimaryKeyConstraint("reservation_id", name=op.f("pk_holds")),
    )
    op.create_index(op.f("ix_holds_event_id"), "holds", ["event_id"])

    op.create_table(
        "hold_lines",
        sa.Column("reservation_id", sa.Uuid(), nullable=False),
        sa.Column("line_index", sa.Integer(), nullable=False),
        sa.Column("category_id", sa.Uuid(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("unit_price_minor", sa.BigInteger(), nullable=False),
        sa.Column("category_created", sa.Boolean(), nullable=False),
        sa.CheckConstraint("quantity >= 1", name=op.f("ck_hold_lines_quantity_positive")),
        sa.ForeignKeyConstraint(
            ["category_id"],
            ["ticket_categories.id"],
            name=op.f("fk_hold_lines_category_id_ticket_categories"),
        ),
        sa.ForeignKeyConstraint(
            ["reservation_id"],
            ["holds.reservation_id"],
            name=op.f("fk_hold_lines_reservation_id_holds"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("reservation_id", "line_index", name=op.f("pk_hold_lines")),
    )
    op.create_index("ix_hold_lines_category_id", "hold_lines", ["category_id"])


def downgrade() -> None:
    op.drop_index("ix_hold_lines_category_id", table_name="hold_lines")
    op.drop_table("hold_lines")
    op.drop_index(op.f("ix_holds_event_id"), table_name="holds")
    op.drop_table("holds")
    op.drop_index(op.f("ix_ticket_categories_event_id"), table_name="ticket_categories")
    op.drop_table("ticket_categories")
    op.drop_index(op.f("ix_events_organization"), table_name="events")
    op.drop_table("events")

"""email messages

Revision ID: a75811249ae5
Revises: 173bdf4688d1
Create Date: 2026-12-04 20:23:14.365227
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import boxoffice.chassis.columns

revision: str = 'a75811249ae5'
down_revision: str | None = '173bdf4688d1'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_DUE = sa.text("status IN ('queued', 'sending')")


def upgrade() -> None:
    op.create_table(
        'email_messages',
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('kind', sa.Enum('ticket', 'reservation_link', name='emailkind', native_enum=False, length=20), nullable=False),
        sa.Column('organization', sa.String(length=200), nullable=False),
        sa.Column('reservation_id', sa.Uuid(), nullable=False),
        sa.Column('ticket_id', sa.Uuid(), nullable=True),
        sa.Column('recipient', sa.String(length=254), nullable=False),
        sa.Column('language', sa.String(length=35), nullable=True),
        sa.Column('content', sa.JSON(), nullable=True),
        sa.Column('status', sa.Enum('queued', 'sending', 'sent', 'failed', name='emailstatus', native_enum=False, length=20), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.Column('next_attempt_at', boxoffice.chassis.columns.UtcDateTime(timezone=True), nullable=True),
        sa.Column('claim_token', sa.Uuid(), nullable=True),
        sa.Column('command_id', sa.Uuid(), nullable=False),
        sa.Column('correlation_id', sa.String(length=200), nullable=True),
        sa.Column('created_at', boxoffice.chassis.columns.UtcDateTime(timezone=True), nullable=False),
        sa.Column('updated_at', boxoffice.chassis.columns.UtcDateTime(timezone=True), nullable=False),
        sa.Column('last_attempt_at', boxoffice.chassis.columns.UtcDateTime(timezone=True), nullable=True),
        sa.Column('sent_at', boxoffice.chassis.columns.UtcDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_email_messages')),
    )
    op.create_index(
        'ix_email_messages_due',
        'email_messages',
        ['next_attempt_at'],
        postgresql_where=_DUE,
        sqlite_where=_DUE,
    )
    op.create_index(op.f('ix_email_messages_reservation_id'), 'email_messages', ['reservation_id'])


def downgrade() -> None:
    op.drop_index(op.f('ix_email_messages_reservation_id'), table_name='email_messages')
    op.drop_index('ix_email_messages_due', table_name='email_messages')
    op.drop_table('email_messages')

"""messaging tables

Revision ID: 83c663144668
Revises: 
Create Date: 2026-12-04
"""

from collections.abc import Sequence

from boxoffice.chassis.migrations import create_messaging_tables_v1, drop_messaging_tables_v1

revision: str = '83c663144668'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_messaging_tables_v1()


def downgrade() -> None:
    drop_messaging_tables_v1()

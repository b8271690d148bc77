"""outbox: the time a sender claimed a message

A claim keyed on the attempt count alone let a second sender that read the row after the
first one's claim (but before its outcome) claim it again and send a duplicate text. A
claim is now a lease: a message is sent by whoever claimed it until the outcome is written,
or until the lease runs out (a sender that died).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 07:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claimed_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.drop_column("claimed_at")

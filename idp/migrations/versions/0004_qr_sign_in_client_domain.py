"""qr sign-in: the requesting app's redirect domain

The phone must show which app is asking, with its domain (the host of the redirect URI the
app asked for). The desktop's pending authorization is bound to the desktop browser, so the
phone cannot read it: the domain is copied onto the request when it is created.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("qr_sign_in_requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("client_domain", sa.String(length=253), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("qr_sign_in_requests", schema=None) as batch_op:
        batch_op.drop_column("client_domain")

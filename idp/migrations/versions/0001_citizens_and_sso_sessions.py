"""citizens and sso sessions

Revision ID: 0001
Revises:
Create Date: 2026-11-22 03:10:39.471694
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "citizens",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("cccd", sa.String(length=12), nullable=False),
        sa.Column("full_name", sa.String(length=100), nullable=False),
        sa.Column("birthdate", sa.Date(), nullable=False),
        sa.Column("gender", sa.String(length=6), nullable=False),
        sa.Column("phone", sa.String(length=16), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("commune_code", sa.String(length=5), nullable=True),
        sa.Column("identity_level", sa.SmallInteger(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "active", "locked", "disabled", name="citizenstatus", native_enum=False, length=10
            ),
            nullable=False,
        ),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("gender IN ('male', 'female')", name=op.f("ck_citizens_gender")),
        sa.CheckConstraint("identity_level IN (1, 2)", name=op.f("ck_citizens_identity_level")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_citizens")),
        sa.UniqueConstraint("cccd", name=op.f("uq_citizens_cccd")),
        sa.UniqueConstraint("phone", name=op.f("uq_citizens_phone")),
    )
    with op.batch_alter_table("citizens", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_citizens_commune_code"), ["commune_code"], unique=False
        )

    op.create_table(
        "sso_sessions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("sid", sa.String(length=43), nullable=False),
        sa.Column("citizen_id", sa.Uuid(), nullable=False),
        sa.Column("auth_time", sa.DateTime(), nullable=False),
        sa.Column("amr", sa.JSON(), nullable=False),
        sa.Column("acr", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(), nullable=False),
        sa.Column("ip", sa.String(length=45), nullable=False),
        sa.Column("user_agent", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(
            ["citizen_id"],
            ["citizens.id"],
            name=op.f("fk_sso_sessions_citizen_id_citizens"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sso_sessions")),
        sa.UniqueConstraint("sid", name=op.f("uq_sso_sessions_sid")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_sso_sessions_token_hash")),
    )
    with op.batch_alter_table("sso_sessions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sso_sessions_citizen_id"), ["citizen_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("sso_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sso_sessions_citizen_id"))

    op.drop_table("sso_sessions")
    with op.batch_alter_table("citizens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_citizens_commune_code"))

    op.drop_table("citizens")

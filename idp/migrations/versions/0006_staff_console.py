"""staff console: staff accounts and their communes, identity evidence, activation codes,
and an accent-folded name column for staff search

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 08:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from idp.services.identifiers import fold_name

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "staff_accounts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=100), nullable=False),
        sa.Column("role", sa.Enum("superadmin", "officer", "auditor", name="staffrole",
                                  native_enum=False, length=12), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("totp_secret_sealed", sa.LargeBinary(), nullable=True),
        sa.Column("totp_confirmed_at", sa.DateTime(), nullable=True),
        sa.Column("totp_last_used_step", sa.BigInteger(), nullable=True),
        sa.Column("failed_attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_failure_at", sa.DateTime(), nullable=True),
        sa.Column("session_version", sa.Integer(), server_default="1", nullable=False),
        sa.Column("disabled_at", sa.DateTime(), nullable=True),
        sa.Column("last_sign_in_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_accounts")),
        sa.UniqueConstraint("username", name=op.f("uq_staff_accounts_username")),
    )
    op.create_table(
        "staff_communes",
        sa.Column("staff_id", sa.Uuid(), nullable=False),
        sa.Column("commune_code", sa.String(length=5), nullable=False),
        sa.ForeignKeyConstraint(["staff_id"], ["staff_accounts.id"],
                                name=op.f("fk_staff_communes_staff_id_staff_accounts"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("staff_id", "commune_code", name=op.f("pk_staff_communes")),
    )
    op.create_table(
        "activation_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("citizen_id", sa.Uuid(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("staff_id", sa.Uuid(), nullable=True),
        sa.Column("attempts", sa.SmallInteger(), server_default="0", nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["citizen_id"], ["citizens.id"],
                                name=op.f("fk_activation_codes_citizen_id_citizens"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["staff_id"], ["staff_accounts.id"],
                                name=op.f("fk_activation_codes_staff_id_staff_accounts"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_activation_codes")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_activation_codes_code_hash")),
    )
    with op.batch_alter_table("activation_codes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_activation_codes_citizen_id"), ["citizen_id"],
                              unique=False)
    op.create_table(
        "identity_verifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("citizen_id", sa.Uuid(), nullable=False),
        sa.Column("document_type", sa.String(length=20), nullable=False),
        sa.Column("document_number", sa.String(length=12), nullable=False),
        sa.Column("staff_id", sa.Uuid(), nullable=True),
        sa.Column("commune_code", sa.String(length=5), nullable=True),
        sa.Column("place", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("verified_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["citizen_id"], ["citizens.id"],
                                name=op.f("fk_identity_verifications_citizen_id_citizens"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["staff_id"], ["staff_accounts.id"],
                                name=op.f("fk_identity_verifications_staff_id_staff_accounts"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_verifications")),
    )
    with op.batch_alter_table("identity_verifications", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_identity_verifications_citizen_id"),
                              ["citizen_id"], unique=False)

    with op.batch_alter_table("citizens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("name_folded", sa.String(length=100), nullable=False,
                                      server_default=""))
    _fold_existing_names()
    with op.batch_alter_table("citizens", schema=None) as batch_op:
        batch_op.alter_column("name_folded", server_default=None)
        batch_op.create_index(batch_op.f("ix_citizens_name_folded"), ["name_folded"],
                              unique=False)
        batch_op.create_index("ix_citizens_commune_name", ["commune_code", "name_folded"],
                              unique=False)


def _fold_existing_names() -> None:
    citizens = sa.table("citizens", sa.column("id", sa.Uuid()), sa.column("full_name"),
                        sa.column("name_folded"))
    connection = op.get_bind()
    rows = connection.execute(sa.select(citizens.c.id, citizens.c.full_name)).all()
    for citizen_id, full_name in rows:
        connection.execute(sa.update(citizens).where(citizens.c.id == citizen_id)
                           .values(name_folded=fold_name(full_name)))


def downgrade() -> None:
    with op.batch_alter_table("citizens", schema=None) as batch_op:
        batch_op.drop_index("ix_citizens_commune_name")
        batch_op.drop_index(batch_op.f("ix_citizens_name_folded"))
        batch_op.drop_column("name_folded")
    with op.batch_alter_table("identity_verifications", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_identity_verifications_citizen_id"))
    op.drop_table("identity_verifications")
    with op.batch_alter_table("activation_codes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_activation_codes_citizen_id"))
    op.drop_table("activation_codes")
    op.drop_table("staff_communes")
    op.drop_table("staff_accounts")

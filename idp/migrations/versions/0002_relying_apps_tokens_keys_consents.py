"""relying apps, tokens, keys, consents

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 03:32:12.614488
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "clients",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("client_secret_hash", sa.String(length=64), nullable=True),
        sa.Column("name_vi", sa.String(length=120), nullable=False),
        sa.Column("name_en", sa.String(length=120), nullable=False),
        sa.Column("logo_uri", sa.String(length=500), nullable=True),
        sa.Column("redirect_uris", sa.JSON(), nullable=False),
        sa.Column("post_logout_redirect_uris", sa.JSON(), nullable=False),
        sa.Column("backchannel_logout_uri", sa.String(length=500), nullable=True),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("grant_types", sa.JSON(), nullable=False),
        sa.Column("token_endpoint_auth_method", sa.String(length=32), nullable=False),
        sa.Column("jwks", sa.JSON(), nullable=True),
        sa.Column("jwks_uri", sa.String(length=500), nullable=True),
        sa.Column("subject_type", sa.String(length=10), nullable=False),
        sa.Column("sector_identifier", sa.String(length=255), nullable=True),
        sa.Column("id_token_signed_response_alg", sa.String(length=10), nullable=False),
        sa.Column("min_acr", sa.String(length=32), nullable=True),
        sa.Column("trusted", sa.Boolean(), nullable=False),
        sa.Column("registration_access_token_hash", sa.String(length=64), nullable=True),
        sa.Column("created_via", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("disabled_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clients")),
        sa.UniqueConstraint("client_id", name=op.f("uq_clients_client_id")),
    )
    op.create_table(
        "initial_access_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("note", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("uses_left", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_initial_access_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_initial_access_tokens_token_hash")),
    )
    op.create_table(
        "signing_keys",
        sa.Column("kid", sa.String(length=64), nullable=False),
        sa.Column("alg", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("public_jwk", sa.JSON(), nullable=False),
        sa.Column("private_key_encrypted", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("activated_at", sa.DateTime(), nullable=True),
        sa.Column("retired_at", sa.DateTime(), nullable=True),
        sa.Column("unpublish_after", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("kid", name=op.f("pk_signing_keys")),
    )
    with op.batch_alter_table("signing_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_signing_keys_alg"), ["alg"], unique=False)
        batch_op.create_index(batch_op.f("ix_signing_keys_status"), ["status"], unique=False)

    op.create_table(
        "used_assertions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("jti", sa.String(length=255), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_used_assertions")),
        sa.UniqueConstraint("client_id", "jti", name="uq_used_assertions_client_jti"),
    )
    with op.batch_alter_table("used_assertions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_used_assertions_expires_at"), ["expires_at"], unique=False
        )

    op.create_table(
        "authorization_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("citizen_id", sa.Uuid(), nullable=False),
        sa.Column("redirect_uri", sa.String(length=500), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("nonce", sa.String(length=255), nullable=True),
        sa.Column("code_challenge", sa.String(length=128), nullable=True),
        sa.Column("code_challenge_method", sa.String(length=10), nullable=True),
        sa.Column("claims", sa.JSON(), nullable=True),
        sa.Column("sid", sa.String(length=43), nullable=True),
        sa.Column("auth_time", sa.DateTime(), nullable=False),
        sa.Column("acr", sa.String(length=32), nullable=False),
        sa.Column("amr", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["citizen_id"],
            ["citizens.id"],
            name=op.f("fk_authorization_codes_citizen_id_citizens"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["clients.client_id"],
            name=op.f("fk_authorization_codes_client_id_clients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_authorization_codes")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_authorization_codes_code_hash")),
    )
    with op.batch_alter_table("authorization_codes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_authorization_codes_citizen_id"), ["citizen_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_authorization_codes_client_id"), ["client_id"], unique=False
        )

    op.create_table(
        "consents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("citizen_id", sa.Uuid(), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("granted_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("implicit", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["citizen_id"],
            ["citizens.id"],
            name=op.f("fk_consents_citizen_id_citizens"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["clients.client_id"],
            name=op.f("fk_consents_client_id_clients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consents")),
        sa.UniqueConstraint("citizen_id", "client_id", name="uq_consents_citizen_client"),
    )
    with op.batch_alter_table("consents", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_consents_citizen_id"), ["citizen_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_consents_client_id"), ["client_id"], unique=False)

    op.create_table(
        "logout_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("uri", sa.String(length=500), nullable=False),
        sa.Column("logout_token", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
        sa.Column("delivered_at", sa.DateTime(), nullable=True),
        sa.Column("given_up_at", sa.DateTime(), nullable=True),
        sa.Column("last_error", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["clients.client_id"],
            name=op.f("fk_logout_deliveries_client_id_clients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_logout_deliveries")),
    )
    with op.batch_alter_table("logout_deliveries", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_logout_deliveries_next_attempt_at"), ["next_attempt_at"], unique=False
        )

    op.create_table(
        "pushed_authorization_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_uri_hash", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["clients.client_id"],
            name=op.f("fk_pushed_authorization_requests_client_id_clients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pushed_authorization_requests")),
        sa.UniqueConstraint(
            "request_uri_hash", name=op.f("uq_pushed_authorization_requests_request_uri_hash")
        ),
    )
    with op.batch_alter_table("pushed_authorization_requests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_pushed_authorization_requests_expires_at"), ["expires_at"], unique=False
        )

    op.create_table(
        "session_clients",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sid", sa.String(length=43), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("citizen_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["clients.client_id"],
            name=op.f("fk_session_clients_client_id_clients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_session_clients")),
        sa.UniqueConstraint("sid", "client_id", name="uq_session_clients_sid_client"),
    )
    with op.batch_alter_table("session_clients", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_session_clients_sid"), ["sid"], unique=False)

    op.create_table(
        "tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("citizen_id", sa.Uuid(), nullable=True),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("access_token_hash", sa.String(length=64), nullable=False),
        sa.Column("refresh_token_hash", sa.String(length=64), nullable=True),
        sa.Column("issued_at", sa.DateTime(), nullable=False),
        sa.Column("access_expires_at", sa.DateTime(), nullable=False),
        sa.Column("refresh_expires_at", sa.DateTime(), nullable=True),
        sa.Column("family_id", sa.Uuid(), nullable=False),
        sa.Column("family_expires_at", sa.DateTime(), nullable=True),
        sa.Column("code_id", sa.Integer(), nullable=True),
        sa.Column("sid", sa.String(length=43), nullable=True),
        sa.Column("auth_time", sa.DateTime(), nullable=True),
        sa.Column("acr", sa.String(length=32), nullable=True),
        sa.Column("amr", sa.JSON(), nullable=True),
        sa.Column("claims", sa.JSON(), nullable=True),
        sa.Column("refresh_used_at", sa.DateTime(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["citizen_id"],
            ["citizens.id"],
            name=op.f("fk_tokens_citizen_id_citizens"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["clients.client_id"],
            name=op.f("fk_tokens_client_id_clients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tokens")),
        sa.UniqueConstraint("access_token_hash", name=op.f("uq_tokens_access_token_hash")),
        sa.UniqueConstraint("refresh_token_hash", name=op.f("uq_tokens_refresh_token_hash")),
    )
    with op.batch_alter_table("tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tokens_citizen_id"), ["citizen_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_tokens_client_id"), ["client_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_tokens_code_id"), ["code_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_tokens_family_id"), ["family_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_tokens_sid"), ["sid"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tokens_sid"))
        batch_op.drop_index(batch_op.f("ix_tokens_family_id"))
        batch_op.drop_index(batch_op.f("ix_tokens_code_id"))
        batch_op.drop_index(batch_op.f("ix_tokens_client_id"))
        batch_op.drop_index(batch_op.f("ix_tokens_citizen_id"))

    op.drop_table("tokens")
    with op.batch_alter_table("session_clients", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_session_clients_sid"))

    op.drop_table("session_clients")
    with op.batch_alter_table("pushed_authorization_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pushed_authorization_requests_expires_at"))

    op.drop_table("pushed_authorization_requests")
    with op.batch_alter_table("logout_deliveries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_logout_deliveries_next_attempt_at"))

    op.drop_table("logout_deliveries")
    with op.batch_alter_table("consents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_consents_client_id"))
        batch_op.drop_index(batch_op.f("ix_consents_citizen_id"))

    op.drop_table("consents")
    with op.batch_alter_table("authorization_codes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_authorization_codes_client_id"))
        batch_op.drop_index(batch_op.f("ix_authorization_codes_citizen_id"))

    op.drop_table("authorization_codes")
    with op.batch_alter_table("used_assertions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_used_assertions_expires_at"))

    op.drop_table("used_assertions")
    with op.batch_alter_table("signing_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_signing_keys_status"))
        batch_op.drop_index(batch_op.f("ix_signing_keys_alg"))

    op.drop_table("signing_keys")
    op.drop_table("initial_access_tokens")
    op.drop_table("clients")

"""indexes for the console: tokens by (client, issued), audit entries by (client, created)
and by (actor, created)

Without them the apps list scanned every token (7 s with a million tokens on SQLite; 40 ms
with the index). The tokens' single-column client index is replaced: the new one leads with
client_id, so the foreign key's lookups still use it; so is the audit trail's actor index
(the search by actor sorted all of a staff member's entries: ~100 ms for 20,000 on SQLite).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22 08:40:00
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tokens", schema=None) as batch_op:
        batch_op.create_index("ix_tokens_client_issued", ["client_id", "issued_at"],
                              unique=False)
        batch_op.drop_index(batch_op.f("ix_tokens_client_id"))
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.create_index("ix_audit_events_client_created", ["client_id", "created_at"],
                              unique=False)
        batch_op.create_index("ix_audit_events_actor_created", ["actor_id", "created_at"],
                              unique=False)
        batch_op.drop_index(batch_op.f("ix_audit_events_actor_id"))


def downgrade() -> None:
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_events_actor_id"), ["actor_id"],
                              unique=False)
        batch_op.drop_index("ix_audit_events_actor_created")
        batch_op.drop_index("ix_audit_events_client_created")
    with op.batch_alter_table("tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tokens_client_id"), ["client_id"], unique=False)
        batch_op.drop_index("ix_tokens_client_issued")

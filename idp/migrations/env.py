"""Alembic environment: the engine comes from the app (``idp.database.upgrade``)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

from idp.models import Base

# Any number: nodes starting together run `tnid init` one at a time on PostgreSQL.
MIGRATION_LOCK_ID = 7_019_2025

engine = context.config.attributes["engine"]

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        transaction_per_migration=False,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(text(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_ID})"))
        context.run_migrations()

"""Alembic per service: one schema, one history, version table inside the schema, RLS roles."""

from __future__ import annotations

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, create_engine, text
from sqlalchemy.engine import Connection
from sqlalchemy.pool import NullPool

from triage.runtime.db import TENANT_SETTING, app_role

# The bound tenant is one id, or (for group commits) a comma-separated set of ids.
_TENANT_EXPR = (
    f"ANY (string_to_array(NULLIF(current_setting('{TENANT_SETTING}', true), ''), ',')::uuid[])"
)


def upgrade(database_url: str, *, schema: str, script_location: str) -> None:
    """Apply every pending migration of ``schema`` (safe to run from many replicas at once)."""
    config = Config()
    config.set_main_option("script_location", script_location)
    config.attributes["database_url"] = database_url
    config.attributes["schema"] = schema
    command.upgrade(config, "head")


def run_env(target_metadata: MetaData) -> None:
    """The body of a service's ``migrations/env.py`` (online mode only)."""
    url: str = context.config.attributes["database_url"]
    schema: str = context.config.attributes["schema"]
    engine = create_engine(url, poolclass=NullPool)
    with engine.connect() as connection:
        connection.execute(text("SELECT pg_advisory_lock(hashtext(:s))"), {"s": schema})
        try:
            _prepare(connection, schema)
            connection.commit()
            context.configure(
                connection=connection,
                target_metadata=target_metadata,
                version_table_schema=schema,
                transaction_per_migration=True,
            )
            with context.begin_transaction():
                context.run_migrations()
            connection.commit()
            grant_app_role(connection, schema)
            connection.commit()
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(hashtext(:s))"), {"s": schema})
            connection.commit()
    engine.dispose()


def _prepare(connection: Connection, schema: str) -> None:
    role = app_role(schema)
    connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    connection.execute(
        text(
            f"DO $$ BEGIN CREATE ROLE {role} NOLOGIN; "
            "EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
        )
    )
    connection.execute(text(f"GRANT {role} TO current_user"))


def grant_app_role(connection: Connection, schema: str) -> None:
    """Give the app role DML (never DDL, never ownership) on everything in ``schema``."""
    role = app_role(schema)
    for statement in (
        f'GRANT USAGE ON SCHEMA "{schema}" TO {role}',
        f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "{schema}" TO {role}',
        f'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA "{schema}" TO {role}',
        f'REVOKE ALL ON "{schema}".alembic_version FROM {role}',
    ):
        connection.execute(text(statement))


def tenant_rls_sql(qualified_table: str) -> list[str]:
    """Statements that confine a tenant-owned table to the tenant bound in the transaction.

    A transaction with no tenant bound sees no rows and can write none. The owner (used by
    migrations and by cross-tenant infrastructure such as the outbox relay) is not bound.
    """
    return [
        f"ALTER TABLE {qualified_table} ENABLE ROW LEVEL SECURITY",
        f"CREATE POLICY tenant_isolation ON {qualified_table} "
        f"USING (tenant_id = {_TENANT_EXPR}) WITH CHECK (tenant_id = {_TENANT_EXPR})",
    ]

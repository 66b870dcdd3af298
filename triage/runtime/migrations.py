"""Alembic per service: one schema, one history, version table inside the schema, RLS roles."""

from __future__ import annotations

from alembic import command, context, op
from alembic.config import Config
from sqlalchemy import MetaData, create_engine, inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.pool import NullPool

from triage.runtime.audit_store import audit_log_ddl
from triage.runtime.db import TENANT_SETTING, app_role
from triage.runtime.leases import leases_ddl
from triage.runtime.outbox import outbox_pending_table
from triage.runtime.tombstones import create_deleted_tenants

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
            # Runtime plumbing every schema has, whatever its migrations (see the module).
            create_deleted_tenants(connection, schema)
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


def create_audit_log(schema: str, bind: Connection | None = None) -> None:
    """Create ``schema``'s audit log (the body of every service's ``audit_log`` migration;
    see :mod:`triage.runtime.audit_store`)."""
    connection = bind or op.get_bind()
    for statement in audit_log_ddl(schema):
        connection.execute(text(statement))


def create_consumer_leases(schema: str, bind: Connection | None = None) -> None:
    """Create ``schema``'s partition lease and member tables (the body of every service's
    ``consumer_leases`` migration; see :mod:`triage.runtime.leases`)."""
    connection = bind or op.get_bind()
    for statement in leases_ddl(schema):
        connection.execute(text(statement))


def upgrade_outbox_to_pending(schema: str, bind: Connection | None = None) -> None:
    """Give ``schema``'s outbox its pending queue: the body of every service's
    ``outbox_pending`` migration (idempotent; ``bind`` defaults to Alembic's connection).

    Creates ``outbox_pending`` with row-level security that lets tenant transactions add
    ids and nothing else (they never read it; only the relay, as the owner, dequeues).

    On a database whose outbox still has ``published_at`` (made by an earlier release) the
    unpublished rows move into the queue. The column itself stays until the next release
    (:func:`drop_outbox_published_at`), because migrations are expand/contract and the
    previous release's pods keep writing events while the new ones roll out: the column
    gets a default, so their relays find nothing left to claim, and a transitional trigger
    queues every row they insert, so none of their events is left unpublished (they wait in
    the queue until the first relay of this release runs).
    """
    bind = bind if bind is not None else op.get_bind()
    outbox, pending = f"{schema}.outbox", f"{schema}.outbox_pending"
    outbox_pending_table(MetaData(schema=schema)).create(bind, checkfirst=True)
    bind.execute(text(f"ALTER TABLE {pending} ENABLE ROW LEVEL SECURITY"))
    has_policy = bind.execute(
        text(
            "SELECT 1 FROM pg_policies WHERE schemaname = :s "
            "AND tablename = 'outbox_pending' AND policyname = 'enqueue_only'"
        ),
        {"s": schema},
    ).first()
    if has_policy is None:
        bind.execute(text(f"CREATE POLICY enqueue_only ON {pending} FOR INSERT WITH CHECK (true)"))
    columns = {c["name"] for c in inspect(bind).get_columns("outbox", schema=schema)}
    if "published_at" not in columns:
        return
    bind.execute(text(f"ALTER TABLE {outbox} ALTER COLUMN published_at SET DEFAULT now()"))
    bind.execute(
        text(
            f"CREATE OR REPLACE FUNCTION {schema}.outbox_enqueue_legacy() RETURNS trigger "
            "LANGUAGE plpgsql AS $$ BEGIN "
            f"INSERT INTO {pending} (id) SELECT id FROM inserted ON CONFLICT DO NOTHING; "
            "RETURN NULL; END $$"
        )
    )
    bind.execute(
        text(
            f"CREATE OR REPLACE TRIGGER outbox_enqueue_legacy AFTER INSERT ON {outbox} "
            "REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT "
            f"EXECUTE FUNCTION {schema}.outbox_enqueue_legacy()"
        )
    )
    _queue_unpublished(bind, schema)


def drop_outbox_published_at(schema: str, bind: Connection | None = None) -> None:
    """The contract step of :func:`upgrade_outbox_to_pending`, for the release after it:
    drop ``published_at``, its partial index and the transitional trigger (idempotent).

    Safe once no pod older than the pending queue runs; a row an old relay was asked to
    republish (``published_at`` reset) is queued first.
    """
    bind = bind if bind is not None else op.get_bind()
    columns = {c["name"] for c in inspect(bind).get_columns("outbox", schema=schema)}
    if "published_at" not in columns:
        return
    _queue_unpublished(bind, schema)
    for statement in (
        f"DROP TRIGGER IF EXISTS outbox_enqueue_legacy ON {schema}.outbox",
        f"DROP FUNCTION IF EXISTS {schema}.outbox_enqueue_legacy()",
        f"DROP INDEX IF EXISTS {schema}.outbox_unpublished",
        f"ALTER TABLE {schema}.outbox DROP COLUMN published_at",
    ):
        bind.execute(text(statement))


def _queue_unpublished(bind: Connection, schema: str) -> None:
    # Marking them keeps a relay of the previous release from claiming them as well.
    bind.execute(
        text(
            f"WITH q AS (UPDATE {schema}.outbox SET published_at = now() "
            "WHERE published_at IS NULL RETURNING id) "
            f"INSERT INTO {schema}.outbox_pending (id) SELECT id FROM q ON CONFLICT DO NOTHING"
        )
    )

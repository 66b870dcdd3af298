"""PostgreSQL access: an async engine, tenant-scoped transactions under row-level security."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

import orjson
import psycopg
from opentelemetry import trace
from psycopg.rows import dict_row
from psycopg.types.json import set_json_dumps, set_json_loads
from sqlalchemy import Engine, Table, event, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from triage.runtime.fence import BatchFence, FenceChecking, current_fence
from triage.runtime.tenant_gate import deleted_tenant
from triage.runtime.tombstones import ADMIT, BURIED_SQLSTATE

log = logging.getLogger(__name__)
_tracer = trace.get_tracer("triage.db")

# psycopg's Jsonb and SQLAlchemy's JSONB columns serialize with the stdlib by default;
# orjson does the same job in C (outbox headers, labels, clock state on every batch).
set_json_dumps(orjson.dumps)
set_json_loads(orjson.loads)


def _json_text(value: Any) -> str:
    return orjson.dumps(value).decode()


TENANT_SETTING = "triage.tenant_id"
AfterCommit = Callable[[], Awaitable[None] | None]

# One round trip: switch to the service's non-owner role (so RLS applies) and bind the tenant,
# both only for this transaction.
_ENTER_TENANT_RAW = (
    "SELECT set_config('role', %(role)s, true), set_config('triage.tenant_id', %(tenant)s, true)"
)
_SWITCH_TENANT = text("SELECT set_config('triage.tenant_id', :tenant, true)")


class DedicatedConnection:
    """One task's own connection: pipelined transactions without a pool checkout each.

    Connects on first use, and again after the connection broke (the failed transaction's
    error still reaches the caller).
    """

    def __init__(self, db: Database) -> None:
        self._db = db
        self._driver: Any = None

    @asynccontextmanager
    async def pipelined_transaction(
        self, tenant_ids: Iterable[str]
    ) -> AsyncIterator[PipelinedTransaction]:
        """As :meth:`Database.pipelined_transaction`, on this connection."""
        if self._driver is None or self._driver.closed or self._driver.broken:
            await self.close()
            self._driver = await self._db.connect_raw()
        async with self._db._pipelined(self._driver, tenant_ids) as tx:
            yield tx

    async def close(self) -> None:
        """Close the connection, if open."""
        driver, self._driver = self._driver, None
        if driver is not None and not driver.closed:
            with contextlib.suppress(Exception):
                await driver.close()


class PipelinedTransaction:
    """Statements of a :meth:`Database.pipelined_transaction` (results arrive at commit)."""

    def __init__(self, connection: Any) -> None:
        self._connection = connection

    async def execute(self, statement: str, params: Any = None, *, row_factory: Any = None) -> Any:
        """Queue ``statement``; returns a cursor whose rows can be fetched after the block."""
        cursor = self._connection.cursor(row_factory=row_factory)
        await cursor.execute(statement, params)
        return cursor


def app_role(schema: str) -> str:
    """The non-owner role a service's tenant transactions run as."""
    return f"triage_{schema}_app"


class Database:
    """One engine per service; tenant transactions run as the service's RLS-bound role."""

    def __init__(
        self, url: str, *, schema: str, pool_size: int = 10, prepare_threshold: int = 5
    ) -> None:
        self.schema = schema
        self.role = app_role(schema)
        # A deleted tenant's transaction is refused in the same statement (its tombstone).
        self._enter_tenant = f'{_ENTER_TENANT_RAW}, "{schema}".{ADMIT}(%(tenant)s)'
        # Prepared on the server after ``prepare_threshold`` runs on a connection: the hot
        # statements (batch inserts, claims, reads) are parsed and planned once, not per batch.
        # Plans stay correct across the per-transaction role switch: PostgreSQL re-plans a
        # statement that row-level security applies to when the role differs.
        self._connect_args = {"prepare_threshold": prepare_threshold or None}
        self.engine: AsyncEngine = create_async_engine(
            url,
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_pre_ping=False,
            pool_recycle=1800,
            connect_args=self._connect_args,
            json_serializer=_json_text,
            json_deserializer=orjson.loads,
        )
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        trace_statements(self.engine.sync_engine, schema)
        self._url = url
        self._autonomous: async_sessionmaker[AsyncSession] | None = None

    @asynccontextmanager
    async def transaction(
        self, tenant_id: str | None, *, tenants: Iterable[str] = ()
    ) -> AsyncIterator[AsyncSession]:
        """One transaction as the app role with ``tenant_id`` bound (None: sees no tenant rows),
        or the set ``tenants`` at once (batch consumers: every row's tenant came with its
        event, as :func:`bind_tenants`).

        BEGIN and the role and tenant binding travel in one round trip. Callbacks registered
        with :func:`after_commit` run once the commit succeeded.
        """
        bound = ",".join(sorted(set(tenants))) if tenants else (tenant_id or "")
        async with self._bound_transaction(bound, admit=not tenants) as (session, _):
            yield session

    @asynccontextmanager
    async def transaction_then(
        self,
        tenants: Iterable[str],
        statement: str,
        params: Mapping[str, Any],
        *,
        row_factory: Any = None,
    ) -> AsyncIterator[tuple[AsyncSession, list[Any]]]:
        """As :meth:`transaction` with the set ``tenants`` bound, and ``statement`` (raw SQL)
        sent in the same round trip as BEGIN and the binding: yields the session and the
        statement's rows. For a batch consumer's first statement (its inbox claim), which
        would otherwise wait for BEGIN's answer."""
        bound = ",".join(sorted(set(tenants)))
        async with self._bound_transaction(bound, (statement, params), row_factory) as pair:
            yield pair

    @asynccontextmanager
    async def _bound_transaction(
        self,
        bound: str,
        then: tuple[str, Mapping[str, Any]] | None = None,
        row_factory: Any = None,
        *,
        admit: bool = False,
    ) -> AsyncIterator[tuple[AsyncSession, list[Any]]]:
        async with self._sessions() as session:
            async with session.begin():
                rows = await self._enter(
                    session, bound, then, row_factory, current_fence(), admit=admit
                )
                yield session, rows
            await _run_after_commit(session)

    async def _enter(
        self,
        session: AsyncSession,
        tenant: str,
        then: tuple[str, Mapping[str, Any]] | None = None,
        row_factory: Any = None,
        fence: BatchFence | None = None,
        *,
        admit: bool = False,
    ) -> list[Any]:
        try:
            return await self._enter_bound(session, tenant, then, row_factory, fence, admit)
        except psycopg.Error as exc:
            if exc.sqlstate == BURIED_SQLSTATE:
                raise deleted_tenant(tenant, completed=True) from exc
            raise

    async def _enter_bound(
        self,
        session: AsyncSession,
        tenant: str,
        then: tuple[str, Mapping[str, Any]] | None,
        row_factory: Any,
        fence: BatchFence | None,
        admit: bool,
    ) -> list[Any]:
        # BEGIN and the role and tenant binding (and the fence, and ``then``) in one trip;
        # ``admit``: one tenant's own transaction, refused once the tenant is tombstoned
        # here (batches of events are not: their inbox claim drops a deleted tenant's).
        driver = await _driver(session)
        if fence is not None:
            return await self._enter_fenced(driver, tenant, fence, then, row_factory)
        if then is None:
            enter = self._enter_tenant if admit else _ENTER_TENANT_RAW
            async with driver.pipeline():
                await driver.execute(enter, {"role": self.role, "tenant": tenant})
            return []
        statement, params = then
        with _statement_span(self.schema, statement):
            async with driver.cursor(row_factory=row_factory) as cursor:
                async with driver.pipeline():
                    await driver.execute(_ENTER_TENANT_RAW, {"role": self.role, "tenant": tenant})
                    await cursor.execute(statement, params)
                return list(await cursor.fetchall())

    async def _enter_fenced(
        self,
        driver: Any,
        tenant: str,
        fence: BatchFence,
        then: tuple[str, Mapping[str, Any]] | None,
        row_factory: Any,
    ) -> list[Any]:
        # The partitions' locks ride in the binding statement; the check follows in a
        # statement of its own, or inside ``then`` when that one runs it (FenceChecking).
        checks = then is not None and isinstance(then[0], FenceChecking)
        enter = f"{_ENTER_TENANT_RAW}, {fence.lock}"
        with _statement_span(self.schema, fence.check):
            async with (
                driver.cursor() as checked,
                driver.cursor(row_factory=row_factory) as cur,
            ):
                async with driver.pipeline():
                    await driver.execute(
                        enter, {"role": self.role, "tenant": tenant, **fence.params}
                    )
                    if not checks:
                        await checked.execute(fence.check, fence.params)
                    if then is not None:
                        await cur.execute(then[0], then[1])
                if not checks:
                    row = await checked.fetchone()
                    fence.verify(int(row[0]) if row else 0)
                return list(await cur.fetchall()) if then is not None else []

    @asynccontextmanager
    async def pipelined_transaction(
        self, tenant_ids: Iterable[str]
    ) -> AsyncIterator[PipelinedTransaction]:
        """A psycopg transaction in pipeline mode, as the app role with ``tenant_ids`` bound.

        BEGIN, the role and tenant binding, the caller's statements and COMMIT travel in
        one round trip. For hot paths that write a batch with few statements (the webhook
        group commit); everything else uses :meth:`transaction`. Statements are traced.
        """
        async with self.engine.connect() as connection:
            raw = await connection.get_raw_connection()
            async with self._pipelined(raw.driver_connection, tenant_ids) as tx:
                yield tx

    def dedicated(self) -> DedicatedConnection:
        """A connection of its own for one long-lived task (no pool checkout per batch)."""
        return DedicatedConnection(self)

    async def connect_raw(self) -> Any:
        """A new psycopg connection outside the pool, with the pool's settings."""
        url = make_url(self._url).set(drivername="postgresql")
        return await psycopg.AsyncConnection.connect(
            url.render_as_string(hide_password=False),
            prepare_threshold=self._connect_args["prepare_threshold"],
        )

    @asynccontextmanager
    async def _pipelined(
        self, driver: Any, tenant_ids: Iterable[str]
    ) -> AsyncIterator[PipelinedTransaction]:
        with _tracer.start_as_current_span(
            f"TRANSACTION {self.schema}",
            kind=trace.SpanKind.CLIENT,
            attributes={"db.system": "postgresql", "db.namespace": self.schema},
        ):
            async with driver.pipeline(), driver.transaction():
                await driver.execute(
                    _ENTER_TENANT_RAW,
                    {"role": self.role, "tenant": ",".join(sorted(set(tenant_ids)))},
                )
                yield PipelinedTransaction(driver)

    @asynccontextmanager
    async def autonomous_transaction(self, tenant_id: str) -> AsyncIterator[AsyncSession]:
        """A short transaction that commits on its own, from a separate small pool.

        For allocations (counters) that must not stay locked until the caller's own
        transaction commits; the separate pool means it never waits behind the caller's
        connections. If the caller then rolls back, what was allocated stays consumed.
        """
        if self._autonomous is None:
            engine = create_async_engine(
                self._url,
                pool_size=2,
                max_overflow=2,
                connect_args=self._connect_args,
                json_serializer=_json_text,
                json_deserializer=orjson.loads,
            )
            trace_statements(engine.sync_engine, self.schema)
            self._autonomous = async_sessionmaker(engine, expire_on_commit=False)
        async with self._autonomous() as session, session.begin():
            await self._enter(session, tenant_id, admit=True)
            yield session

    @asynccontextmanager
    async def system_transaction(self) -> AsyncIterator[AsyncSession]:
        """One transaction as the schema owner, across tenants.

        Only for infrastructure that is tenant-agnostic by nature: the outbox relay, timer and
        delivery claimers, migrations. Handlers switch into a tenant with :func:`bind_tenant`.
        """
        async with self._sessions() as session:
            async with session.begin():
                yield session
            await _run_after_commit(session)

    async def dispose(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()
        if self._autonomous is not None:
            bind = self._autonomous.kw["bind"]
            await bind.dispose()


def trace_statements(engine: Engine, schema: str) -> None:
    """One client span per SQL statement, child of the current span (the upstream
    SQLAlchemy instrumentation does not support SQLAlchemy 2.1)."""

    @event.listens_for(engine, "before_cursor_execute")
    def _start(
        conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool
    ) -> None:
        verb = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else "SQL"
        span = _tracer.start_span(
            f"{verb} {schema}",
            kind=trace.SpanKind.CLIENT,
            attributes={
                "db.system": "postgresql",
                "db.namespace": schema,
                "db.query.text": statement[:1000],
            },
        )
        context._triage_span = span

    @event.listens_for(engine, "after_cursor_execute")
    def _end(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
        span = getattr(context, "_triage_span", None)
        if span is not None:
            span.end()

    @event.listens_for(engine, "handle_error")
    def _error(exception_context: Any) -> None:
        span = getattr(exception_context.execution_context, "_triage_span", None)
        if span is not None:
            span.record_exception(exception_context.original_exception)
            span.set_status(trace.StatusCode.ERROR)
            span.end()


async def _driver(session: AsyncSession) -> Any:
    """The psycopg connection under the session's transaction."""
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    return raw.driver_connection


def select_list(table: Table) -> str:
    """``table``'s columns for raw SQL, UUID columns as text (as SQLAlchemy's
    ``UUID(as_uuid=False)`` returns them), so raw rows build the same domain objects."""
    return ", ".join(
        f"{c.name}::text AS {c.name}" if isinstance(c.type, UUID) else c.name for c in table.c
    )


@asynccontextmanager
async def raw_cursor(
    session: AsyncSession, *, schema: str, statement: str, row_factory: Any = None
) -> AsyncIterator[Any]:
    """A psycopg cursor on the session's connection and transaction, for statements that
    SQLAlchemy would only slow down (array-unnest batch inserts); traced like the rest."""
    driver = await _driver(session)
    with _statement_span(schema, statement):
        async with driver.cursor(row_factory=row_factory) as cursor:
            yield cursor


def _statement_span(schema: str, statement: str) -> Any:
    """The client span of one raw statement, named as the SQLAlchemy hooks name theirs."""
    return _sql_span(statement.lstrip().split(None, 1)[0].upper(), schema, statement)


def _sql_span(operation: str, schema: str, sql: str) -> Any:
    return _tracer.start_as_current_span(
        f"{operation} {schema}",
        kind=trace.SpanKind.CLIENT,
        attributes={
            "db.system": "postgresql",
            "db.namespace": schema,
            "db.query.text": sql[:1000],
        },
    )


@asynccontextmanager
async def pipelined(session: AsyncSession) -> AsyncIterator[None]:
    """Statements run on the session's transaction inside this block travel together:
    psycopg's pipeline mode sends them without waiting for each answer, and they all come
    back in one round trip at the end of the block (or earlier, at a statement whose rows
    are fetched). An error surfaces at that point; the transaction then rolls back."""
    driver = await _driver(session)
    async with driver.pipeline():
        yield


async def fetch_together(
    session: AsyncSession, *, schema: str, queries: Sequence[tuple[str, Mapping[str, Any]]]
) -> list[list[dict[str, Any]]]:
    """Run ``queries`` (raw SQL, in order) in one round trip on the session's transaction
    and return each one's rows as dicts: for a batch's independent reads (and the locks
    taken before them), which would otherwise wait for one another's answers."""
    driver = await _driver(session)
    cursors: list[Any] = []
    with _sql_span("PIPELINE", schema, "; ".join(q for q, _ in queries)):
        async with driver.pipeline():
            for statement, params in queries:
                cursor = driver.cursor(row_factory=dict_row)
                await cursor.execute(statement, params)
                cursors.append(cursor)
    rows: list[list[dict[str, Any]]] = []
    for cursor in cursors:
        rows.append(await cursor.fetchall() if cursor.description is not None else [])
        await cursor.close()
    return rows


async def bind_tenant(session: AsyncSession, tenant_id: str) -> None:
    """Re-bind the tenant inside an open transaction (batch consumers handle many tenants)."""
    await session.execute(_SWITCH_TENANT, {"tenant": tenant_id})


async def bind_tenants(session: AsyncSession, tenant_ids: Iterable[str]) -> None:
    """Bind a set of tenants at once: for a group commit whose every row's tenant was
    authenticated by the caller (the webhook gateway); reads see all of them."""
    await session.execute(_SWITCH_TENANT, {"tenant": ",".join(sorted(set(tenant_ids)))})


def after_commit(session: AsyncSession, callback: AfterCommit) -> None:
    """Run ``callback`` after the current transaction commits (never if it rolls back)."""
    callbacks: list[AfterCommit] = session.info.setdefault("after_commit", [])
    if callback not in callbacks:
        callbacks.append(callback)


async def _run_after_commit(session: AsyncSession) -> None:
    callbacks: list[AfterCommit] = session.info.pop("after_commit", [])
    for callback in callbacks:
        try:
            result = callback()
            if result is not None:
                await result
        except Exception:
            log.exception("after-commit callback failed")


def sqlalchemy_url(url: str) -> str:
    """Accept a plain libpq URL (``postgresql://``) and name the psycopg 3 driver."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url

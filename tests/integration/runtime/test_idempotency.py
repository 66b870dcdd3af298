"""``request_id`` idempotency: a retry gets the first answer and the work runs once."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from google.protobuf import wrappers_pb2
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.integration.runtime.demo_schema import SCHEMA, notes, requests
from triage.runtime.db import Database
from triage.runtime.idempotency import IdempotentReply, RequestLog, once
from triage.runtime.migrations import upgrade

pytestmark = pytest.mark.integration
MIGRATIONS = str(Path(__file__).parent / "demo_migrations")
TENANT = str(uuid.uuid4())
LOG = RequestLog(requests)


@pytest.fixture
async def db(fresh_db: str) -> AsyncIterator[Database]:
    """The demo service's database, migrated."""
    upgrade(fresh_db, schema=SCHEMA, script_location=MIGRATIONS)
    database = Database(fresh_db, schema=SCHEMA, pool_size=4)
    try:
        yield database
    finally:
        await database.dispose()


@dataclass
class NoteWriter:
    """Work that writes a note with a new body each run, optionally dawdling in its
    transaction."""

    pause: float = 0.0
    runs: int = 0

    async def __call__(self, session: AsyncSession) -> str:
        self.runs += 1
        body = f"note {self.runs} {uuid.uuid4()}"
        await session.execute(
            notes.insert().values(id=str(uuid.uuid4()), tenant_id=TENANT, body=body)
        )
        await asyncio.sleep(self.pause)
        return body


def _reply(request_id: str) -> IdempotentReply[str, wrappers_pb2.StringValue]:
    return IdempotentReply(
        "WriteNote",
        request_id,
        wrappers_pb2.StringValue,
        lambda body: wrappers_pb2.StringValue(value=body),
    )


async def _counts(db: Database) -> tuple[int, int]:
    """(notes, remembered requests) of every tenant."""
    async with db.system_transaction() as session:
        written = (await session.execute(select(func.count()).select_from(notes))).scalar_one()
        remembered = (
            await session.execute(select(func.count()).select_from(requests))
        ).scalar_one()
    return written, remembered


async def test_a_retry_gets_the_first_answer_without_running_the_work_again(db: Database) -> None:
    work = NoteWriter()

    first = await once(db, LOG, TENANT, _reply("r-1"), work)
    again = await once(db, LOG, TENANT, _reply("r-1"), work)

    assert work.runs == 1
    assert again == first
    assert first.value.startswith("note 1 ")
    assert await _counts(db) == (1, 1)


@pytest.mark.parametrize(
    ("request_ids", "remembered"),
    [(("r-1", "r-2"), 2), (("", ""), 0)],
    ids=["different request ids", "empty request ids store nothing"],
)
async def test_each_new_or_empty_request_id_runs(
    db: Database, request_ids: tuple[str, str], remembered: int
) -> None:
    work = NoteWriter()

    first = await once(db, LOG, TENANT, _reply(request_ids[0]), work)
    second = await once(db, LOG, TENANT, _reply(request_ids[1]), work)

    assert work.runs == 2
    assert first != second
    assert await _counts(db) == (2, remembered)


async def test_a_request_id_is_remembered_per_tenant(db: Database) -> None:
    work = NoteWriter()
    other = str(uuid.uuid4())

    await once(db, LOG, TENANT, _reply("r-1"), work)
    async with db.transaction(other) as session:
        assert await _reply("r-1").replay(session, LOG, other) is None


async def test_failed_work_remembers_nothing_so_a_retry_runs_it(db: Database) -> None:
    async def failing(session: AsyncSession) -> str:
        await NoteWriter()(session)
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await once(db, LOG, TENANT, _reply("r-1"), failing)
    work = NoteWriter()
    answer = await once(db, LOG, TENANT, _reply("r-1"), work)

    assert work.runs == 1
    assert answer.value.startswith("note 1 ")
    assert await _counts(db) == (1, 1)


async def test_concurrent_calls_with_the_same_request_id_run_the_work_once(db: Database) -> None:
    # Each run holds its transaction open long enough for the other call to start its own.
    work = NoteWriter(pause=0.3)

    answers = await asyncio.gather(*(once(db, LOG, TENANT, _reply("r-1"), work) for _ in range(3)))

    assert work.runs == 1
    assert answers[0] == answers[1] == answers[2]
    assert await _counts(db) == (1, 1)


async def test_concurrent_calls_with_different_request_ids_do_not_wait_for_each_other(
    db: Database,
) -> None:
    work = NoteWriter(pause=1.0)
    loop = asyncio.get_running_loop()
    started = loop.time()

    await asyncio.gather(*(once(db, LOG, TENANT, _reply(f"r-{i}"), work) for i in range(2)))

    assert work.runs == 2
    assert loop.time() - started < 1.9

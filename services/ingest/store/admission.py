"""The webhook group commit's admission: which of a batch's tenants are deleted here.

A single-tenant transaction calls the schema's ``admit_tenant`` as it binds its tenant
(:mod:`triage.runtime.tombstones`), which refuses the whole transaction. A group-commit
batch carries several tenants, and one deleted tenant must not refuse the others' webhooks:
``admit_tenants`` takes the same shared advisory lock for each of the batch's tenants (in
one order, so two batches and a burial cannot deadlock), then answers the tombstoned ones,
whose rows the batch's statement leaves out (:mod:`services.ingest.store.alert_writes`).

The burial (:func:`triage.runtime.tombstones.bury`) takes the lock exclusive around the
tombstone's insert, so a batch either took its locks before (the burial waits for its commit,
and its rows are deleted with the rest) or reads the tombstones after it committed: the
read is a statement of its own inside a VOLATILE PL/pgSQL function, with a snapshot taken
after the lock waits (the batch statement's own snapshot is from before them).
"""

from __future__ import annotations

from services.ingest.models import SCHEMA
from triage.runtime import GROUP_ADMIT, group_admission_ddl

ADMIT_TENANTS = f"{SCHEMA}.{GROUP_ADMIT}"
ADMIT_TENANTS_DDL = group_admission_ddl(SCHEMA)

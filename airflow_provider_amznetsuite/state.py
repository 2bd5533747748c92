"""Sync-state store: what must survive between runs and task retries.

SQLite under ``$AIRFLOW_HOME/amznetsuite/state.db`` by default; any SQLAlchemy URL through the Airflow
connection ``amznetsuite_state`` (its ``host`` or ``extra.url`` holds the URL, e.g.
``postgresql+psycopg2://...``). The schema is created on first use and versioned in
``amz_schema_version`` so later releases can migrate it. Every write is a single transaction, so
concurrent tasks are safe (SQLite runs in WAL mode with a busy timeout).

NetSuite stays the system of record: what can be derived from NetSuite external ids (e.g. "was this
order written?") is not duplicated here.

Tables
- ``amz_accepted``: per (sync, marketplace, key) the last value Amazon *accepted* (quantity, price
  offer, listing content hash), with its hash. Deltas are computed against it.
- ``amz_quarantine``: records that could not be processed, with a reason; re-tried next run and
  resolved when they go through.
- ``amz_processed``: things done exactly once (e.g. settlement ids) with a small JSON summary.
- ``amz_inflight``: feeds/reports submitted and not yet confirmed (feed id, SKUs and values sent).
- ``amz_batch``: payload batches written by one task and read by the next (XCom carries the ref).
- ``amz_run``: run summaries (counts) per DAG run, for the demo and for operators.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    delete,
    event,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import IntegrityError

SCHEMA_VERSION = 1
STATE_CONN_ID = "amznetsuite_state"

metadata = MetaData()

schema_version = Table(
    "amz_schema_version", metadata, Column("version", Integer, primary_key=True)
)
accepted = Table(
    "amz_accepted", metadata,
    Column("sync", String(32), primary_key=True),
    Column("marketplace", String(32), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("value", Text, nullable=False),
    Column("hash", String(64), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
quarantine = Table(
    "amz_quarantine", metadata,
    Column("sync", String(32), primary_key=True),
    Column("marketplace", String(32), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("reason", Text, nullable=False),
    Column("detail", Text, nullable=True),
    Column("attempts", Integer, nullable=False, default=1),
    Column("first_seen", DateTime(timezone=True), nullable=False),
    Column("last_seen", DateTime(timezone=True), nullable=False),
    Column("resolved_at", DateTime(timezone=True), nullable=True),
)
processed = Table(
    "amz_processed", metadata,
    Column("sync", String(32), primary_key=True),
    Column("marketplace", String(32), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("info", Text, nullable=True),
    Column("at", DateTime(timezone=True), nullable=False),
)
inflight = Table(
    "amz_inflight", metadata,
    Column("sync", String(32), primary_key=True),
    Column("marketplace", String(32), primary_key=True),
    Column("ref", String(255), primary_key=True),  # e.g. feed id
    Column("payload", Text, nullable=False),
    Column("status", String(32), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
batch = Table(
    "amz_batch", metadata,
    Column("ref", String(255), primary_key=True),
    Column("data", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
run = Table(
    "amz_run", metadata,
    Column("dag_id", String(250), primary_key=True),
    Column("run_id", String(250), primary_key=True),
    Column("task", String(250), primary_key=True),
    Column("summary", Text, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def value_hash(value: Any) -> str:
    """Stable SHA-256 of a JSON-able value (sorted keys, Decimal as string)."""
    blob = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.sha256(blob).hexdigest()


@dataclass(frozen=True)
class QuarantinedRecord:
    sync: str
    marketplace: str
    key: str
    reason: str
    detail: str | None
    attempts: int
    first_seen: datetime
    last_seen: datetime


def default_base_path() -> Path:
    home = os.environ.get("AIRFLOW_HOME") or str(Path.home() / "airflow")
    return Path(home) / "amznetsuite"


def default_url() -> str:
    base = default_base_path()
    base.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{base / 'state.db'}"


_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


def _private_sqlite_file(url: str) -> None:
    """Create the SQLite file 0600 (it holds quarantine reasons, batches and sync state), or tighten it.

    SQLite gives its -wal and -shm files the main file's permissions, so those follow.
    """
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    try:
        fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
        os.close(fd)
        if path.stat().st_mode & 0o077:
            path.chmod(0o600)
    except OSError:
        pass  # not ours to change (e.g. a read-only mount); SQLite reports real problems itself


def _engine(url: str) -> Engine:
    with _engines_lock:
        eng = _engines.get(url)
        if eng is None:
            kwargs: dict[str, Any] = {"future": True}
            if url.startswith("sqlite"):
                kwargs["connect_args"] = {"timeout": 60, "check_same_thread": False}
                _private_sqlite_file(url)
            eng = create_engine(url, **kwargs)
            if url.startswith("sqlite"):
                @event.listens_for(eng, "connect")
                def _pragmas(dbapi_conn: Any, _record: Any) -> None:
                    cur = dbapi_conn.cursor()
                    if ":memory:" not in url:
                        cur.execute("PRAGMA journal_mode=WAL")
                    cur.execute("PRAGMA busy_timeout=60000")
                    cur.close()
            metadata.create_all(eng)
            with eng.begin() as conn:
                current = conn.execute(select(schema_version.c.version)).scalar()
                if current is None:
                    try:
                        conn.execute(insert(schema_version).values(version=SCHEMA_VERSION))
                    except IntegrityError:
                        pass
                elif current > SCHEMA_VERSION:
                    raise RuntimeError(
                        f"sync-state database schema v{current} is newer than this provider (v{SCHEMA_VERSION}); upgrade the provider"
                    )
            _engines[url] = eng
        return eng


class SyncStateStore:
    """Thin, typed access to the sync-state tables. Safe to share between threads."""

    def __init__(self, url: str | None = None):
        self.url = url or default_url()
        self.engine = _engine(self.url)

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def from_airflow(cls, conn_id: str = STATE_CONN_ID) -> SyncStateStore:
        """Use the ``amznetsuite_state`` connection when it exists, else SQLite under AIRFLOW_HOME."""
        url = None
        env = os.environ.get(f"AIRFLOW_CONN_{conn_id.upper()}")
        try:
            from airflow.sdk import BaseHook

            conn = BaseHook.get_connection(conn_id) if env or _airflow_can_lookup() else None
        except Exception:  # missing connection -> default SQLite
            conn = None
        if conn is not None:
            extra = conn.extra_dejson or {}
            url = extra.get("url") or (conn.get_uri() if conn.conn_type not in (None, "", "generic") else conn.host)
        return cls(url)

    # -- accepted values (deltas) -------------------------------------------------------------
    def get_accepted(self, sync: str, marketplace: str, keys: Iterable[str] | None = None) -> dict[str, Any]:
        """Last accepted value per key (all keys when ``keys`` is None)."""
        stmt = select(accepted.c.key, accepted.c.value).where(
            accepted.c.sync == sync, accepted.c.marketplace == marketplace
        )
        out: dict[str, Any] = {}
        with self.engine.connect() as conn:
            if keys is None:
                for k, v in conn.execute(stmt):
                    out[k] = json.loads(v)
            else:
                key_list = list(keys)
                for i in range(0, len(key_list), 500):
                    chunk = key_list[i : i + 500]
                    for k, v in conn.execute(stmt.where(accepted.c.key.in_(chunk))):
                        out[k] = json.loads(v)
        return out

    def get_accepted_hashes(self, sync: str, marketplace: str) -> dict[str, str]:
        stmt = select(accepted.c.key, accepted.c.hash).where(
            accepted.c.sync == sync, accepted.c.marketplace == marketplace
        )
        with self.engine.connect() as conn:
            return {k: h for k, h in conn.execute(stmt)}

    def set_accepted(self, sync: str, marketplace: str, values: Mapping[str, Any]) -> int:
        """Record values Amazon confirmed. Upserts; returns the number of keys written."""
        if not values:
            return 0
        now = _now()
        rows = [
            {"sync": sync, "marketplace": marketplace, "key": k, "value": json.dumps(v, sort_keys=True, default=str),
             "hash": value_hash(v), "updated_at": now}
            for k, v in values.items()
        ]
        with self.engine.begin() as conn:
            keys = [r["key"] for r in rows]
            for i in range(0, len(keys), 500):
                conn.execute(delete(accepted).where(
                    accepted.c.sync == sync, accepted.c.marketplace == marketplace,
                    accepted.c.key.in_(keys[i : i + 500])))
            conn.execute(insert(accepted), rows)
        return len(rows)

    def forget_accepted(self, sync: str, marketplace: str, keys: Iterable[str] | None = None) -> None:
        stmt = delete(accepted).where(accepted.c.sync == sync, accepted.c.marketplace == marketplace)
        with self.engine.begin() as conn:
            if keys is None:
                conn.execute(stmt)
            else:
                key_list = list(keys)
                for i in range(0, len(key_list), 500):
                    conn.execute(stmt.where(accepted.c.key.in_(key_list[i : i + 500])))

    # -- quarantine ---------------------------------------------------------------------------
    def quarantine(self, sync: str, marketplace: str, key: str, reason: str, detail: str | None = None) -> None:
        """Record (or refresh) a quarantined record. ``reason`` must be free of secrets and PII."""
        now = _now()
        with self.engine.begin() as conn:
            res = conn.execute(
                update(quarantine)
                .where(quarantine.c.sync == sync, quarantine.c.marketplace == marketplace, quarantine.c.key == key)
                .values(reason=reason, detail=detail, attempts=quarantine.c.attempts + 1, last_seen=now, resolved_at=None)
            )
            if res.rowcount == 0:
                conn.execute(insert(quarantine).values(
                    sync=sync, marketplace=marketplace, key=key, reason=reason, detail=detail,
                    attempts=1, first_seen=now, last_seen=now, resolved_at=None))

    def resolve(self, sync: str, marketplace: str, keys: Iterable[str]) -> int:
        """Mark quarantined records as resolved (they went through)."""
        key_list = list(keys)
        n = 0
        with self.engine.begin() as conn:
            for i in range(0, len(key_list), 500):
                res = conn.execute(
                    update(quarantine)
                    .where(quarantine.c.sync == sync, quarantine.c.marketplace == marketplace,
                           quarantine.c.key.in_(key_list[i : i + 500]), quarantine.c.resolved_at.is_(None))
                    .values(resolved_at=_now()))
                n += res.rowcount
        return n

    def open_quarantine(self, sync: str | None = None, marketplace: str | None = None) -> list[QuarantinedRecord]:
        stmt = select(quarantine).where(quarantine.c.resolved_at.is_(None))
        if sync:
            stmt = stmt.where(quarantine.c.sync == sync)
        if marketplace:
            stmt = stmt.where(quarantine.c.marketplace == marketplace)
        with self.engine.connect() as conn:
            return [
                QuarantinedRecord(r.sync, r.marketplace, r.key, r.reason, r.detail, r.attempts, r.first_seen, r.last_seen)
                for r in conn.execute(stmt.order_by(quarantine.c.first_seen, quarantine.c.key))
            ]

    # -- processed-once -----------------------------------------------------------------------
    def is_processed(self, sync: str, marketplace: str, key: str) -> bool:
        stmt = select(processed.c.key).where(
            processed.c.sync == sync, processed.c.marketplace == marketplace, processed.c.key == key)
        with self.engine.connect() as conn:
            return conn.execute(stmt).first() is not None

    def mark_processed(self, sync: str, marketplace: str, key: str, info: Mapping[str, Any] | None = None) -> bool:
        """Returns False when it was already marked (exactly-once guard)."""
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(processed).values(
                    sync=sync, marketplace=marketplace, key=key,
                    info=json.dumps(info or {}, default=str), at=_now()))
            return True
        except IntegrityError:
            return False

    def processed_keys(self, sync: str, marketplace: str) -> dict[str, dict[str, Any]]:
        stmt = select(processed.c.key, processed.c.info).where(
            processed.c.sync == sync, processed.c.marketplace == marketplace)
        with self.engine.connect() as conn:
            return {k: json.loads(i or "{}") for k, i in conn.execute(stmt)}

    def unmark_processed(self, sync: str, marketplace: str, key: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(processed).where(
                processed.c.sync == sync, processed.c.marketplace == marketplace, processed.c.key == key))

    # -- in-flight feeds/reports --------------------------------------------------------------
    def add_inflight(self, sync: str, marketplace: str, ref: str, payload: Mapping[str, Any]) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(inflight).where(
                inflight.c.sync == sync, inflight.c.marketplace == marketplace, inflight.c.ref == ref))
            conn.execute(insert(inflight).values(
                sync=sync, marketplace=marketplace, ref=ref, payload=json.dumps(payload, default=str),
                status="SUBMITTED", created_at=_now()))

    def list_inflight(self, sync: str, marketplace: str) -> dict[str, dict[str, Any]]:
        stmt = select(inflight.c.ref, inflight.c.payload).where(
            inflight.c.sync == sync, inflight.c.marketplace == marketplace)
        with self.engine.connect() as conn:
            return {r: json.loads(p) for r, p in conn.execute(stmt.order_by(inflight.c.created_at))}

    def close_inflight(self, sync: str, marketplace: str, ref: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(inflight).where(
                inflight.c.sync == sync, inflight.c.marketplace == marketplace, inflight.c.ref == ref))

    # -- batches between tasks ----------------------------------------------------------------
    def put_batch(self, ref: str, data: Any) -> str:
        blob = json.dumps(data, default=str, separators=(",", ":")).encode()
        with self.engine.begin() as conn:
            conn.execute(delete(batch).where(batch.c.ref == ref))
            conn.execute(insert(batch).values(ref=ref, data=blob, created_at=_now()))
        return ref

    def get_batch(self, ref: str) -> Any:
        with self.engine.connect() as conn:
            row = conn.execute(select(batch.c.data).where(batch.c.ref == ref)).first()
        if row is None:
            raise KeyError(f"batch {ref!r} not found in the sync-state database (deleted when its run completed or expired, "
                           "or its producing task was cleared): clear the run from its first task")
        return json.loads(row[0])

    def iter_batch_refs(self, prefix: str) -> Iterator[str]:
        with self.engine.connect() as conn:
            # autoescape: run ids contain '_' (a LIKE wildcard), which must not match other runs' batches
            for (ref,) in conn.execute(select(batch.c.ref).where(batch.c.ref.startswith(prefix, autoescape=True))
                                       .order_by(batch.c.ref)):
                yield ref

    def drop_batches(self, prefix: str) -> int:
        """Delete every batch whose ref starts with ``prefix`` (literally); returns how many."""
        with self.engine.begin() as conn:
            return conn.execute(delete(batch).where(batch.c.ref.startswith(prefix, autoescape=True))).rowcount or 0

    def purge_batches(self, older_than: datetime) -> int:
        """Delete batches written before ``older_than`` (the retention setting); returns how many.

        Batches only hand data from one task of a run to the next; a run older than the retention that is
        cleared later re-reads its source instead (its first task runs again)."""
        with self.engine.begin() as conn:
            return conn.execute(delete(batch).where(batch.c.created_at < older_than)).rowcount or 0

    # -- run summaries ------------------------------------------------------------------------
    def record_run(self, dag_id: str, run_id: str, task: str, summary: Mapping[str, Any]) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(run).where(run.c.dag_id == dag_id, run.c.run_id == run_id, run.c.task == task))
            conn.execute(insert(run).values(dag_id=dag_id, run_id=run_id, task=task,
                                            summary=json.dumps(summary, default=str), at=_now()))

    def run_summaries(self, dag_id: str, run_id: str | None = None) -> dict[str, dict[str, Any]]:
        """Summaries of one run (the latest when ``run_id`` is None), keyed by task."""
        with self.engine.connect() as conn:
            if run_id is None:
                row = conn.execute(select(run.c.run_id).where(run.c.dag_id == dag_id).order_by(run.c.at.desc())).first()
                if row is None:
                    return {}
                run_id = row[0]
            rows = conn.execute(select(run.c.task, run.c.summary).where(run.c.dag_id == dag_id, run.c.run_id == run_id))
            return {t: json.loads(s) for t, s in rows}


def _airflow_can_lookup() -> bool:
    """Only consult Airflow connections inside a task/CLI context with Airflow importable."""
    return os.environ.get("AMZNETSUITE_STATE_NO_AIRFLOW") != "1"

"""Sync-state store: accepted values, quarantine, exactly-once, batches, concurrency."""

from __future__ import annotations

import threading

import pytest

from airflow_provider_amznetsuite.state import SyncStateStore, value_hash


@pytest.fixture
def store(tmp_path):
    return SyncStateStore(f"sqlite:///{tmp_path / 'state.db'}")


def test_accepted_roundtrip_and_upsert(store):
    assert store.get_accepted("inventory", "uk") == {}
    store.set_accepted("inventory", "uk", {"A": 3, "B": 0})
    store.set_accepted("inventory", "uk", {"B": 7})
    store.set_accepted("inventory", "de", {"A": 9})
    assert store.get_accepted("inventory", "uk") == {"A": 3, "B": 7}
    assert store.get_accepted("inventory", "uk", keys=["B", "Z"]) == {"B": 7}
    assert store.get_accepted_hashes("inventory", "de") == {"A": value_hash(9)}
    store.forget_accepted("inventory", "uk", ["A"])
    assert store.get_accepted("inventory", "uk") == {"B": 7}


def test_quarantine_lifecycle(store):
    store.quarantine("orders", "uk", "AMZ-1", "SKU 'X' has no NetSuite item")
    store.quarantine("orders", "uk", "AMZ-1", "SKU 'X' has no NetSuite item")
    store.quarantine("orders", "us", "AMZ-2", "bad")
    rows = store.open_quarantine("orders", "uk")
    assert [(r.key, r.attempts) for r in rows] == [("AMZ-1", 2)]
    assert store.resolve("orders", "uk", ["AMZ-1"]) == 1
    assert store.open_quarantine("orders", "uk") == []
    assert [r.key for r in store.open_quarantine()] == ["AMZ-2"]
    store.quarantine("orders", "uk", "AMZ-1", "again")
    assert store.open_quarantine("orders", "uk")[0].reason == "again"


def test_processed_exactly_once(store):
    assert store.mark_processed("settlement", "uk", "123", {"journal": "7"}) is True
    assert store.mark_processed("settlement", "uk", "123") is False
    assert store.is_processed("settlement", "uk", "123")
    assert store.processed_keys("settlement", "uk") == {"123": {"journal": "7"}}
    store.unmark_processed("settlement", "uk", "123")
    assert not store.is_processed("settlement", "uk", "123")


def test_batches_and_inflight(store):
    store.put_batch("run1/orders/0", [{"a": 1}])
    store.put_batch("run1/orders/1", [{"a": 2}])
    assert store.get_batch("run1/orders/1") == [{"a": 2}]
    assert list(store.iter_batch_refs("run1/")) == ["run1/orders/0", "run1/orders/1"]
    store.drop_batches("run1/")
    with pytest.raises(KeyError, match="not found in the sync-state database"):
        store.get_batch("run1/orders/0")
    store.add_inflight("inventory", "uk", "F1", {"skus": {"A": 1}})
    assert store.list_inflight("inventory", "uk") == {"F1": {"skus": {"A": 1}}}
    store.close_inflight("inventory", "uk", "F1")
    assert store.list_inflight("inventory", "uk") == {}


def test_run_summaries_latest(store):
    store.record_run("amazon_uk_orders", "r1", "write", {"written": 1})
    store.record_run("amazon_uk_orders", "r2", "write", {"written": 2})
    assert store.run_summaries("amazon_uk_orders", "r1") == {"write": {"written": 1}}
    assert store.run_summaries("amazon_uk_orders") == {"write": {"written": 2}}


def test_concurrent_writers_do_not_lose_updates(tmp_path):
    url = f"sqlite:///{tmp_path / 'c.db'}"
    errors: list[Exception] = []

    def work(i: int) -> None:
        try:
            s = SyncStateStore(url)
            for j in range(20):
                s.set_accepted("inventory", "uk", {f"T{i}-{j}": j})
                s.quarantine("orders", "uk", f"Q{i}", "r")
        except Exception as exc:  # pragma: no cover - surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(SyncStateStore(url).get_accepted("inventory", "uk")) == 160
    assert {r.key: r.attempts for r in SyncStateStore(url).open_quarantine("orders")} == {f"Q{i}": 20 for i in range(8)}


# -- the SQLite file is private (issue #18 item 2) -----------------------------------------------------
def test_a_new_sqlite_state_file_is_created_0600(tmp_path) -> None:
    import stat

    path = tmp_path / "private" / "state.db"
    path.parent.mkdir()
    store = SyncStateStore(f"sqlite:///{path}")
    store.quarantine("orders", "uk", "026-1", "reason")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    for side in path.parent.glob("state.db-*"):  # WAL / SHM follow the main file
        assert stat.S_IMODE(side.stat().st_mode) & 0o077 == 0, side.name


def test_an_existing_world_readable_state_file_is_tightened(tmp_path) -> None:
    import stat

    path = tmp_path / "state.db"
    path.touch(mode=0o644)
    path.chmod(0o644)
    SyncStateStore(f"sqlite:///{path}")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

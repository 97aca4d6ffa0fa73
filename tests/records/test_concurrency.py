"""Autonumbers and optimistic locking under concurrent writers (threads with their own
connections; on SQLite and PostgreSQL)."""

from __future__ import annotations

import threading

import pytest

from engine.records import ConflictError

PROJECT = {"entities/ticket.yaml": """
    entity: ticket
    fields:
      ref: {type: autonumber, format: "T-{####}"}
      title: {type: string}
      hits: {type: integer, default: 0}
    """}


@pytest.fixture
def service(service_for):
    return service_for(PROJECT)


def run_threads(n, target):
    errors = []

    def wrapped(i):
        try:
            target(i)
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=wrapped, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return errors


def test_autonumbers_never_duplicate_under_concurrency(service):
    def create_many(i):
        for j in range(8):
            service.create("ticket", {"title": f"{i}-{j}"})

    errors = run_threads(4, create_many)
    assert errors == []
    refs = [r["ref"] for r in service.list("ticket", limit=1000)]
    assert len(refs) == 32
    assert sorted(refs) == [f"T-{n:04d}" for n in range(1, 33)]


def test_concurrent_updates_of_one_version_give_one_winner(service):
    record = service.create("ticket", {"title": "shared"})
    outcomes = []

    def update(i):
        try:
            service.update("ticket", record["id"], {"hits": i + 1}, version=record["version"])
            outcomes.append("ok")
        except ConflictError:
            outcomes.append("conflict")

    errors = run_threads(4, update)
    assert errors == []
    assert sorted(outcomes) == ["conflict", "conflict", "conflict", "ok"]
    assert service.get("ticket", record["id"])["version"] == 2

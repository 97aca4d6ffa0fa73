"""Notifications name a record by its title as every reader may see it: a `mask:` field in
the title is masked there (the notification is stored once, for whoever receives it)."""

from __future__ import annotations

import sqlalchemy as sa
from flowutil import DEAL

from engine.storage import notifications


def test_notifications_name_a_record_by_its_masked_title(flow_world):
    """A notification is stored once and read by whoever receives it: a masked field in the
    record's title is masked there too."""
    masked = DEAL.replace("name: {type: string, required: true}", "name: {type: string, required: true, mask: name}")
    w = flow_world("""
        outcomes: {approved: approved, rejected: rejected}
        nodes:
          manager: {type: approval, approvers: [{manager: submitter}]}
        """, transitions="""
        close:
          from: draft
          to: done
          actions:
            - notify: {to: [{manager: owner}], message: {en: a deal was closed, zh: 交易已关闭}}
        """, files={"entities/deal.yaml": masked})
    deal = w.new(name="Acme Trading")
    w.flows.run_transition("deal", deal["id"], "close", w["rep"])
    with w.engine.connect() as conn:
        titles = list(conn.execute(sa.select(notifications.c.title)).scalars())
    assert titles and all("Acme Trading" not in t for t in titles) and any("A*** T******" in t for t in titles)

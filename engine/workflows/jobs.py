"""The background jobs flows and notifications schedule (registered through the
`tailor_job_handlers` hook by engine/defaults.py)."""

from __future__ import annotations

import os

import sqlalchemy as sa

from ..jobs import JobContext
from ..storage import notifications


def flow_timeout(job: JobContext) -> None:
    """A node's timeout came: `Flows.timeout` remind, approve, reject, send back or escalate."""
    payload = job.payload
    job.flows.timeout(int(payload["flow"]), int(payload["step"]), int(payload["index"]), job.now)


def send_email(job: JobContext) -> None:
    """Mail one notification; a failure raises, and the runner retries later."""
    from ..notify.mail import send_notification

    notification_id = int(job.payload["notification"])
    status = send_notification(job.service.engine, notification_id, os.environ.get("TAILOR_BASE_URL", ""))
    with job.service._write() as conn:
        conn.execute(notifications.update().where(notifications.c.id == notification_id,
                                                  notifications.c.email == "queued")
                     .values(email=status if status == "sent" else sa.literal("none")))


JOB_HANDLERS = {"flow.timeout": flow_timeout, "email": send_email}

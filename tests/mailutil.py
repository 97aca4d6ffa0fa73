"""A mail server on loopback (aiosmtpd) for the tests that send e-mail: notifications
(tests/workflows) and invitations (tests/web)."""

from __future__ import annotations

import socket


class Inbox:
    """The messages an aiosmtpd server received: (recipients, the message as text)."""

    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        self.messages.append((envelope.rcpt_tos, envelope.content.decode("utf-8", "replace")))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

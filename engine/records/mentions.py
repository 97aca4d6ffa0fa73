"""@mentions in comments: `@wang.lei` names a user, who is notified — if they may read the
record (a mention never shows a record to someone whose roles do not reach it)."""

from __future__ import annotations

import re

# a username after "@", not inside an e-mail address (name@example.com) nor a longer word
MENTION = re.compile(r"(?<![\w.@])@([A-Za-z0-9_][A-Za-z0-9_.\-]{0,63})")


def mentioned(body: str) -> list[str]:
    """The usernames a comment mentions, each once, in order (a final "." ends a sentence)."""
    return list(dict.fromkeys(m.rstrip(".-") for m in MENTION.findall(body or "")))

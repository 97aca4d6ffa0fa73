"""Browser fixtures (see browserutil.py)."""

from browserutil import browser, live_server, page  # noqa: F401

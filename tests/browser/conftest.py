"""Browser fixtures (see browserutil.py)."""

from browserutil import browser, csp_violations, live_server, page  # noqa: F401

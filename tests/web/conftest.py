"""Web fixtures (see webutil.py)."""

from webutil import client, crm_app, make_app, templates  # noqa: F401

"""Security headers on every response: what the browser may run, frame, sniff, cache and
refer, decided in one place so that no page can forget one.

* Content-Security-Policy: scripts and `<style>` elements only from this origin or with
  the request's nonce (a fresh random value per response, `csp_nonce()` in templates);
  no `eval` (htmx is configured with `allowEval: false` in base.html); `style` attributes
  stay allowed (`style-src-attr`), they cannot run code and the pages use them for layout
  values (columns, lane colours). No framing (`frame-ancestors 'none'`, X-Frame-Options).
* Pages are never stored by the browser or a proxy (`no-store`): records, lists and
  exports hold data that must not outlive the session on a shared computer, and the
  sign-in page holds a form token. Front-end files (`/assets/`) keep their own caching.
* HSTS only on responses served over HTTPS. Behind a reverse proxy, `TAILOR_PROXY_HOPS`
  (the number of proxies in front) makes the app trust that many X-Forwarded-For and
  X-Forwarded-Proto values (werkzeug's ProxyFix), so `request.is_secure` is true when the
  user's connection is.
"""

from __future__ import annotations

import secrets

from flask import Flask, Response, g, request
from werkzeug.middleware.proxy_fix import ProxyFix

from ..config import Settings

HSTS = "max-age=31536000"
REFERRER = "same-origin"


def csp_nonce() -> str:
    """This response's nonce, the same for every script and style tag of the page."""
    nonce = g.get("_tailor_csp_nonce")
    if nonce is None:
        nonce = g._tailor_csp_nonce = secrets.token_urlsafe(18)
    return nonce


def content_security_policy(nonce: str) -> str:
    directives = {
        "default-src": "'self'",
        "script-src": f"'self' 'nonce-{nonce}'",
        "style-src": f"'self' 'nonce-{nonce}'",
        "style-src-attr": "'unsafe-inline'",
        "img-src": "'self' data:",
        "connect-src": "'self'",
        "font-src": "'self'",
        "object-src": "'none'",
        "base-uri": "'none'",
        "form-action": "'self'",
        "frame-ancestors": "'none'",
    }
    return "; ".join(f"{name} {value}" for name, value in directives.items())


def proxy_hops(settings: Settings) -> int:
    """`TAILOR_PROXY_HOPS`: how many reverse proxies stand in front (0: none, the default)."""
    raw = settings.extra.get("proxy_hops", "0").strip() or "0"
    try:
        hops = int(raw)
    except ValueError:
        raise RuntimeError(f"TAILOR_PROXY_HOPS must be a whole number of proxies, not {raw!r}") from None
    if hops < 0:
        raise RuntimeError(f"TAILOR_PROXY_HOPS must not be negative, not {hops}")
    return hops


def secure_headers(response: Response) -> Response:
    headers = response.headers
    headers["Content-Security-Policy"] = content_security_policy(csp_nonce())
    headers["X-Frame-Options"] = "DENY"
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = REFERRER
    if request.is_secure:
        headers["Strict-Transport-Security"] = HSTS
    if request.endpoint != "asset":
        headers["Cache-Control"] = "no-store"
        headers.pop("Expires", None)
    return response


def init_app(app: Flask, settings: Settings) -> None:
    hops = proxy_hops(settings)
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]
    app.jinja_env.globals["csp_nonce"] = csp_nonce
    app.after_request(secure_headers)

"""Request helpers shared by the page and API routers: who is calling, CSRF, rendering."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from ._auth import SESSION_COOKIE, same, session_for, token_hash
from ._service import Ctx

# The report holds the user's own column names and values: it runs sandboxed (an opaque origin),
# so nothing in it can read this app's cookies or call its API.
REPORT_CSP = ("sandbox allow-scripts; default-src 'none'; script-src 'unsafe-inline'; "
              "style-src 'unsafe-inline'; img-src data:; font-src data:")


class LoginRequired(Exception):
    """No valid session (pages redirect to /login) or token (the API answers 401)."""

    def __init__(self, expired: bool = False) -> None:
        self.expired = expired


class CsrfError(Exception):
    """A state-changing form without the session's CSRF token (403)."""


def ctx(request: Request) -> Ctx:
    return request.app.state.ctx  # type: ignore[no-any-return]


def session(request: Request) -> dict[str, Any]:
    """The caller's browser session, or LoginRequired (telling an expired session from none)."""
    token = request.cookies.get(SESSION_COOKIE)
    s = session_for(ctx(request).store, token)
    if s is None:
        raise LoginRequired(expired=bool(token) and ctx(request).store.session(token_hash(token or "")) is not None)
    return s


async def check_csrf(request: Request, s: dict[str, Any]) -> None:
    sent = request.headers.get("x-csrf-token")
    if sent is None:
        form = await request.form()
        value = form.get("csrf")
        sent = value if isinstance(value, str) else None
    if not same(sent, s["csrf"]):
        raise CsrfError()


def api_user(request: Request) -> str:
    auth = request.headers.get("authorization", "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise LoginRequired()
    uid = ctx(request).store.token_user(token_hash(token.strip()))
    if uid is None:
        raise LoginRequired()
    return uid


def client_addr(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def html(request: Request, name: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
    templates: Jinja2Templates = request.app.state.templates
    return templates.TemplateResponse(request, name, context, status_code=status)

"""The FastAPI app factory: pages, REST API, static files, error handling and security headers."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint

from .. import DatatwinError, __version__
from ._auth import AuthError
from ._config import Settings
from ._deps import CsrfError, LoginRequired
from ._files import TooLarge
from ._routes_api import router as api_router
from ._routes_pages import router as pages_router
from ._service import Ctx, NotFound
from ._store import Store

log = logging.getLogger("datatwin.web")
HERE = Path(__file__).parent

PAGE_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


class _Guard(BaseHTTPMiddleware):
    """Refuse oversized bodies before they are read, and add security headers to every answer."""

    def __init__(self, app: Any, settings: Settings) -> None:
        super().__init__(app)
        self.limit = settings.max_upload_bytes + 2**20  # room for the multipart envelope

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > self.limit:
            msg = f"the upload is larger than the limit of {(self.limit - 2**20) / 2**20:.0f} MB"
            return JSONResponse({"detail": msg}, status_code=413)
        response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Content-Security-Policy", PAGE_CSP)
        return response


def create_app(settings: Settings) -> FastAPI:
    """One app per data folder; the worker process (``datatwin serve`` starts it) runs the jobs."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = Store(settings.store)
    app = FastAPI(title="datatwin", version=__version__, docs_url="/api/docs", redoc_url=None,
                  openapi_url="/api/openapi.json",
                  description="Upload a table, fit a model, sample synthetic rows and read the evaluation "
                              "report. Authenticate with `Authorization: Bearer <token>` (POST /api/token).")
    app.state.ctx = Ctx(store, settings)
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.globals["version"] = __version__
    app.state.templates = templates
    app.add_middleware(_Guard, settings=settings)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    app.include_router(api_router)
    app.include_router(pages_router)

    def _is_api(request: Request) -> bool:
        return request.url.path.startswith("/api/")

    def _error(request: Request, status: int, message: str) -> Response:
        if _is_api(request):
            return JSONResponse({"detail": message}, status_code=status)
        return templates.TemplateResponse(request, "error.html", {"message": message, "user": None},
                                          status_code=status)

    @app.exception_handler(DatatwinError)
    async def _datatwin_error(request: Request, exc: DatatwinError) -> Response:
        status = 413 if isinstance(exc, TooLarge) else exc.status if isinstance(exc, AuthError) else 400
        return _error(request, status, str(exc))

    @app.exception_handler(NotFound)
    async def _not_found(request: Request, exc: NotFound) -> Response:
        return _error(request, 404, "not found")

    @app.exception_handler(LoginRequired)
    async def _login(request: Request, exc: LoginRequired) -> Response:
        if _is_api(request):
            msg = "your session expired; log in again" if exc.expired else "authentication required"
            return JSONResponse({"detail": msg}, status_code=401, headers={"WWW-Authenticate": "Bearer"})
        return RedirectResponse("/login?expired=1" if exc.expired else "/login", status_code=303)

    @app.exception_handler(CsrfError)
    async def _csrf(request: Request, exc: CsrfError) -> Response:
        return _error(request, 403, "the form's security token (CSRF) is missing or wrong; reload the page and "
                                    "try again")

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> Response:
        return _error(request, exc.status_code, str(exc.detail))

    @app.get("/healthz", include_in_schema=False)
    async def _health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/favicon.ico", include_in_schema=False)
    async def _favicon() -> Response:
        return Response(status_code=204)

    return app


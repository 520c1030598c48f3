"""HTML pages: login, history, upload, fit, job progress, sample, download, report, rule-based data.

Every state-changing form is a POST that carries the session's CSRF token; every object is
looked up with the caller's user id (see _service.py).
"""

from __future__ import annotations

import secrets
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from .. import InputError
from . import _service as svc
from ._auth import PRE_COOKIE, SESSION_COOKIE, AuthError, check_password, new_api_token, new_session, register, same
from ._auth import token_hash as _hash
from ._deps import REPORT_CSP, CsrfError, LoginRequired, check_csrf, client_addr, ctx, html, session
from ._events import job_events
from ._store import TERMINAL

router = APIRouter(include_in_schema=False)

def _see(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _deleted(request: Request) -> Response:
    # htmx swaps the answer into the table row: an empty answer removes the row.
    return Response("", status_code=200) if request.headers.get("hx-request") else _see("/app")


async def _form_user(request: Request) -> tuple[str, dict[str, Any]]:
    s = session(request)
    await check_csrf(request, s)
    return s["user_id"], s


def _page(request: Request, name: str, s: dict[str, Any] | None, **context: Any) -> HTMLResponse:
    user = ctx(request).store.user(s["user_id"]) if s else None
    return html(request, name, {"user": user, "csrf": s["csrf"] if s else "", **context})


# ---------------------------------------------------------------------- accounts
def _anon_form(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    pre = request.cookies.get(PRE_COOKIE) or secrets.token_urlsafe(24)
    resp = html(request, template, {"user": None, "csrf": pre, **context}, status=status)
    resp.set_cookie(PRE_COOKIE, pre, httponly=True, samesite="strict",
                    secure=ctx(request).settings.secure_cookies, path="/")
    return resp


@router.get("/")
def home(request: Request) -> Response:
    try:
        session(request)
    except LoginRequired:
        return _see("/login")
    return _see("/app")


@router.get("/login")
def login_page(request: Request, expired: int = 0) -> HTMLResponse:
    msg = "Your session expired; log in again." if expired else None
    return _anon_form(request, "login.html", message=msg)


def _start_session(request: Request, uid: str) -> Response:
    c = ctx(request)
    token = new_session(c.store, c.settings, uid)
    resp = _see("/app")
    resp.set_cookie(SESSION_COOKIE, token, max_age=c.settings.session_seconds, httponly=True, samesite="lax",
                    secure=c.settings.secure_cookies, path="/")
    resp.delete_cookie(PRE_COOKIE, path="/")
    return resp


@router.post("/login")
def login(request: Request, name: str = Form(""), password: str = Form(""), csrf: str = Form("")) -> Response:
    if not same(csrf, request.cookies.get(PRE_COOKIE)):
        raise CsrfError()
    c = ctx(request)
    try:
        uid = check_password(c.store, c.settings, name, password, client_addr(request))
    except AuthError as exc:
        return _anon_form(request, "login.html", status=exc.status, message=str(exc), name=name)
    return _start_session(request, uid)


@router.get("/register")
def register_page(request: Request) -> HTMLResponse:
    return _anon_form(request, "register.html")


@router.post("/register")
def register_post(request: Request, name: str = Form(""), password: str = Form(""),
                        csrf: str = Form("")) -> Response:
    if not same(csrf, request.cookies.get(PRE_COOKIE)):
        raise CsrfError()
    try:
        uid = register(ctx(request).store, name, password)
    except InputError as exc:
        return _anon_form(request, "register.html", status=400, message=str(exc), name=name)
    return _start_session(request, uid)


@router.post("/logout")
async def logout(request: Request) -> Response:
    s = session(request)
    await check_csrf(request, s)
    ctx(request).store.drop_session(_hash(request.cookies.get(SESSION_COOKIE, "")))
    resp = _see("/login")
    resp.delete_cookie(SESSION_COOKIE, path="/")
    return resp


@router.get("/account")
def account(request: Request) -> HTMLResponse:
    s = session(request)
    return _page(request, "account.html", s, tokens=ctx(request).store.tokens(s["user_id"]), new_token=None)


@router.post("/account/tokens")
async def add_token(request: Request, label: str = Form("token")) -> HTMLResponse:
    uid, s = await _form_user(request)
    token = new_api_token(ctx(request).store, uid, label)
    return _page(request, "account.html", s, tokens=ctx(request).store.tokens(uid), new_token=token)


# ---------------------------------------------------------------------- history
@router.get("/app")
def dashboard(request: Request) -> HTMLResponse:
    s = session(request)
    c, uid = ctx(request), s["user_id"]
    c.reap_orphans()
    return _page(request, "app.html", s, uploads=c.store.uploads(uid), models=c.store.models(uid),
                 jobs=c.store.jobs(uid), limit_mb=c.settings.max_upload_bytes // 2**20)


# ---------------------------------------------------------------------- uploads
@router.post("/uploads")
async def upload_post(request: Request, file: Annotated[UploadFile, File()]) -> Response:
    uid, _ = await _form_user(request)
    up = await run_in_threadpool(svc.save_upload, ctx(request), uid, file.filename, file.file)
    return _see(f"/uploads/{up}")


@router.get("/uploads/{upload_id}")
def upload_page(request: Request, upload_id: str) -> HTMLResponse:
    s = session(request)
    c = ctx(request)
    row = svc.upload(c, s["user_id"], upload_id)
    if svc.is_database(row):
        return _page(request, "database.html", s, up=row, info=svc.upload_info(c, row), engines=svc.DB_ENGINES)
    return _page(request, "upload.html", s, up=row, info=svc.upload_info(c, row), engines=svc.ENGINES)


@router.post("/uploads/{upload_id}/fit")
async def fit_post(request: Request, upload_id: str) -> Response:
    uid, _ = await _form_user(request)
    form = await request.form()
    c = ctx(request)
    row = svc.upload(c, uid, upload_id)
    columns = svc.upload_info(c, row).get("preview", {}).get("columns", [])
    kinds = {col: str(form[f"kind_{i}"]) for i, col in enumerate(columns) if f"kind_{i}" in form}
    rules = [int(v) for v in form.getlist("rule") if isinstance(v, str) and v.isdigit()]
    sequences: dict[str, dict[str, str]] = {}
    if svc.is_database(row):
        # Fields are numbered by table position: a table name may hold any character.
        for i, t in enumerate(svc.upload_info(c, row)["database"]["tables"]):
            key, index = str(form.get(f"seq_key_{i}", "")), str(form.get(f"seq_index_{i}", ""))
            if key or index:
                sequences[t["name"]] = {"key": key, "index": index}
    jid = svc.start_fit(c, uid, upload_id, engine=str(form.get("engine", "argn")),
                        max_training_time=form.get("max_training_time", 60), max_epochs=form.get("max_epochs"),
                        seed=form.get("seed", 0), kinds=kinds, keep_rules=rules, epsilon=form.get("epsilon"),
                        sequences=sequences)
    return _see(f"/jobs/{jid}")


@router.post("/uploads/{upload_id}/delete")
async def upload_delete(request: Request, upload_id: str) -> Response:
    uid, _ = await _form_user(request)
    await run_in_threadpool(svc.delete_upload, ctx(request), uid, upload_id)
    return _deleted(request)


# ---------------------------------------------------------------------- models
@router.post("/models/import")
async def model_import(request: Request, file: Annotated[UploadFile, File()]) -> Response:
    uid, _ = await _form_user(request)
    mid = await run_in_threadpool(svc.import_model, ctx(request), uid, file.filename, file.file)
    return _see(f"/models/{mid}")


@router.get("/models/{model_id}")
def model_page(request: Request, model_id: str) -> HTMLResponse:
    s = session(request)
    row = svc.model(ctx(request), s["user_id"], model_id)
    return _page(request, "model.html", s, model=row, max_rows=ctx(request).settings.max_rows_out)


@router.get("/models/{model_id}/download")
def model_download(request: Request, model_id: str) -> Response:
    s = session(request)
    row = svc.model(ctx(request), s["user_id"], model_id)
    return FileResponse(row["path"], filename=f"datatwin-{row['id']}.dtw", media_type="application/zip")


@router.post("/models/{model_id}/sample")
async def sample_post(request: Request, model_id: str, n: str = Form("1000"), seed: str = Form("0"),
                      where: str = Form(""), rebalance: str = Form(""), what_if: str = Form(""),
                      boost_where: str = Form(""), boost_share: str = Form(""), scale: str = Form("")) -> Response:
    uid, _ = await _form_user(request)
    if svc.is_database(svc.model(ctx(request), uid, model_id)):
        # Conditions are checked against the loaded model: off the event loop.
        jid = await run_in_threadpool(svc.start_db_sample, ctx(request), uid, model_id, scale=scale or "1", seed=seed,
                                      where=where)
        return _see(f"/jobs/{jid}")
    jid = svc.start_sample(ctx(request), uid, model_id, n=n, seed=seed, where=where, rebalance=rebalance,
                           what_if=what_if, boost_where=boost_where, boost_share=boost_share)
    return _see(f"/jobs/{jid}")


@router.post("/models/{model_id}/delete")
async def model_delete(request: Request, model_id: str) -> Response:
    uid, _ = await _form_user(request)
    await run_in_threadpool(svc.delete_model, ctx(request), uid, model_id)
    return _deleted(request)


# ---------------------------------------------------------------------- jobs
@router.get("/jobs/{job_id}")
def job_page(request: Request, job_id: str) -> HTMLResponse:
    s = session(request)
    c = ctx(request)
    row = svc.job(c, s["user_id"], job_id)
    model = None
    if row["kind"] == "sample":
        model = c.store.model(s["user_id"], row["params"]["model_id"])
    return _page(request, "job.html", s, job=row, terminal=row["status"] in TERMINAL, model=model)


@router.get("/jobs/{job_id}/events")
def job_stream(request: Request, job_id: str) -> Response:
    s = session(request)
    return job_events(request, ctx(request), s["user_id"], job_id)


@router.post("/jobs/{job_id}/{action}")
async def job_action(request: Request, job_id: str, action: str) -> Response:
    uid, _ = await _form_user(request)
    c = ctx(request)
    if action == "cancel":
        svc.cancel(c, uid, job_id)
    elif action == "retry":
        svc.retry(c, uid, job_id)
    elif action == "delete":
        await run_in_threadpool(svc.delete_job, c, uid, job_id)
        return _deleted(request)
    elif action == "report":
        form = await request.form()
        target = form.get("target")
        return _see(f"/jobs/{svc.start_report(c, uid, job_id, target if isinstance(target, str) else None)}")
    else:
        raise svc.NotFound()
    return _see(f"/jobs/{job_id}")


@router.get("/jobs/{job_id}/download/{fmt}")
def job_download(request: Request, job_id: str, fmt: str) -> Response:
    s = session(request)
    if fmt not in svc.DOWNLOADS:
        raise svc.NotFound()
    path, media, name = svc.download(ctx(request), s["user_id"], job_id, fmt)
    return FileResponse(path, filename=name, media_type=media)


@router.get("/jobs/{job_id}/report")
def job_report(request: Request, job_id: str, table: str = "") -> Response:
    s = session(request)
    path = svc.report_file(ctx(request), s["user_id"], job_id, table)
    # The report holds the user's own column names and values: it runs sandboxed (an opaque
    # origin), so nothing in it can read this app's cookies or call its API.
    return FileResponse(path, media_type="text/html; charset=utf-8", headers={"Content-Security-Policy": REPORT_CSP})


# ---------------------------------------------------------------------- rule-based data
EXAMPLE_SPEC = """columns:
  customer_id: {type: id, prefix: C-, digits: 6}
  age: {type: integer, distribution: normal, mean: 40, sd: 12, min: 18, max: 90}
  plan: {type: category, values: {basic: 0.6, plus: 0.3, pro: 0.1}}
"""


@router.get("/generate")
def generate_page(request: Request) -> HTMLResponse:
    s = session(request)
    return _page(request, "generate.html", s, spec=EXAMPLE_SPEC, max_rows=ctx(request).settings.max_rows_out)


@router.post("/generate")
async def generate_post(request: Request, spec: str = Form(""), n: str = Form("1000"),
                        seed: str = Form("0")) -> Response:
    uid, _ = await _form_user(request)
    jid = await run_in_threadpool(svc.start_generate, ctx(request), uid, spec, n=n, seed=seed)
    return _see(f"/jobs/{jid}")

"""The REST API under /api/ (token auth), the same operations as the pages, documented at /api/docs.

Errors are JSON ``{"detail": message}``: datatwin's own messages (the CLI's) with status 400,
401 without a valid token, 404 for an object that is missing or another user's, 413 oversize.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse, Response
from pydantic import BaseModel, Field

from .. import InputError
from . import _service as svc
from ._auth import check_password, new_api_token
from ._deps import REPORT_CSP, api_user, client_addr, ctx
from ._events import job_events, job_state

router = APIRouter(prefix="/api", tags=["api"])
User = Annotated[str, Depends(api_user)]


class Login(BaseModel):
    name: str
    password: str
    label: str = "api"


class FitBody(BaseModel):
    engine: str = Field("argn", description="auto, argn (neural, best fidelity), marginal (small epsilon) or "
                                            "copula (fast)")
    epsilon: float | None = Field(None, description="train with differential privacy at this budget (e.g. 1)")
    max_training_time: int = Field(60, description="time budget in seconds")
    max_epochs: int | None = None
    seed: int = 0
    kinds: dict[str, str] | None = Field(None, description="column -> kind, overriding the detected kinds")
    keep_rules: list[int] | None = Field(None, description="indexes of suggested rules to enforce")


class SampleBody(BaseModel):
    n: int
    seed: int = 0
    where: list[str] = Field(default_factory=list, description="col=value, col=a|b or col=low..high")
    rebalance: list[str] = Field(default_factory=list, description="col=value:share")
    what_if: list[str] = Field(default_factory=list, description="col=*1.1, col=+5, ...")
    boost_where: list[str] = Field(default_factory=list, description="rows to boost: col=value, col=low..high")
    boost_share: float | None = Field(None, description="exact share of rows that match boost_where, in [0, 1]")


class DbFitBody(BaseModel):
    engine: str = Field("argn", description="engine per table: argn (neural, children conditioned on their "
                                            "parent row) or marginal (fast, weaker links between columns)")
    max_training_time: int = Field(60, description="time budget per table, in seconds")
    max_epochs: int | None = None
    seed: int = 0
    sequences: dict[str, dict[str, str]] = Field(default_factory=dict, description='tables of histories: '
                                                 '{"trans": {"key": "account_id", "index": "date"}}, each '
                                                 "entity's rows generated in order")


class DbSampleBody(BaseModel):
    scale: float = Field(1.0, description="size relative to the real database (0.5 = half, 2 = twice)")
    seed: int = 0
    where: list[str] = Field(default_factory=list, description="conditions on a root table, which flow to its "
                             "children: table.column=value, table.column=a|b or table.column=low..high")


class ReportBody(BaseModel):
    target: str | None = None


class GenerateBody(BaseModel):
    spec: str = Field(description="YAML or JSON spec text (docs/spec.md)")
    n: int
    seed: int = 0


def _public(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k not in ("path", "owner")}


@router.post("/token", summary="Exchange a user name and password for an API token (rate-limited)")
def token(request: Request, body: Login) -> dict[str, str]:
    c = ctx(request)
    uid = check_password(c.store, c.settings, body.name, body.password, client_addr(request))
    return {"token": new_api_token(c.store, uid, body.label)}


@router.post("/uploads", summary="Upload a CSV or Parquet table, or a SQLite database (type sniffed from content)")
async def upload(request: Request, user: User, file: Annotated[UploadFile, File()]) -> dict[str, Any]:
    c = ctx(request)
    uid = await run_in_threadpool(svc.save_upload, c, user, file.filename, file.file)
    row = svc.upload(c, user, uid)
    return {**_public(row), "info": svc.upload_info(c, row)}


@router.get("/uploads")
def uploads(request: Request, user: User) -> list[dict[str, Any]]:
    return [_public(r) for r in ctx(request).store.uploads(user)]


@router.get("/uploads/{upload_id}")
def upload_get(request: Request, user: User, upload_id: str) -> dict[str, Any]:
    c = ctx(request)
    row = svc.upload(c, user, upload_id)
    return {**_public(row), "info": svc.upload_info(c, row)}


@router.delete("/uploads/{upload_id}")
async def upload_delete(request: Request, user: User, upload_id: str) -> dict[str, bool]:
    await run_in_threadpool(svc.delete_upload, ctx(request), user, upload_id)
    return {"deleted": True}


@router.post("/uploads/{upload_id}/fit", summary="Queue a fit job")
async def fit(request: Request, user: User, upload_id: str, body: FitBody) -> dict[str, str]:
    jid = svc.start_fit(ctx(request), user, upload_id, engine=body.engine, epsilon=body.epsilon,
                        max_training_time=body.max_training_time,
                        max_epochs=body.max_epochs, seed=body.seed, kinds=body.kinds, keep_rules=body.keep_rules)
    return {"job_id": jid}


@router.post("/databases", summary="Upload a SQLite database (.sqlite, .sqlite3, .db): tables, row counts, "
                                   "primary and foreign keys are read and returned under info.database")
async def database_upload(request: Request, user: User, file: Annotated[UploadFile, File()]) -> dict[str, Any]:
    c = ctx(request)
    name = file.filename or ""
    if not svc.is_database_name(name):
        raise InputError(f"{name!r}: a database upload is a SQLite file named .sqlite, .sqlite3 or .db")
    uid = await run_in_threadpool(svc.save_upload, c, user, file.filename, file.file)
    row = svc.upload(c, user, uid)
    return {**_public(row), "info": svc.upload_info(c, row)}


@router.get("/databases/{upload_id}", summary="An uploaded database: its tables, row counts and keys")
def database_get(request: Request, user: User, upload_id: str) -> dict[str, Any]:
    c = ctx(request)
    row = svc.upload(c, user, upload_id)
    if not svc.is_database(row):
        raise svc.NotFound()
    return {**_public(row), "info": svc.upload_info(c, row)}


@router.post("/databases/{upload_id}/fit", summary="Queue the fit of a database model (one model per table, "
                                                   "children conditioned on their parents)")
async def database_fit(request: Request, user: User, upload_id: str, body: DbFitBody) -> dict[str, str]:
    jid = svc.start_db_fit(ctx(request), user, upload_id, engine=body.engine,
                           max_training_time=body.max_training_time, max_epochs=body.max_epochs, seed=body.seed,
                           sequences=body.sequences)
    return {"job_id": jid}


@router.post("/database-models/{model_id}/sample", summary="Queue a synthetic database; download it from "
             "/api/jobs/{job_id}/download?format=sqlite (SQLite file) or format=zip (one CSV per table)")
async def database_sample(request: Request, user: User, model_id: str, body: DbSampleBody) -> dict[str, str]:
    # Conditions are checked against the loaded model: off the event loop.
    return {"job_id": await run_in_threadpool(svc.start_db_sample, ctx(request), user, model_id, scale=body.scale,
                                              seed=body.seed, where="\n".join(body.where))}


@router.get("/models")
def models(request: Request, user: User) -> list[dict[str, Any]]:
    return [_public(r) for r in ctx(request).store.models(user)]


@router.get("/models/{model_id}")
def model_get(request: Request, user: User, model_id: str) -> dict[str, Any]:
    return _public(svc.model(ctx(request), user, model_id))


@router.post("/models", summary="Import a .dtw model file (checksums verified; a tampered file is refused)")
async def model_import(request: Request, user: User, file: Annotated[UploadFile, File()]) -> dict[str, str]:
    return {"model_id": await run_in_threadpool(svc.import_model, ctx(request), user, file.filename, file.file)}


@router.get("/models/{model_id}/download", response_class=FileResponse)
def model_download(request: Request, user: User, model_id: str) -> Response:
    row = svc.model(ctx(request), user, model_id)
    return FileResponse(row["path"], filename=f"datatwin-{row['id']}.dtw", media_type="application/zip")


@router.delete("/models/{model_id}")
async def model_delete(request: Request, user: User, model_id: str) -> dict[str, bool]:
    await run_in_threadpool(svc.delete_model, ctx(request), user, model_id)
    return {"deleted": True}


@router.post("/models/{model_id}/sample", summary="Queue a sample job (served from the saved model, no refit)")
async def sample(request: Request, user: User, model_id: str, body: SampleBody) -> dict[str, str]:
    jid = svc.start_sample(ctx(request), user, model_id, n=body.n, seed=body.seed, where="\n".join(body.where),
                           rebalance="\n".join(body.rebalance), what_if="\n".join(body.what_if),
                           boost_where="\n".join(body.boost_where), boost_share=body.boost_share)
    return {"job_id": jid}


@router.post("/generate", summary="Queue rule-based generation from a spec (no real data)")
async def generate(request: Request, user: User, body: GenerateBody) -> dict[str, str]:
    # Checking the spec parses it: off the event loop.
    jid = await run_in_threadpool(svc.start_generate, ctx(request), user, body.spec, n=body.n, seed=body.seed)
    return {"job_id": jid}


@router.get("/jobs")
def jobs(request: Request, user: User) -> list[dict[str, Any]]:
    return [job_state(j) for j in ctx(request).store.jobs(user)]


@router.get("/jobs/{job_id}", summary="Job status and progress")
def job(request: Request, user: User, job_id: str) -> dict[str, Any]:
    return job_state(svc.job(ctx(request), user, job_id))


@router.get("/jobs/{job_id}/events", summary="Job progress as server-sent events")
def job_stream(request: Request, user: User, job_id: str) -> Response:
    return job_events(request, ctx(request), user, job_id)


@router.post("/jobs/{job_id}/cancel")
def cancel(request: Request, user: User, job_id: str) -> dict[str, Any]:
    svc.cancel(ctx(request), user, job_id)
    return job_state(svc.job(ctx(request), user, job_id))


@router.post("/jobs/{job_id}/retry")
async def retry(request: Request, user: User, job_id: str) -> dict[str, Any]:
    svc.retry(ctx(request), user, job_id)
    return job_state(svc.job(ctx(request), user, job_id))


@router.delete("/jobs/{job_id}")
async def job_delete(request: Request, user: User, job_id: str) -> dict[str, bool]:
    await run_in_threadpool(svc.delete_job, ctx(request), user, job_id)
    return {"deleted": True}


@router.get("/jobs/{job_id}/download", response_class=FileResponse,
            summary="Download a sample's rows: format=csv (formula cells escaped) or parquet; a synthetic "
                    "database: format=sqlite or zip (one CSV per table, formula cells escaped)")
def download(request: Request, user: User, job_id: str, format: str = "csv") -> Response:
    path, media, name = svc.download(ctx(request), user, job_id, format)
    return FileResponse(path, filename=name, media_type=media)


@router.post("/jobs/{job_id}/report", summary="Queue an evaluation report of a finished sample job")
async def report(request: Request, user: User, job_id: str, body: ReportBody) -> dict[str, str]:
    return {"job_id": svc.start_report(ctx(request), user, job_id, body.target)}


@router.get("/jobs/{job_id}/report", response_class=HTMLResponse,
            summary="The evaluation report (HTML); of a database: table=i for the i-th table's report")
def report_get(request: Request, user: User, job_id: str, table: int | None = None) -> Response:
    path = svc.report_file(ctx(request), user, job_id, table)
    return FileResponse(path, media_type="text/html; charset=utf-8", headers={"Content-Security-Policy": REPORT_CSP})

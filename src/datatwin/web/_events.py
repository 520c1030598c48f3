"""Live job progress as server-sent events: the worker writes the job row, this reads it.

The stream polls SQLite (a primary-key read, cheap in WAL mode) rather than holding a channel
to the worker, so it survives a page reload, a second tab, or a server restart.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import Request
from sse_starlette import EventSourceResponse

from ._service import Ctx, NotFound
from ._store import TERMINAL

POLL_SECONDS = 0.5


def job_state(job: dict[str, Any]) -> dict[str, Any]:
    return {"id": job["id"], "kind": job["kind"], "status": job["status"], "progress": job["progress"],
            "result": job["result"], "error": job["error"], "cancel_requested": bool(job["cancel"])}


def job_events(request: Request, ctx: Ctx, owner: str, jid: str) -> EventSourceResponse:
    if ctx.store.job(owner, jid) is None:
        raise NotFound()

    async def stream() -> AsyncIterator[dict[str, str]]:
        last = None
        while True:
            ctx.reap_orphans()
            job = ctx.store.job(owner, jid)
            if job is None:  # deleted meanwhile
                yield {"event": "end", "data": json.dumps({"status": "deleted"})}
                return
            state = job_state(job)
            text = json.dumps(state)
            if text != last:
                last = text
                yield {"event": "progress", "data": text}
            if job["status"] in TERMINAL:
                yield {"event": "end", "data": text}
                return
            if await request.is_disconnected():
                return
            await asyncio.sleep(POLL_SECONDS)

    return EventSourceResponse(stream(), ping=15)

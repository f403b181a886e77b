"""The FastAPI app: health endpoints and metrics; its lifespan runs the worker.

FastAPI 0.92 ignores ``FastAPI(lifespan=...)``, so the lifespan is set on
``app.router.lifespan_context``; it yields nothing (uvicorn 0.17 rejects a yielded dict) and keeps
the worker on ``app.state``.
"""

from __future__ import annotations

import contextlib
from typing import AsyncIterator, Optional

from fastapi import FastAPI
from fastapi.responses import JSONResponse, PlainTextResponse

from .metrics import CONTENT_TYPE, Metrics
from .settings import Settings
from .worker import Worker


def create_app(settings: Optional[Settings] = None) -> FastAPI:
    """Builds the app.

    :param settings: the sidecar settings; read from the environment at startup when omitted.
    """
    app = FastAPI(title="FirstSip sidecar", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.metrics = Metrics()
    app.state.worker = None

    @contextlib.asynccontextmanager
    async def lifespan(application: FastAPI) -> AsyncIterator[None]:
        worker = Worker(settings or Settings.from_env(), metrics=application.state.metrics)
        application.state.worker = worker
        await worker.start()
        try:
            yield
        finally:
            await worker.stop()

    app.router.lifespan_context = lifespan

    @app.get("/health/live")
    async def live() -> JSONResponse:
        """The process answers."""
        return JSONResponse({"status": "live"})

    @app.get("/health/ready")
    async def ready() -> JSONResponse:
        """Redis is reachable and the consumer loop's heartbeat is fresh; 503 otherwise."""
        worker: Optional[Worker] = app.state.worker
        if worker is None:
            return JSONResponse({"status": "starting"}, status_code=503)
        ok, details = await worker.ready()
        return JSONResponse({"status": "ready" if ok else "not ready", **details}, status_code=200 if ok else 503)

    @app.get("/metrics")
    async def metrics() -> PlainTextResponse:
        """Prometheus text: received, completed, failed, timed out, dead-lettered, in flight, seconds."""
        return PlainTextResponse(app.state.metrics.render(), media_type=CONTENT_TYPE)

    return app

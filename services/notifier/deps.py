"""FastAPI dependencies of the notifier API: the runtime, once its state is rebuilt from the log (503
with Retry-After before that). Role aliases (`Staff`, `Admin`) come from services.common.auth."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request, status

from .runtime import NotifierRuntime


def runtime_of(request: Request) -> NotifierRuntime:
    runtime: NotifierRuntime = request.app.state.runtime
    if not runtime.rebuilt.is_set():
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail="call queue is being rebuilt from the log",
                            headers={"Retry-After": "2"})
    return runtime


RuntimeDep = Annotated[NotifierRuntime, Depends(runtime_of)]

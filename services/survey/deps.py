"""FastAPI dependencies of the survey API: the runtime the lifespan started (app.state.runtime). Role
aliases (`Member`, `Staff`) come from services.common.auth."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from .runtime import SurveyRuntime


def get_runtime(request: Request) -> SurveyRuntime:
    return request.app.state.runtime


Runtime = Annotated[SurveyRuntime, Depends(get_runtime)]

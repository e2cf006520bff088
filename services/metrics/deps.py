"""FastAPI dependencies of the metrics API: the answer cache the lifespan put on app.state. Role
aliases (`Staff`) come from services.common.auth."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from .answers import Answers


async def get_answers(request: Request) -> Answers:
    return request.app.state.answers


AnswersDep = Annotated[Answers, Depends(get_answers)]

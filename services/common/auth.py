"""Bearer JWTs (HS256): members, nurses and admins. Only HS256 is accepted, so `alg: none` and
tokens signed with other keys are refused."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Annotated, Literal

import jwt
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

Role = Literal["member", "nurse", "admin"]
ROLES: tuple[Role, ...] = ("member", "nurse", "admin")
ALGORITHM = "HS256"


@dataclass(frozen=True)
class Principal:
    subject: str
    role: Role
    cohorts: frozenset[str]

    def may_see_cohort(self, cohort: str) -> bool:
        return self.role == "admin" or cohort in self.cohorts


def mint_token(secret: str, subject: str, role: Role = "member", cohorts: tuple[str, ...] = (),
               ttl: timedelta = timedelta(hours=12), now: datetime | None = None) -> str:
    now = now or datetime.now(timezone.utc)
    claims = {"sub": subject, "role": role, "cohorts": list(cohorts), "iat": now, "exp": now + ttl}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"})


def decode_token(token: str, secret: str) -> Principal:
    """Verify a token (HS256 only) and return its principal; 401 with the reason otherwise."""
    cached = _verified.get((token, secret))
    if cached is not None and cached[1] > time.time():
        return cached[0]
    principal, expires = _decode(token, secret)
    if len(_verified) >= _CACHE_SIZE:
        _verified.clear()
    _verified[(token, secret)] = (principal, expires)
    return principal


# Apps reuse one token for many requests: remember verified tokens until they expire.
_CACHE_SIZE = 50_000
_verified: dict[tuple[str, str], tuple[Principal, float]] = {}


def _decode(token: str, secret: str) -> tuple[Principal, float]:
    try:
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM], options={"require": ["sub", "role", "exp"]})
    except jwt.ExpiredSignatureError:
        raise _unauthorized("token expired") from None
    except jwt.PyJWTError as exc:
        raise _unauthorized(f"invalid token: {exc}") from None
    role, cohorts = claims.get("role"), claims.get("cohorts", [])
    if role not in ROLES:
        raise _unauthorized("invalid token: unknown role")
    if not isinstance(cohorts, list) or not all(isinstance(c, str) for c in cohorts):
        raise _unauthorized("invalid token: cohorts must be a list of strings")
    if not isinstance(claims["sub"], str) or not claims["sub"]:
        raise _unauthorized("invalid token: empty subject")
    return Principal(subject=claims["sub"], role=role, cohorts=frozenset(cohorts)), float(claims["exp"])


_bearer = HTTPBearer(auto_error=False)


async def current_principal(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    """Dependency: the caller, from `Authorization: Bearer <jwt>`. The app's settings carry the secret."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise _unauthorized("missing bearer token")
    secret = request.app.state.settings.jwt_secret.get_secret_value()
    return decode_token(credentials.credentials, secret)


def require_role(*roles: Role):
    """Dependency factory: 403 unless the caller has one of `roles`.

    Dependencies here are `async def`: FastAPI runs plain `def` dependencies in a thread pool."""

    async def check(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if principal.role not in roles:
            raise HTTPException(status.HTTP_403_FORBIDDEN, detail=f"requires role {' or '.join(roles)}")
        return principal

    return check


def require_cohort(principal: Principal, cohort: str) -> None:
    if not principal.may_see_cohort(cohort):
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail=f"no access to cohort {cohort!r}")


# The role aliases every router uses (one definition; a route states who may call it in its signature).
Member = Annotated[Principal, Depends(require_role("member"))]
Staff = Annotated[Principal, Depends(require_role("nurse", "admin"))]
Admin = Annotated[Principal, Depends(require_role("admin"))]

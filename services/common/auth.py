"""Bearer JWTs: members, nurses, researchers and admins (docs/security.md, "Tokens").

Production tokens are EdDSA (Ed25519): only the token issuer holds the private key; services verify
with public keys from a JWKS document (file or URL) chosen by the token's `kid`, so a key is rotated by
publishing the new key beside the old one. HS256 with a shared secret is a development option, accepted
only with `AUTH_DEV=1`. Every token must carry `iss`, `aud`, `iat`, `exp`, `sub` and `role`, and may not
live longer than its role's cap. A 401 says what kind of problem the token has, never the library's
message (it can quote claims back)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

import jwt
import jwt.algorithms
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from .logging import log

Role = Literal["member", "nurse", "researcher", "admin"]
ROLES: tuple[Role, ...] = ("member", "nurse", "researcher", "admin")
STAFF_ROLES: tuple[Role, ...] = ("nurse", "researcher", "admin")
AUDIENCE = "carecircle"
DEV_ISSUER = "carecircle-dev"
_SKEW_S = 60  # clocks of issuer and services may differ this much


@dataclass(frozen=True)
class Principal:
    subject: str
    role: Role
    cohorts: frozenset[str]

    def may_see_cohort(self, cohort: str) -> bool:
        return self.role == "admin" or cohort in self.cohorts


def mint_token(key: str | Ed25519PrivateKey, subject: str, role: Role = "member", cohorts: tuple[str, ...] = (),
               ttl: timedelta = timedelta(hours=12), now: datetime | None = None, *, kid: str | None = None,
               issuer: str = DEV_ISSUER, audience: str = AUDIENCE) -> str:
    """A token signed with an Ed25519 private key (EdDSA, `kid` required) or a dev secret (HS256)."""
    now = now or datetime.now(timezone.utc)
    claims = {"sub": subject, "role": role, "cohorts": list(cohorts), "iss": issuer, "aud": audience,
              "iat": now, "exp": now + ttl}
    if isinstance(key, Ed25519PrivateKey):
        if not kid:
            raise ValueError("an EdDSA token needs the key id (kid) of its signing key")
        return jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": kid})
    return jwt.encode(claims, key, algorithm="HS256")


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"})


@dataclass
class PublicKeys:
    """Verification keys by `kid`, from a JWKS file or URL. An unknown kid re-reads the source (at most
    once a minute), so a rotated-in key is picked up without a restart."""

    file: str | None = None
    url: str | None = None
    keys: dict[str, Ed25519PublicKey] = field(default_factory=dict)
    loaded_at: float = float("-inf")

    def get(self, kid: str) -> Ed25519PublicKey | None:
        if kid not in self.keys and time.monotonic() - self.loaded_at > 60:
            self.loaded_at = time.monotonic()
            try:
                self.keys = self._load()
            except (OSError, ValueError) as exc:  # keep the keys we had; the token gets a plain 401
                log.warning("jwks_unreadable", source=self.file or self.url, error=type(exc).__name__)
        return self.keys.get(kid)

    def _load(self) -> dict[str, Ed25519PublicKey]:
        if self.file:
            document = json.loads(Path(self.file).read_text())
        elif self.url:  # the standard library: every service image has it (httpx is the notifier's alone)
            from urllib.request import urlopen

            with urlopen(self.url, timeout=5) as answer:  # noqa: S310 (an https URL from the settings)
                document = json.loads(answer.read(1_000_000))
        else:
            return {}
        return parse_jwks(document)


def parse_jwks(document: dict[str, Any]) -> dict[str, Ed25519PublicKey]:
    """Ed25519 keys (`kty: OKP`, `crv: Ed25519`) of a JWKS document by kid; other keys are ignored."""
    keys = {}
    for entry in document.get("keys", []):
        if entry.get("kty") == "OKP" and entry.get("crv") == "Ed25519" and entry.get("kid"):
            keys[entry["kid"]] = jwt.algorithms.OKPAlgorithm.from_jwk(entry)
    return keys


@dataclass
class TokenPolicy:
    """What a service accepts: built once per app from its settings (`policy_of`)."""

    public_keys: PublicKeys
    issuer: str
    audience: str = AUDIENCE
    member_max: timedelta = timedelta(days=30)
    staff_max: timedelta = timedelta(hours=12)
    dev_secret: str | None = None  # HS256 accepted only when set (AUTH_DEV=1)

    @classmethod
    def from_settings(cls, settings) -> TokenPolicy:
        dev = settings.auth_dev and settings.jwt_secret is not None
        return cls(PublicKeys(settings.jwt_jwks_file, settings.jwt_jwks_url),
                   issuer=settings.jwt_issuer, audience=settings.jwt_audience,
                   member_max=timedelta(hours=settings.member_token_max_hours),
                   staff_max=timedelta(hours=settings.staff_token_max_hours),
                   dev_secret=settings.jwt_secret.get_secret_value() if dev else None)


@lru_cache(maxsize=16)
def dev_policy(secret: str) -> TokenPolicy:
    """HS256 with `secret` alone (development and tests: what AUTH_DEV=1 with JWT_SECRET accepts)."""
    return TokenPolicy(PublicKeys(), issuer=DEV_ISSUER, dev_secret=secret)


def decode_token(token: str, policy: TokenPolicy | str) -> Principal:
    """Verify a token and return its principal; 401 with a short reason otherwise. A plain string is
    taken as a dev HS256 secret (`dev_policy`)."""
    if isinstance(policy, str):
        policy = dev_policy(policy)
    cached = _verified.get((token, id(policy)))
    if cached is not None and cached[1] > time.time():
        return cached[0]
    principal, expires = _decode(token, policy)
    if len(_verified) >= _CACHE_SIZE:
        _verified.clear()
    _verified[(token, id(policy))] = (principal, expires)
    return principal


# Apps reuse one token for many requests: remember verified tokens until they expire.
_CACHE_SIZE = 50_000
_verified: dict[tuple[str, int], tuple[Principal, float]] = {}
_REQUIRED = ["sub", "role", "iss", "aud", "iat", "exp"]


def _decode(token: str, policy: TokenPolicy) -> tuple[Principal, float]:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise _unauthorized("invalid token: not a JWT") from None
    algorithm = header.get("alg")
    if algorithm == "EdDSA":
        key = policy.public_keys.get(str(header.get("kid", "")))
        if key is None:
            raise _unauthorized("invalid token: unknown signing key")
        issuers = [policy.issuer]
    elif algorithm == "HS256" and policy.dev_secret:
        key, issuers = policy.dev_secret, [policy.issuer, DEV_ISSUER]
    else:
        raise _unauthorized("invalid token: signature algorithm not accepted")
    try:
        claims = jwt.decode(token, key, algorithms=[algorithm], audience=policy.audience, issuer=issuers,
                            leeway=_SKEW_S, options={"require": _REQUIRED})
    except jwt.ExpiredSignatureError:
        raise _unauthorized("token expired") from None
    except jwt.MissingRequiredClaimError:
        raise _unauthorized("invalid token: a required claim (sub, role, iss, aud, iat, exp) is missing") from None
    except (jwt.InvalidAudienceError, jwt.InvalidIssuerError):
        raise _unauthorized("invalid token: wrong issuer or audience") from None
    except jwt.PyJWTError:
        raise _unauthorized("invalid token: signature or claims not valid") from None
    return _principal(claims, policy), float(claims["exp"])


def _principal(claims: dict, policy: TokenPolicy) -> Principal:
    role, cohorts, subject = claims.get("role"), claims.get("cohorts", []), claims.get("sub")
    if role not in ROLES:
        raise _unauthorized("invalid token: unknown role")
    if not isinstance(cohorts, list) or not all(isinstance(c, str) for c in cohorts):
        raise _unauthorized("invalid token: cohorts must be a list of strings")
    if not isinstance(subject, str) or not subject:
        raise _unauthorized("invalid token: empty subject")
    cap = policy.member_max if role == "member" else policy.staff_max
    if not isinstance(claims["iat"], (int, float)) or claims["exp"] - claims["iat"] > cap.total_seconds():
        raise _unauthorized(f"invalid token: lifetime over the {cap.total_seconds() / 3600:g} h cap for role {role}")
    return Principal(subject=subject, role=role, cohorts=frozenset(cohorts))


def policy_of(request: Request) -> TokenPolicy:
    state = request.app.state
    policy = getattr(state, "token_policy", None)
    if policy is None:
        policy = state.token_policy = TokenPolicy.from_settings(state.settings)
    return policy


_bearer = HTTPBearer(auto_error=False)


def principal_from_header(request: Request, authorization: str | None) -> Principal:
    """The caller from an `Authorization` header value (401 when missing or not accepted)."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("missing bearer token")
    return decode_token(token.strip(), policy_of(request))


async def current_principal(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    """Dependency: the caller, from `Authorization: Bearer <jwt>` (already checked by the body guard
    in services.common.web for requests with a body; verified tokens are cached)."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise _unauthorized("missing bearer token")
    return decode_token(credentials.credentials, policy_of(request))


def require_role(*roles: Role):
    """Dependency factory: 403 unless the caller has one of `roles`.

    Dependencies here are `async def`: FastAPI runs plain `def` dependencies in a thread pool."""

    async def check(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if principal.role not in roles:
            raise HTTPException(status.HTTP_403_FORBIDDEN, detail=f"requires role {' or '.join(roles)}")
        return principal

    return check


def require_cohort(principal: Principal, cohort: str) -> None:
    """For routes that name the cohort in the path: the caller already knows the name, so a 403 tells
    them nothing new (it does not repeat the name either)."""
    if not principal.may_see_cohort(cohort):
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="no access to this cohort")


def require_visible(principal: Principal, cohort: str, what: str) -> None:
    """For a member or alert looked up by id: staff of another cohort get the same 404 as for an id that
    does not exist, so ids cannot be probed for membership (a cohort's name can reveal a diagnosis)."""
    if not principal.may_see_cohort(cohort):
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"unknown {what}")


# The role aliases every router uses (one definition; a route states who may call it in its signature).
Member = Annotated[Principal, Depends(require_role("member"))]
Staff = Annotated[Principal, Depends(require_role("nurse", "admin"))]
Admin = Annotated[Principal, Depends(require_role("admin"))]
# Researchers see cohort aggregates (rates), never member-level data (docs/security.md, "Roles").
Aggregates = Annotated[Principal, Depends(require_role("nurse", "researcher", "admin"))]
# Research exports (docs/export.md): pseudonymised member-level rows for research, not for the call queue.
Research = Annotated[Principal, Depends(require_role("researcher", "admin"))]

"""Token rules (docs/security.md, "Tokens"): EdDSA with issuer, audience, lifetime caps and key rotation
by kid; HS256 only with AUTH_DEV=1; dev and placeholder secrets refused; 401s never echo the library.

Against the real ingest service and broker: an accepted token gets 202 for a real event."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from uuid import uuid4

import jwt as pyjwt
import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from pydantic import ValidationError

from conftest import TEST_JWT_SECRET
from services.common.auth import mint_token
from services.common.keys import jwks, key_id, write_key_pair
from services.common.settings import DEV_JWT_SECRET
from services.ingest.app import create_app
from services.ingest.settings import IngestSettings

REPO = Path(__file__).resolve().parents[2]
ISSUER = "carecircle-auth"
# Texts PyJWT puts in its exceptions: a 401 must not carry them (they quote claims and internals).
LIBRARY_TEXTS = ("Signature verification failed", "Invalid audience", "Invalid issuer", "Token is missing",
                 "has expired", "Not enough segments", "alg value is not allowed", "Invalid crypto padding")


def event(member: str) -> dict:
    return {"event_id": str(uuid4()), "type": "login", "member_id": member,
            "occurred_at": "2026-11-02T08:00:00+00:00", "payload": {}}


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    """Two issuer keys published together (a rotation in progress) and the JWKS file services read."""
    old, new = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    path = tmp_path_factory.mktemp("keys") / "jwks.json"
    path.write_text(json.dumps(jwks(old.public_key(), new.public_key())))
    return {"old": old, "new": new, "jwks": str(path)}


@pytest.fixture(scope="module")
def ingest(broker, keys):
    """Ingest as production runs it: EdDSA keys from a JWKS file, no AUTH_DEV."""
    settings = IngestSettings(kafka_bootstrap=broker, jwt_jwks_file=keys["jwks"], auth_dev=False, jwt_secret=None)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        wait_ready(client)
        yield client


def wait_ready(client: TestClient) -> None:
    """Ingest answers 503 until its member directory has read the log."""
    deadline = time.monotonic() + 30
    while client.get("/readyz").status_code != 200:
        assert time.monotonic() < deadline, "ingest never became ready"
        time.sleep(0.05)


def eddsa(key, subject="m-tok", role="member", ttl=timedelta(hours=1), **claims_over) -> str:
    return mint_token(key, subject, role, ("c-a",) if role != "member" else (), ttl, kid=key_id(key.public_key()),
                      issuer=ISSUER, **claims_over)


def raw(key, claims: dict, kid: str, algorithm="EdDSA") -> str:
    return pyjwt.encode(claims, key, algorithm=algorithm, headers={"kid": kid})


def test_token_rules(ingest, keys, fault_report):
    now = datetime.now(timezone.utc)
    old, new = keys["old"], keys["new"]
    stranger = Ed25519PrivateKey.generate()
    base = {"sub": "m-tok", "role": "member", "iss": ISSUER, "aud": "carecircle", "iat": now, "exp": now + timedelta(hours=1)}
    accepted = {"old key (rotation)": eddsa(old), "new key (rotation)": eddsa(new),
                "member, 30 days": eddsa(new, ttl=timedelta(days=30)),
                "admin, 12 h": eddsa(new, "ops", "admin", ttl=timedelta(hours=12))}
    refused = {
        "HS256 without AUTH_DEV": mint_token(TEST_JWT_SECRET, "m-tok", issuer=ISSUER),
        "dev secret without AUTH_DEV": mint_token(DEV_JWT_SECRET, "m-tok", issuer=ISSUER),
        "unknown kid": eddsa(stranger),
        "known kid, other key": raw(stranger, base, key_id(new.public_key())),
        "no iss": raw(new, {k: v for k, v in base.items() if k != "iss"}, key_id(new.public_key())),
        "wrong iss": raw(new, base | {"iss": "someone-else"}, key_id(new.public_key())),
        "no aud": raw(new, {k: v for k, v in base.items() if k != "aud"}, key_id(new.public_key())),
        "wrong aud": raw(new, base | {"aud": "grafana"}, key_id(new.public_key())),
        "no iat": raw(new, {k: v for k, v in base.items() if k != "iat"}, key_id(new.public_key())),
        "member, 31 days": eddsa(new, ttl=timedelta(days=31)),
        "admin, 13 h": eddsa(new, "ops", "admin", ttl=timedelta(hours=13)),
        "expired": eddsa(new, ttl=timedelta(hours=1), now=now - timedelta(hours=3)),
        "alg none": pyjwt.encode(base, None, algorithm="none"),
        "garbage": "not.a.token",
    }
    wrong = []
    for name, token in accepted.items():
        member = "m-tok" if "admin" not in name else "m-any"
        code = ingest.post("/v1/events", json=[event(member)], headers={"Authorization": f"Bearer {token}"}).status_code
        if code != 202:
            wrong.append((name, code))
    for name, token in refused.items():
        response = ingest.post("/v1/events", json=[event("m-tok")], headers={"Authorization": f"Bearer {token}"})
        if response.status_code != 401 or any(t in response.text for t in LIBRARY_TEXTS):
            wrong.append((name, response.status_code, response.text))
    fault_report.add("token rules", inputs_tried=len(accepted) + len(refused),
                     requests_refused_correctly=len(refused) - len([w for w in wrong if w[0] in refused]))
    assert wrong == []


@pytest.mark.parametrize("secret", [DEV_JWT_SECRET, "REPLACE-with-at-least-32-random-characters",
                                    "please-change-me-0123456789abcdef0123"])
def test_dev_and_placeholder_secrets_are_refused_outside_auth_dev(secret, fault_report):
    with pytest.raises(ValidationError, match="placeholder"):
        IngestSettings(jwt_secret=secret, auth_dev=False, jwt_jwks_file="/dev/null")
    IngestSettings(jwt_secret=secret, auth_dev=True)  # local development keeps working
    fault_report.add("token rules", inputs_tried=1, requests_refused_correctly=1)


def test_a_service_without_any_verification_key_does_not_start():
    with pytest.raises(ValidationError, match="no token verification key"):
        IngestSettings(jwt_secret="a-real-random-secret-0123456789abcdefgh", auth_dev=False)


def test_the_k8s_template_placeholder_is_refused():
    placeholders = [str(value) for document in yaml.safe_load_all(
        (REPO / "deploy/k8s/secrets/carecircle-secrets.template.yaml").read_text()) if document
        for value in (document.get("stringData") or {}).values() if "REPLACE" in str(value)]
    assert placeholders
    for value in placeholders:
        with pytest.raises(ValidationError):
            IngestSettings(jwt_secret=value.ljust(32, "x"), auth_dev=False, jwt_jwks_file="/dev/null")


def test_compose_requires_a_secret_and_never_falls_back_to_the_dev_one():
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    text = json.dumps(compose)
    assert DEV_JWT_SECRET not in text
    assert "${JWT_SECRET:?" in text


def test_make_run_key_pair_and_the_tokens_cli(tmp_path, broker):
    """`make run`'s key pair: the CLI signs with it, a service verifies with its JWKS."""
    import os
    import subprocess
    import sys

    private, public = write_key_pair(tmp_path / "keys")
    assert oct(private.stat().st_mode & 0o777) == "0o600"
    env = dict(os.environ, JWT_SIGNING_KEY_FILE=str(private))
    token = subprocess.run([sys.executable, "-m", "services.ingest.tokens", "--member", "m-cli"], env=env,
                           capture_output=True, text=True, check=True, cwd=REPO).stdout.strip()
    assert pyjwt.get_unverified_header(token)["alg"] == "EdDSA"
    too_long = subprocess.run([sys.executable, "-m", "services.ingest.tokens", "--nurse", "n", "--hours", "24"],
                              env=env, capture_output=True, text=True, cwd=REPO)
    assert too_long.returncode != 0
    settings = IngestSettings(kafka_bootstrap=broker, jwt_jwks_file=str(public), auth_dev=False, jwt_secret=None)
    with TestClient(create_app(settings)) as client:
        wait_ready(client)
        assert client.post("/v1/events", json=[event("m-cli")],
                           headers={"Authorization": f"Bearer {token}"}).status_code == 202


def test_production_manifests_never_set_auth_dev_and_verify_with_public_keys():
    from deploy.kustomize import render

    prod = render(REPO / "deploy" / "k8s" / "overlays" / "prod")
    env = {k: v for r in prod if r["kind"] == "ConfigMap" for k, v in (r.get("data") or {}).items()}
    assert "AUTH_DEV" not in env and env["JWT_JWKS_URL"].startswith("https://")
    assert "AUTH_DEV" not in json.dumps([r for r in prod if r["kind"] == "Deployment"])

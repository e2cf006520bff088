"""Kafka TLS + SCRAM-SHA-512: the client settings every service builds from KAFKA_* (services/common/kafka_security.py)
reach kafka-python, aiokafka and faust, and the manifests give each service its own KafkaUser whose ACLs
decide who may write the topics that matter."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

from deploy import kafka_users
from deploy.kustomize import render
from services.common import kafka, kafka_security
from services.common.kafka_security import KafkaSecurity, KafkaSecurityError

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "scram-password-never-logged"


@pytest.fixture(scope="module")
def ca_file(tmp_path_factory) -> str:
    folder = tmp_path_factory.mktemp("ca")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=test-ca",
                    "-keyout", str(folder / "ca.key"), "-out", str(folder / "ca.crt")], check=True, capture_output=True)
    return str(folder / "ca.crt")


@pytest.fixture
def production_env(monkeypatch, ca_file):
    for name, value in {"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
                        "KAFKA_SASL_USERNAME": "notifier", "KAFKA_SASL_PASSWORD": PASSWORD,
                        "KAFKA_SSL_CAFILE": ca_file}.items():
        monkeypatch.setenv(name, value)
    kafka_security.kafka_security.cache_clear()
    yield
    kafka_security.kafka_security.cache_clear()


def test_plaintext_by_default(monkeypatch):
    for name in ("KAFKA_SECURITY_PROTOCOL", "KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD", "KAFKA_SSL_CAFILE"):
        monkeypatch.delenv(name, raising=False)
    security = KafkaSecurity().checked()
    assert security.kafka_python() == {"security_protocol": "PLAINTEXT"}
    assert security.aiokafka() == {"security_protocol": "PLAINTEXT"}
    from services.common.stream import broker_credentials

    assert broker_credentials(security) == {}


def test_kafka_python_producer_gets_sasl_ssl(production_env, ca_file):
    config = kafka.producer_config("carecircle-kafka-bootstrap:9093")
    assert config["security_protocol"] == "SASL_SSL"
    assert config["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (config["sasl_plain_username"], config["sasl_plain_password"]) == ("notifier", PASSWORD)
    assert config["ssl_cafile"] == ca_file and config["ssl_check_hostname"] is True
    assert config["acks"] == "all"  # the security options add to the producer settings, never replace them


async def test_aiokafka_consumer_accepts_the_options(production_env):
    options = kafka_security.aiokafka_options()
    context = options["ssl_context"]
    assert context.verify_mode.name == "CERT_REQUIRED" and context.check_hostname
    assert context.minimum_version.name == "TLSv1_2"
    consumer = AIOKafkaConsumer(bootstrap_servers="carecircle-kafka-bootstrap:9093", **options)  # validates
    assert consumer._client._security_protocol == "SASL_SSL"
    assert consumer._client._sasl_mechanism == "SCRAM-SHA-512"


def test_faust_app_carries_the_credentials(production_env, tmp_path, monkeypatch):
    from services.common.settings import CommonSettings
    from services.common.stream import make_faust_app

    monkeypatch.setenv("JWT_SECRET", "x" * 40)
    settings = CommonSettings(kafka_bootstrap="carecircle-kafka-bootstrap:9093", faust_datadir=str(tmp_path))
    app = make_faust_app("carecircle-test-security", settings)
    auth = credentials_to_aiokafka_auth(app.conf.broker_credentials)
    assert auth["security_protocol"] == "SASL_SSL"
    assert auth["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (auth["sasl_plain_username"], auth["sasl_plain_password"]) == ("notifier", PASSWORD)
    assert auth["ssl_context"] is not None


@pytest.mark.parametrize(("env", "missing"), [
    ({"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_USERNAME": "x", "KAFKA_SSL_CAFILE": "/ca.crt"},
     "KAFKA_SASL_PASSWORD"),
    ({"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_USERNAME": "x", "KAFKA_SASL_PASSWORD": PASSWORD},
     "KAFKA_SSL_CAFILE"),
])
def test_incomplete_security_refused_without_echoing_the_secret(monkeypatch, env, missing):
    for name in ("KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD", "KAFKA_SSL_CAFILE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(KafkaSecurityError, match=missing) as refused:
        KafkaSecurity().checked()
    assert PASSWORD not in str(refused.value)


# --- manifests ------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def prod() -> list[dict]:
    return render(ROOT / "deploy" / "k8s" / "overlays" / "prod")


def test_only_the_owning_service_writes_the_topics_that_matter(prod):
    writers = kafka_users.writers(prod)
    assert writers["clock.ticks"] == {"clock"}
    assert writers["members"] == {"ingest"}
    assert writers["engagement.events"] == {"ingest"}
    assert writers["alerts"] == {"notifier"}
    assert writers["notifications.outbound"] == {"notifier", "survey", "dlq-tool"}  # dlq-tool: replays only
    # no wildcard or prefix write reaches a catalogue topic
    assert not [t for t in writers if t.endswith("*") and not t.startswith("carecircle-")]


def test_kafka_accepts_only_authenticated_tls_clients(prod):
    (cluster,) = [r for r in prod if r["kind"] == "Kafka"]
    listeners = cluster["spec"]["kafka"]["listeners"]
    assert all(listener["tls"] and listener["authentication"]["type"] == "scram-sha-512" for listener in listeners)
    assert cluster["spec"]["kafka"]["authorization"]["type"] == "simple"


def test_every_kafka_client_deployment_authenticates_as_its_own_user(prod):
    users = {r["metadata"]["name"] for r in prod if r["kind"] == "KafkaUser"}
    config = next(r for r in prod if r["kind"] == "ConfigMap" and r["metadata"]["name"] == "carecircle-config")
    assert config["data"]["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert config["data"]["KAFKA_BOOTSTRAP"].endswith(":9093")
    for deployment in (r for r in prod if r["kind"] == "Deployment" and r["metadata"]["name"] != "metrics"):
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        env = {e["name"]: e for e in container.get("env", [])}
        assert "KAFKA_SASL_USERNAME" in env, \
            f"{deployment['metadata']['name']}: give it a KafkaUser in deploy/k8s/base/kafka/client-auth.yaml"
        user = env["KAFKA_SASL_USERNAME"]["value"]
        assert user in users, deployment["metadata"]["name"]
        assert env["KAFKA_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": user, "key": "password"}

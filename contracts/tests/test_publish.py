"""The published contracts (contracts/openapi, contracts/asyncapi.yaml) are current, and the
compatibility check catches what would break an existing client or consumer."""

import copy

import pytest

from contracts import publish
from contracts.compat import breaking_changes


@pytest.fixture(scope="module")
def rendered():
    return publish.render()


def test_the_committed_documents_are_current_and_compatible(rendered):
    breaks, stale = publish.problems(rendered)
    assert breaks == [], "breaking change without a major version bump"
    assert stale == [], "run: python -m contracts.publish"


def test_every_topic_names_its_messages(rendered):
    document = rendered[publish.ASYNCAPI][0]
    for name, channel in document["channels"].items():
        assert channel["messages"], name
    assert list(document["channels"]["notifications.dlq"]["messages"]) == ["notification.dead_letter"]
    assert "notification.dead_letter" not in document["channels"]["notifications.outbound"]["messages"]


@pytest.fixture
def ingest(rendered):
    return rendered[publish.OPENAPI_DIR / "ingest.json"][0]


def changed(document, edit):
    new = copy.deepcopy(document)
    edit(new)
    return new


def test_an_unchanged_or_additive_document_is_compatible(ingest):
    assert breaking_changes(ingest, ingest) == []

    def add_optional_response_field(doc):
        doc["components"]["schemas"]["IngestResult"]["properties"]["note"] = {"type": "string"}

    assert breaking_changes(ingest, changed(ingest, add_optional_response_field)) == []


def test_a_removed_endpoint_breaks(ingest):
    new = changed(ingest, lambda doc: doc["paths"].pop("/v1/events"))
    assert breaking_changes(ingest, new) == ["POST /v1/events: endpoint removed"]


def test_a_removed_response_field_breaks(ingest):
    new = changed(ingest, lambda doc: doc["components"]["schemas"]["IngestResult"]["properties"].pop("rejected"))
    assert any("rejected: field removed" in b for b in breaking_changes(ingest, new))


def test_a_narrowed_request_type_or_enum_breaks(ingest):
    def narrow(doc):
        doc["components"]["schemas"]["PostPayload"]["properties"]["channel"]["enum"].remove("buddy")

    found = breaking_changes(ingest, changed(ingest, narrow))
    assert any("channel: enum values removed ['buddy']" in b for b in found), found

    def steps_as_string(doc):
        doc["components"]["schemas"]["CheckinPayload"]["properties"]["steps"] = {"type": "string"}

    found = breaking_changes(ingest, changed(ingest, steps_as_string))
    assert any("steps: type narrowed" in b for b in found), found


def test_a_new_required_request_field_breaks(ingest):
    def require_device(doc):
        login = doc["components"]["schemas"]["Login"]
        login["properties"]["device"] = {"type": "string"}
        login["required"].append("device")

    found = breaking_changes(ingest, changed(ingest, require_device))
    assert any("<Login>.device: new required field" in b for b in found), found


def test_a_major_version_bump_allows_the_break(ingest):
    def bump_and_remove(doc):
        doc["paths"].pop("/v1/events")
        doc["info"]["version"] = "2.0"

    assert breaking_changes(ingest, changed(ingest, bump_and_remove)) == []


def test_a_removed_message_field_breaks_consumers(rendered):
    document = rendered[publish.ASYNCAPI][0]

    def drop_alert_id(doc):
        doc["components"]["messages"]["alert.raised"]["payload"]["properties"].pop("alert_id")

    found = breaking_changes(document, changed(document, drop_alert_id))
    assert found == ["message alert.raised.alert_id: field removed"]
    assert breaking_changes(document, changed(document, lambda d: d["channels"].pop("alerts")))

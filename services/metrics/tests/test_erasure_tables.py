"""Every table the sink fills with a member id is re-keyed by an erasure (docs/erasure.md): a table
added later (survey invitations, alert steps) cannot be forgotten in erasure.ID_COLUMNS."""

from services.metrics.erasure import DERIVED_IDS, ID_COLUMNS
from services.metrics.schema import TABLE_SCHEMAS


def test_every_sunk_table_with_a_member_id_is_rekeyed():
    with_ids = {table for table, schema in TABLE_SCHEMAS.items() if "member_id" in schema.names}
    assert with_ids - set(ID_COLUMNS) == set()
    assert {"survey_invitations", "alert_events"} <= with_ids


# Columns whose ids the survey and the notifier derive from the member id (uuid5): re-keyed to stand-ins.
DERIVED_COLUMNS = {"invitation_id", "response_id", "alert_id"}


def test_every_id_derived_from_a_member_id_gets_a_stand_in():
    for table, schema in TABLE_SCHEMAS.items():
        derived = DERIVED_COLUMNS & set(schema.names)
        assert derived <= set(DERIVED_IDS.get(table, ())), f"{table}: {derived} not in erasure.DERIVED_IDS"

"""A 503 whose request ingest did take (the answer was lost on the way back): the client resends the
same batch, the topic holds both copies, and the metrics store counts each event once."""

import time

from carecircle_client import CareCircleClient
from services.metrics.tests.conftest import metrics_client

from .conftest import flush_all, landed_ids
from .live_ingest import Fault


def test_a_lost_answer_is_resent_and_counted_once_in_the_metrics(ingest, member, broker, jwt_secret, tmp_path):
    member_id, token = member
    ingest.gate.faults[0] = Fault(503, retry_after=1, after_ingest=True)
    client = CareCircleClient(ingest.url, token, flush_interval_s=None, sleep=lambda _: None)
    ids = [client.track_checkin("meal", steps=i) for i in range(20)]
    accepted, _ = flush_all(client)
    assert accepted == 20 and ingest.gate.bodies[0] == ingest.gate.bodies[1]
    assert sorted(landed_ids(broker, ids, 40)) == sorted(ids * 2)  # at least once on the log: twice here
    with metrics_client(broker, jwt_secret, tmp_path / "chdb") as metrics:
        deadline = time.monotonic() + 90
        while True:
            ch = getattr(metrics.app.state, "ch", None)
            rows = ch.query(f"SELECT count() AS n, uniqExact(event_id) AS ids FROM events FINAL "
                            f"WHERE member_id = '{member_id}'") if ch else [{"n": 0, "ids": 0}]
            if rows[0]["ids"] == 20:
                break
            assert time.monotonic() < deadline, f"metrics store has {rows}"
            time.sleep(0.3)
        assert rows[0]["n"] == 20  # once each

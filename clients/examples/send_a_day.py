"""Send one member's day of events with the Python client (docs/clients.md).

    PYTHONPATH=clients/python python clients/examples/send_a_day.py http://127.0.0.1:8001 "$MEMBER_TOKEN"

The token is the member's own (no enrolment call here: the member must be enrolled already). Events
keep the time they happened at, even when they are sent later; the queue file keeps them across runs.
"""

import sys
from datetime import datetime, timedelta, timezone

from carecircle_client import CareCircleClient


def main(base_url: str, token: str, queue_path: str = "carecircle-queue.sqlite") -> int:
    morning = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=3)
    with CareCircleClient(base_url, token, queue_path=queue_path, flush_interval_s=None,
                          on_rejected=lambda r: print("rejected:", r.event["type"], r.errors)) as client:
        client.track_login(occurred_at=morning)
        client.track_checkin("meal", occurred_at=morning + timedelta(minutes=20))
        client.track_meditation_play("body-scan-10", seconds=600, completed=True,
                                     occurred_at=morning + timedelta(hours=1))
        client.track_post("community", topic="fatigue", occurred_at=morning + timedelta(hours=2))
        client.track_checkin("exercise", steps=4200, occurred_at=morning + timedelta(hours=2, minutes=30))
        result = client.flush()
        print(f"accepted {result.accepted}, rejected {len(result.rejected)}, still queued {result.pending}")
        return 0 if not result.rejected else 1


if __name__ == "__main__":
    raise SystemExit(main(*sys.argv[1:]))

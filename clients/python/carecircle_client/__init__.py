"""CareCircle app client (docs/clients.md): track events with fixed ids and times, send them in
batches of at most 500 from an on-disk queue, retry whole batches with the same ids, read today."""

from .client import CareCircleClient, ClientError, FlushResult, Rejection
from .queue import EventQueue

__all__ = ["CareCircleClient", "ClientError", "EventQueue", "FlushResult", "Rejection"]

"""Building blocks shared by every contract: strict base model, identifiers, bounded timestamps."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Annotated
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

# Clients' clocks drift; more than this ahead of the server is a client bug, not a late event.
MAX_CLOCK_SKEW = timedelta(minutes=10)
# Nothing on this platform happened before it existed; earlier dates are corrupt clocks.
EARLIEST_TIMESTAMP = datetime(2000, 1, 1, tzinfo=timezone.utc)

MemberId = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"),
    Field(description="Opaque member identifier (1-64 chars: letters, digits, . _ -)", examples=["m-0042"]),
]
CohortId = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"),
    Field(description="Cohort identifier", examples=["breast-2026-a"]),
]
ShortName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=64, strip_whitespace=False)]
EventId = Annotated[
    UUID, Field(description="Client-generated UUID; duplicates are delivered at most once into numbers")
]
Timestamp = Annotated[AwareDatetime, Field(description="RFC 3339 timestamp with a UTC offset")]


class StrictModel(BaseModel):
    """Unknown fields are rejected and models are immutable: a contract is not a suggestion."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=False)


def check_plausible_time(value: datetime, reference: datetime | None = None) -> datetime:
    """Reject timestamps before 2000 or more than MAX_CLOCK_SKEW after `reference` (default: now)."""
    if value < EARLIEST_TIMESTAMP:
        raise ValueError("timestamp is before 2000-01-01")
    reference = reference or datetime.now(timezone.utc)
    if value > reference + MAX_CLOCK_SKEW:
        raise ValueError("timestamp is more than 10 minutes in the future")
    return value

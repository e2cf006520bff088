"""The bounds of the waiting room (`services/common/waiting.py`), read from the environment.

Both services that hold events until their member's enrolment (the notifier and the metrics stream)
mix this class into their settings, so each WAITING_* variable is declared, validated and documented
once and means the same in both (docs/security.md, "Memory bounds").
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from .waiting import DEFAULT_PER_MEMBER, DEFAULT_TOTAL, DEFAULT_WINDOW, RoomBudget, WaitingRoom


class WaitingSettings(BaseSettings):
    """Events kept for members not enrolled yet (a mixin of the notifier's and the metrics service's settings)."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore", frozen=True, populate_by_name=True)

    waiting_per_member: int = Field(default=DEFAULT_PER_MEMBER, ge=1, validation_alias="WAITING_PER_MEMBER",
                                    description="Most events kept for one member not enrolled yet (waiting for "
                                                "the enrolment); more are dropped and counted")
    waiting_total: int = Field(default=DEFAULT_TOTAL, ge=1, validation_alias="WAITING_TOTAL",
                               description="Most events kept in all for members not enrolled yet")
    waiting_window_days: float = Field(default=DEFAULT_WINDOW.days, gt=0, validation_alias="WAITING_WINDOW_DAYS",
                                       description="Days before the latest tick after which an event still "
                                                   "waiting for its enrolment is forgotten (accepted lateness)")

    def waiting_room(self, budget: RoomBudget | None = None) -> WaitingRoom:
        """An empty room with these bounds (its `total` shared with other rooms when given a `budget`)."""
        return WaitingRoom(self.waiting_per_member, self.waiting_total, timedelta(days=self.waiting_window_days),
                           budget=budget)

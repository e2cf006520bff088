"""The dedup window (`services/common/dedup.py`), read from the environment.

Every service that remembers keys or event ids to drop re-deliveries (the notifier, the survey
service, the metrics stream) mixes this class into its settings, so DEDUP_WINDOW_DAYS is declared,
validated and documented once and means the same everywhere (docs/scale.md, "Windowed dedup").
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from .dedup import DEFAULT_WINDOW, MIN_WINDOW


class DedupSettings(BaseSettings):
    """How long a dedup key or event id is remembered (a mixin of the stream services' settings)."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore", frozen=True, populate_by_name=True)

    dedup_window_days: float = Field(
        default=DEFAULT_WINDOW.days, ge=MIN_WINDOW.days, validation_alias="DEDUP_WINDOW_DAYS",
        description="Days a dedup key or event id is remembered after the instant it concerns: the accepted "
                    "lateness (30) plus a margin; nothing older can arrive again")

    @property
    def dedup_window(self) -> timedelta:
        return timedelta(days=self.dedup_window_days)

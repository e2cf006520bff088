from __future__ import annotations

from datetime import time
from functools import lru_cache
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from contracts.surveys import SurveyPlan
from services.common.dedup_settings import DedupSettings
from services.common.settings import CommonSettings


class SurveySettings(CommonSettings, DedupSettings):
    model_config = SettingsConfigDict(populate_by_name=True)  # merged with CommonSettings' config

    # Prefixed: process runners (honcho) set a generic PORT for every process.
    host: str = Field(default="127.0.0.1", validation_alias="SURVEY_HOST", description="Listen address")
    port: int = Field(default=8004, validation_alias="SURVEY_PORT", description="Listen port")
    # The questionnaire plan (one plan per deployment; docs/services/survey.md#schedule).
    qlq_c30_days: dict[Literal["T0", "T1", "T2"], int] = Field(default={"T0": 1, "T1": 14, "T2": 28},
                                                               validation_alias="SURVEY_QLQ_C30_DAYS",
                                                               description="Follow-up day of each QLQ-C30 timepoint")
    experience_day: int = Field(default=29, ge=1, validation_alias="SURVEY_EXPERIENCE_DAY",
                                description="Follow-up day of the experience survey")
    invite_time: time = Field(default=time(9, 0), validation_alias="SURVEY_INVITE_TIME",
                             description="Member-local time of invitations, reminders and expiry")
    reminder_after_days: tuple[int, ...] = Field(default=(1, 3), validation_alias="SURVEY_REMINDER_AFTER_DAYS",
                                                 description="Days after the invitation a reminder is sent")
    expire_after_days: int = Field(default=7, ge=1, validation_alias="SURVEY_EXPIRE_AFTER_DAYS",
                                   description="Days after the invitation it expires")
    # Stream processing
    group_id: str = Field(default="carecircle-survey", validation_alias="SURVEY_GROUP_ID",
                          description="faust app id = consumer group of the schedule agents")
    delivery_timeout_ms: int = Field(default=5_000, ge=500, description="Broker acknowledgement deadline")
    rebuild_idle_s: float = Field(
        default=0.5,
        gt=0,
        validation_alias="SURVEY_REBUILD_IDLE_S",
        description="Quiet time after the reported end offsets before the book counts as rebuilt",
    )
    max_body_bytes: int = Field(default=64 * 1024, validation_alias="SURVEY_MAX_BODY_BYTES",
                                description="Larger requests get 413")

    @model_validator(mode="after")
    def _valid_plan(self) -> "SurveySettings":
        self.plan()  # refuse to start with a plan the rules cannot follow
        return self

    def plan(self) -> SurveyPlan:
        return SurveyPlan(qlq_c30_days=self.qlq_c30_days, experience_day=self.experience_day,
                          invite_time=self.invite_time, reminder_after_days=self.reminder_after_days,
                          expire_after_days=self.expire_after_days)


@lru_cache
def get_settings() -> SurveySettings:
    return SurveySettings()

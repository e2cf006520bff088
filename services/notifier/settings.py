from __future__ import annotations

from functools import lru_cache

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import SettingsConfigDict

from services.common.dedup_settings import DedupSettings
from services.common.settings import CommonSettings
from services.common.waiting_settings import WaitingSettings


class NotifierSettings(CommonSettings, WaitingSettings, DedupSettings):
    model_config = SettingsConfigDict(populate_by_name=True)

    # Prefixed: process runners (honcho) set a generic PORT for every process.
    host: str = Field(default="127.0.0.1", validation_alias="NOTIFIER_HOST", description="Listen address")
    port: int = Field(default=8003, validation_alias="NOTIFIER_PORT", description="Listen port")
    group_id: str = Field(default="carecircle-notifier", validation_alias="NOTIFIER_GROUP_ID",
                          description="faust app id (consumer group) of the rule and delivery agents")
    rebuild_idle_s: float = Field(
        default=0.5,
        gt=0,
        validation_alias="NOTIFIER_REBUILD_IDLE_S",
        description="Quiet time after the reported end offsets before state counts as rebuilt",
    )
    commit_interval_s: float = Field(
        default=2.8,
        gt=0,
        validation_alias="NOTIFIER_COMMIT_INTERVAL_S",
        description="How often faust commits consumed offsets (tests raise it to force re-processing)",
    )
    delivery_timeout_ms: int = Field(default=5_000, ge=500, description="Broker acknowledgement deadline")
    # rules
    reminder_grace_minutes: int = Field(default=120, ge=1, le=720, validation_alias="NOTIFIER_REMINDER_GRACE_MINUTES",
                                        description="A reminder slot passed longer ago than this is skipped "
                                                    "(recorded as notification.skipped), never sent late")
    escalate_after_hours: float = Field(default=24, gt=0, validation_alias="NOTIFIER_ESCALATE_AFTER_HOURS",
                                        description="Hours an alert may stay unacknowledged before it escalates")
    # delivery channels
    push_gateway_url: str | None = Field(default=None, validation_alias=AliasChoices(
        "NOTIFIER_PUSH_GATEWAY_URL", "NOTIFIER_PUSH_URL"), description="Member push gateway webhook (HTTP POST)")
    push_gateway_token: SecretStr | None = Field(default=None, validation_alias="NOTIFIER_PUSH_GATEWAY_TOKEN",
                                                 description="Bearer token sent to the push gateway")
    nurse_webhook_url: str | None = Field(default=None, validation_alias="NOTIFIER_NURSE_WEBHOOK_URL",
                                          description="Staff webhook (e.g. the nurses' team chat) for alerts")
    smtp_host: str | None = Field(default=None, validation_alias="NOTIFIER_SMTP_HOST",
                                  description="SMTP server for staff e-mail; unset = e-mails go to the DLQ")
    smtp_port: int = Field(default=25, validation_alias="NOTIFIER_SMTP_PORT", description="SMTP port")
    smtp_starttls: bool = Field(default=False, validation_alias="NOTIFIER_SMTP_STARTTLS",
                                description="Upgrade the SMTP connection with STARTTLS")
    smtp_user: str | None = Field(default=None, validation_alias="NOTIFIER_SMTP_USER",
                                  description="SMTP login (none = no authentication)")
    smtp_password: SecretStr | None = Field(default=None, validation_alias="NOTIFIER_SMTP_PASSWORD",
                                            description="SMTP password")
    smtp_from: str = Field(default="CareCircle <no-reply@carecircle.local>", validation_alias="NOTIFIER_SMTP_FROM",
                           description="From header of staff e-mail")
    staff_emails: dict[str, str] = Field(default={}, validation_alias="NOTIFIER_STAFF_EMAILS",
                                         description='JSON {"staff id": "address"}; others get <id>@<domain>')
    staff_email_domain: str = Field(default="carecircle.local", validation_alias="NOTIFIER_STAFF_EMAIL_DOMAIN",
                                    description="Domain of staff addresses not in NOTIFIER_STAFF_EMAILS")
    retry_attempts: int = Field(default=6, ge=1, le=20, validation_alias="NOTIFIER_RETRY_ATTEMPTS",
                                description="Delivery tries before a notification is dead-lettered")
    retry_initial_s: float = Field(default=0.5, gt=0, validation_alias="NOTIFIER_RETRY_INITIAL_S",
                                   description="First back-off of a delivery retry (exponential, full jitter)")
    retry_max_s: float = Field(default=30.0, gt=0, validation_alias="NOTIFIER_RETRY_MAX_S",
                               description="Longest back-off between delivery retries")
    send_timeout_s: float = Field(default=5.0, gt=0, validation_alias="NOTIFIER_SEND_TIMEOUT_S",
                                  description="Deadline of one push, webhook or SMTP send")

    def staff_email(self, staff_id: str) -> str:
        return self.staff_emails.get(staff_id) or f"{staff_id}@{self.staff_email_domain}"


@lru_cache
def get_settings() -> NotifierSettings:
    return NotifierSettings()

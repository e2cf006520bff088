"""Response body of `GET /v1/members/me/today` (notifier): a member's own day, for the app."""

from __future__ import annotations

from pydantic import BaseModel, Field


class TaskToday(BaseModel):
    task: str
    done: bool = Field(description="A check-in of this task on the member's local day was recorded")


class ReminderToday(BaseModel):
    at: str = Field(description="Local wall-clock time HH:MM of the reminder slot")
    passed: bool = Field(description="The slot time has passed (per the platform clock)")
    sent: bool = Field(description="A reminder was issued for this slot (none is when every task was done)")


class MemberDay(BaseModel):
    member_id: str
    day: str = Field(description="The member's local date (ISO 8601)")
    timezone: str
    in_follow_up: bool
    logged_in: bool
    tasks: list[TaskToday] = Field(description="Tasks in force on this day, in the cohort's order")
    reminders: list[ReminderToday]

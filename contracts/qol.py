"""Response of `GET /v1/cohorts/{cohort}/qol` (metrics service): QLQ-C30 change T0 → T2, active vs
inactive members (the study's Tables 4 and 5). Computed by `services.metrics.qol_analysis.qol_change`."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class GroupChange(BaseModel):
    n: int
    mean: float | None
    sd: float | None


class TTest(BaseModel):
    t: float
    df: int
    p: float


class PairedChange(BaseModel):
    difference: Literal["T2 - T0"] = Field(
        default="T2 - T0", description="The paired t is computed on T2 − T0 (a fall gives a negative t); "
                                       "the study's Table 5 reports T0 − T2, the opposite sign")
    n: int
    t0_mean: float | None
    t0_sd: float | None
    t2_mean: float | None
    t2_sd: float | None
    test: TTest | None


class ScaleComparison(BaseModel):
    scale: str
    active: GroupChange
    inactive: GroupChange
    active_vs_inactive: TTest | None = Field(description="Student t-test (equal variances) on the changes")
    active_t0_vs_t2: PairedChange = Field(description="Paired t-test T2 vs T0 of active members")

"""Settings of the scheduler: which jobs run when, in which time zone, and how one process
among several becomes the leader that runs them.

Kazakhstan keeps one time zone, UTC+5 (Asia/Almaty), without daylight saving; the daily
official close is read in it. Each job can be switched off (TOML has no null, so a flag).
"""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, field_validator

from sequestra.timezones import zone as bundled_zone

DAILY_AT_PATTERN = r"^([01]\d|2[0-3]):[0-5]\d$"


class SchedulerSettings(BaseModel):
    """The `[scheduler]` table: jobs, their times, misfires, leadership and shutdown."""

    timezone: str = Field(default="Asia/Almaty", min_length=1, max_length=64)
    # Watch the custody addresses every `watch_interval_s` seconds.
    watch_enabled: bool = True
    watch_interval_s: int = Field(default=60, ge=5, le=86_400)
    # Revalue every holding at the top of each hour.
    revalue_hourly: bool = True
    # Revalue at the daily official close, local time HH:MM in `timezone`.
    revalue_daily: bool = True
    revalue_daily_at: str = Field(default="18:00", pattern=DAILY_AT_PATTERN)
    # Sign a checkpoint of the ledger (and push it to the witnesses) this often.
    checkpoint_enabled: bool = True
    checkpoint_interval_s: int = Field(default=3600, ge=10, le=7 * 86_400)
    # Verify the whole ledger (and its read models) every day at this local time HH:MM.
    verify_enabled: bool = True
    verify_daily_at: str = Field(default="02:30", pattern=DAILY_AT_PATTERN)
    # A run more than this late (the process was down, or busy) is skipped, not run late.
    misfire_grace_s: int = Field(default=300, ge=1, le=86_400)
    # SQLite only: the file the leader holds an exclusive lock on (default: beside the
    # database, `<database>.scheduler.lock`). PostgreSQL uses an advisory lock instead.
    lock_file: Path | None = None
    # How often a process that is not the leader tries again to become it.
    leader_retry_s: float = Field(default=5.0, gt=0, le=300)
    # How often the leader checks that it still holds its lock.
    heartbeat_s: float = Field(default=5.0, gt=0, le=60)
    # How long a stopping leader waits for running jobs before it gives up on them.
    shutdown_timeout_s: float = Field(default=60.0, gt=0, le=3600)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            bundled_zone(value)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(
                f"expected an IANA time zone such as Asia/Almaty, got {value!r}"
            ) from error
        return value

    def zone(self) -> ZoneInfo:
        return bundled_zone(self.timezone)

    def verify_time(self) -> tuple[int, int]:
        """The daily verification's time as (hour, minute), local time."""
        hour, minute = self.verify_daily_at.split(":")
        return int(hour), int(minute)

    def daily_close(self) -> tuple[int, int]:
        """The daily close as (hour, minute), local time."""
        hour, minute = self.revalue_daily_at.split(":")
        return int(hour), int(minute)

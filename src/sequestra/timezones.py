"""Time zones from the IANA database bundled with Sequestra (the `tzdata` package), never the
host's: a host whose zone data predates 1 March 2024 still puts Almaty at UTC+6, and every
Almaty date (the FX date, the daily close, the scheduler's hours) would be an hour off.

`zone` empties the process's zone search path once (`zoneinfo.reset_tzpath`), so that every
`ZoneInfo` in the process, ours and the scheduler's when it unpickles a trigger, reads the
bundled database; a `ZoneInfo` made by key stays picklable.
"""

from __future__ import annotations

import threading
import zoneinfo
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

ALMATY_NAME: Final = "Asia/Almaty"
_lock = threading.Lock()


def use_bundled_zones() -> None:
    """Read zones from the tzdata package only, from now on, in this process."""
    with _lock:
        if zoneinfo.TZPATH:
            zoneinfo.reset_tzpath(to=())
            ZoneInfo.clear_cache()


def zone(name: str) -> ZoneInfo:
    """The zone `name` from the bundled database; raises ZoneInfoNotFoundError for a name
    it does not hold (or one that is not a plain zone key)."""
    use_bundled_zones()
    try:
        return ZoneInfo(name)
    except ValueError as error:  # not a key: a path outside the database
        raise ZoneInfoNotFoundError(f"No time zone found with key {name}") from error


def almaty() -> ZoneInfo:
    """Kazakhstan's one time zone (UTC+5 since 1 March 2024), from the bundled database."""
    return zone(ALMATY_NAME)

"""How old a kept in-use inventory may be: the longest gap of the sweep's NCRONTAB schedule."""

from __future__ import annotations

import pytest

from lifecycle.settings import Settings, SettingsError, sweep_interval


@pytest.mark.parametrize(
    ("schedule", "seconds"),
    [
        (None, 900),
        ("0 */15 * * * *", 900),
        ("0 */5 * * * *", 300),
        ("0 0 4 * * *", 86400),
        ("0 0 9-17 * * 1-5", 3 * 86400 - 8 * 3600),  # Friday 17:00 to Monday 09:00
    ],
    ids=["default", "every-15-minutes", "every-5-minutes", "daily", "office-hours"],
)
def test_the_longest_gap_between_sweeps(schedule: str | None, seconds: int) -> None:
    assert sweep_interval(schedule) == seconds


def test_a_bad_schedule_is_refused_by_name() -> None:
    with pytest.raises(SettingsError, match="LIFECYCLE_SWEEP_SCHEDULE"):
        Settings.from_env({"LIFECYCLE_CONFIG_URL": "policy.yaml", "LIFECYCLE_SWEEP_SCHEDULE": "*/15 * * * *"})

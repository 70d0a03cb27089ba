"""Which snapshots retention keeps: borg prune's rules, as a pure function."""

import calendar
import time

from fmirror.snapshots import due, keep

HOUR, DAY = 3600, 86400


def t(stamp: str) -> float:
    """'2025-03-10 14:30' (UTC) as wall-clock seconds."""
    return float(calendar.timegm(time.strptime(stamp, "%Y-%m-%d %H:%M")))


def test_hourly_keeps_the_newest_snapshot_of_each_of_the_last_n_hours():
    times = [t("2025-03-10 10:05"), t("2025-03-10 10:35"), t("2025-03-10 11:05"), t("2025-03-10 11:50"),
             t("2025-03-10 12:20")]
    kept = keep(times, hourly=2, daily=0, weekly=0)
    assert kept == {t("2025-03-10 12:20"): "hourly 1", t("2025-03-10 11:50"): "hourly 2"}


def test_a_rule_short_of_n_periods_also_keeps_the_oldest():
    times = [t("2025-03-10 10:05"), t("2025-03-10 10:35"), t("2025-03-10 11:05")]
    kept = keep(times, hourly=5, daily=0, weekly=0)
    assert set(kept) == set([t("2025-03-10 11:05"), t("2025-03-10 10:35"), t("2025-03-10 10:05")])
    assert kept[t("2025-03-10 10:05")] == "hourly (oldest)"


def test_a_snapshot_kept_by_an_earlier_rule_does_not_count_for_the_next():
    # Hourly keeps the two newest; daily must then reach back for days of its own.
    times = [t("2025-03-08 09:00"), t("2025-03-09 09:00"), t("2025-03-10 09:00"), t("2025-03-10 10:00")]
    kept = keep(times, hourly=2, daily=2, weekly=0)
    assert kept == {t("2025-03-10 10:00"): "hourly 1", t("2025-03-10 09:00"): "hourly 2",
                    t("2025-03-09 09:00"): "daily 1", t("2025-03-08 09:00"): "daily 2"}


def test_daily_and_weekly_over_six_weeks_of_hourly_snapshots():
    start = t("2025-01-06 00:00")              # a Monday
    times = [start + i * HOUR for i in range(24 * 42)]
    kept = keep(times, hourly=24, daily=7, weekly=4)
    newest = times[-1]
    hourly = sorted(x for x, why in kept.items() if why.startswith("hourly"))
    daily = sorted(x for x, why in kept.items() if why.startswith("daily"))
    weekly = sorted(x for x, why in kept.items() if why.startswith("weekly"))
    assert hourly == times[-24:]
    # The last hour of each of the 7 days before the hourly ones (the newest day is all hourly).
    assert daily == [newest - d * DAY for d in range(7, 0, -1)]
    assert len(weekly) == 4 and all(x < min(daily) for x in weekly)
    assert len(kept) == 24 + 7 + 4


def test_keep_nothing_when_every_rule_is_zero():
    assert keep([t("2025-03-10 10:05")], 0, 0, 0) == {}


def test_schedule_is_due_once_per_utc_hour_or_day():
    assert due("hourly", None, t("2025-03-10 10:05"))
    assert not due("hourly", t("2025-03-10 10:01"), t("2025-03-10 10:59"))
    assert due("hourly", t("2025-03-10 10:59"), t("2025-03-10 11:00"))
    assert not due("daily", t("2025-03-10 00:01"), t("2025-03-10 23:59"))
    assert due("daily", t("2025-03-09 23:59"), t("2025-03-10 00:00"))
    assert not due("off", None, t("2025-03-10 10:05"))

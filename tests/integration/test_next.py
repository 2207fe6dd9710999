"""udfcronctl next: the offline fire-time preview, through the real binary."""
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest


def test_prints_count_fire_times_as_iso8601_with_offset(ctl):
    r = ctl("next", "--tz", "UTC", "-n", "3", "--from", "2024-01-01T00:00:00Z", "0 12 * * *")
    assert r.status == 0, r.err
    assert r.lines == [
        "2024-01-01T12:00:00+00:00",
        "2024-01-02T12:00:00+00:00",
        "2024-01-03T12:00:00+00:00",
    ]
    assert r.err == ""


def test_defaults_to_five_fires_after_now(ctl):
    before = datetime.now(timezone.utc)
    r = ctl("next", "--tz", "UTC", "* * * * *")
    assert r.status == 0, r.err
    assert len(r.lines) == 5
    fires = [datetime.fromisoformat(line) for line in r.lines]
    assert fires[0] > before.replace(microsecond=0)
    assert all(b - a == (fires[1] - fires[0]) for a, b in zip(fires, fires[1:]))


def test_start_is_exclusive_and_accepts_offsets(ctl):
    r = ctl("next", "--tz", "Europe/Berlin", "-n", "1", "--from", "2024-06-01T12:00:00+02:00", "0 12 * * *")
    assert r.lines == ["2024-06-02T12:00:00+02:00"]


def test_expression_may_be_given_as_separate_words(ctl):
    r = ctl("next", "--tz", "UTC", "-n", "1", "--from", "@0", "0", "6", "*", "*", "*")
    assert r.status == 0, r.err
    assert r.lines == ["1970-01-01T06:00:00+00:00"]


def test_dst_gap_moves_fixed_time_to_the_end_of_the_gap_with_a_note(ctl):
    r = ctl("next", "--tz", "America/New_York", "-n", "2", "--from", "2024-03-09T12:00:00Z", "30 2 * * *")
    assert r.status == 0, r.err
    assert r.lines[0].startswith("2024-03-10T03:00:00-04:00 ")
    assert "02:30:00" in r.lines[0] and "DST" in r.lines[0]
    assert r.lines[1] == "2024-03-11T02:30:00-04:00"


def test_dst_skip_policy_drops_the_nonexistent_time(ctl):
    r = ctl("next", "--tz", "America/New_York", "--dst", "skip", "-n", "2",
            "--from", "2024-03-09T12:00:00Z", "30 2 * * *")
    assert r.lines == ["2024-03-11T02:30:00-04:00", "2024-03-12T02:30:00-04:00"]


def test_dst_overlap_fixed_time_fires_once_wildcard_fires_on_both_passes(ctl):
    fixed = ctl("next", "--tz", "America/New_York", "-n", "2", "--from", "2024-11-03T04:00:00Z", "30 1 * * *")
    assert fixed.lines == ["2024-11-03T01:30:00-04:00", "2024-11-04T01:30:00-05:00"]

    wild = ctl("next", "--tz", "America/New_York", "-n", "3", "--from", "2024-11-03T05:00:00Z", "30 * * * *")
    assert wild.lines[0] == "2024-11-03T01:30:00-04:00"
    assert wild.lines[1].startswith("2024-11-03T01:30:00-05:00 ") and "again" in wild.lines[1]
    assert wild.lines[2] == "2024-11-03T02:30:00-05:00"


@pytest.mark.parametrize("zone, expected", [
    ("Asia/Kolkata", "2024-01-01T00:00:00+05:30"),
    ("Australia/Lord_Howe", "2024-01-01T00:00:00+11:00"),
    ("America/Sao_Paulo", "2024-01-01T00:00:00-03:00"),
])
def test_offsets_are_printed_with_minutes(ctl, zone, expected):
    r = ctl("next", "--tz", zone, "-n", "1", "--from", "2023-12-31T00:00:00Z", "0 0 1 1 *")
    assert r.lines == [expected]


@pytest.mark.parametrize("args, message", [
    (["61 * * * *"], "minute field: 61 is out of range 0-59 at column 1"),
    (["0 0 30 2 *"], "can never fire"),
    (["* * * *"], "expected 5, 6 or 7 fields, got 4"),
    (["--tz", "Mars/Olympus", "* * * * *"], "unknown time zone 'Mars/Olympus'"),
    (["--tz", "../../etc/passwd", "* * * * *"], "invalid time zone name '../../etc/passwd'"),
    (["--from", "yesterday", "* * * * *"], "--from"),
    (["-n", "0", "* * * * *"], "--count"),
    (["--dst", "sometimes", "* * * * *"], "--dst"),
    ([], "missing EXPRESSION"),
])
def test_invalid_input_is_exit_2_with_the_error_on_stderr_and_nothing_on_stdout(ctl, args, message):
    r = ctl("next", *args)
    assert r.status == 2
    assert r.out == ""
    assert message in r.err


def test_parse_error_points_at_the_column(ctl):
    r = ctl("next", "0 0 * * MON#6")
    assert r.err.splitlines()[1:] == ["  0 0 * * MON#6", "              ^"]


def test_check_only_validates(ctl):
    ok = ctl("next", "--check", "--tz", "Europe/Berlin", "0 0 L * ?")
    assert (ok.status, ok.out, ok.err) == (0, "", "")
    bad = ctl("next", "--check", "0 0 L * 5#9")
    assert bad.status == 2 and bad.out == "" and "day-of-week field" in bad.err


def test_a_year_field_that_runs_out(ctl):
    some = ctl("next", "--tz", "UTC", "-n", "3", "--from", "2029-06-01T00:00:00Z", "0 0 0 1 1 ? 2030")
    assert some.status == 0
    assert some.lines == ["2030-01-01T00:00:00+00:00"]
    assert "no further fire times" in some.err

    none = ctl("next", "--tz", "UTC", "--from", "2031-01-01T00:00:00Z", "0 0 0 1 1 ? 2030")
    assert none.status == 1 and none.out == ""


def test_help_version_and_unknown_commands(ctl):
    assert ctl("--help").status == 0
    assert "Usage: udfcronctl next" in ctl("next", "--help").out
    assert ctl("--version").out.startswith("udfcronctl ")
    assert ctl().status == 2
    unknown = ctl("frobnicate")
    assert unknown.status == 2 and "unknown command 'frobnicate'" in unknown.err


# croniter (Debian's python3-croniter) as an independent oracle, on zones and
# days where both tools' DST rules cannot differ: no transition in the window.
CRONITER_CASES = [
    ("*/7 3-5 * * *", "UTC"),
    ("0 9-17/2 * * MON-FRI", "Europe/Berlin"),
    ("15,45 */3 1-10 * *", "Asia/Kolkata"),
    ("0 0 29 2 *", "UTC"),
    ("0 12 1 * MON", "America/New_York"),
    ("0 6 */10 MAY-AUG *", "Australia/Sydney"),
]


@pytest.mark.parametrize("expr, zone", CRONITER_CASES)
def test_agrees_with_croniter_away_from_dst_changes(ctl, expr, zone):
    croniter = pytest.importorskip("croniter").croniter
    start = datetime(2025, 5, 1, tzinfo=ZoneInfo(zone))  # May-September: no DST change in these zones
    it = croniter(expr, start)
    expected = []
    while len(expected) < 40:
        fire = it.get_next(datetime)
        if fire.month > 9 and expr != "0 0 29 2 *":
            break
        expected.append(fire.isoformat())

    r = ctl("next", "--tz", zone, "-n", str(len(expected)), "--from", start.isoformat(), expr)
    assert r.status == 0, r.err
    assert r.lines == expected

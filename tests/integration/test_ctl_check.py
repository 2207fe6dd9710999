"""udfcronctl check: the offline configuration check, through the real binary."""
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_examples_are_valid(ctl):
    r = ctl("check", "--config", str(ROOT / "etc" / "udfcrond.conf"))
    assert r.status == 0, r.err
    assert "configuration OK, 7 schedules in 2 files" in r.out
    assert r.err == ""


def test_every_error_is_reported_with_file_and_line(ctl, tmp_path):
    (tmp_path / "schedules.d").mkdir()
    (tmp_path / "udfcrond.conf").write_text('timezone = "UTC";\n')
    (tmp_path / "schedules.d" / "a.conf").write_text(
        'schedules = (\n'
        '  { name = "a"; cron = "61 * * * *"; command = [ "/bin/true" ]; },\n'
        '  { name = "b"; cron = "* * * * *"; command = [ "/bin/true" ]; timout = "1s"; }\n'
        ');\n')
    r = ctl("check", "--config", str(tmp_path / "udfcrond.conf"))
    assert r.status == 1
    assert r.out == ""
    lines = r.err.splitlines()
    assert any(line.startswith(f"{tmp_path}/schedules.d/a.conf:2: ") and "minute field: 61 is out of range 0-59"
               in line for line in lines), r.err
    assert any(line.startswith(f"{tmp_path}/schedules.d/a.conf:3: ") and "did you mean 'timeout'?" in line
               for line in lines), r.err
    assert lines[-1].endswith(": 2 errors")


def test_usage(ctl, tmp_path):
    assert ctl("check", "--bogus").status == 2
    assert ctl("check", "extra").status == 2
    missing = ctl("check", "--config", str(tmp_path / "nope.conf"))
    assert missing.status == 1 and "cannot load" in missing.err

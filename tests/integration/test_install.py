"""
make install into a DESTDIR, and make uninstall: the tree, its modes, the man pages, the unit (verified
and scored by systemd-analyze offline), sysusers and tmpfiles applied to a scratch root, configuration
that is never overwritten, and the bash completion.
"""
import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from conftest import BUILD

ROOT = Path(__file__).resolve().parents[2]
EXPOSURE_GOAL = 2.0

FILES = {  # path under DESTDIR (PREFIX=/usr): mode
    "usr/bin/udfcronctl": 0o755,
    "usr/sbin/udfcrond": 0o755,
    "usr/lib/systemd/system/udfcrond.service": 0o644,
    "usr/lib/sysusers.d/udfcron.conf": 0o644,
    "usr/lib/tmpfiles.d/udfcron.conf": 0o644,
    "usr/share/man/man8/udfcrond.8": 0o644,
    "usr/share/man/man1/udfcronctl.1": 0o644,
    "usr/share/man/man5/udfcron.conf.5": 0o644,
    "usr/share/bash-completion/completions/udfcronctl": 0o644,
    "usr/share/doc/udfcron/README.md": 0o644,
    "usr/share/doc/udfcron/examples/schedules.d/examples.conf": 0o644,
    "usr/share/doc/udfcron/examples/udfs/hello.py": 0o644,
    "usr/share/doc/udfcron/examples/udfs/points.py": 0o644,
    "etc/udfcron/udfcrond.conf": 0o644,
    "usr/lib/udfcron/plugins/credentials-gcs.so": 0o644,
    "usr/lib/udfcron/plugins/ingest-rows.so": 0o644,
    "usr/lib/udfcron/plugins/secrets-env.so": 0o644,
    "usr/lib/udfcron/plugins/secrets-file.so": 0o644,
    "usr/lib/udfcron/plugins/secrets-fused.so": 0o644,
    "usr/lib/udfcron/plugins/storage-file.so": 0o644,
    "usr/lib/udfcron/plugins/storage-fused.so": 0o644,
    "usr/lib/udfcron/plugins/storage-s3.so": 0o644,
    "usr/include/udfcron/plugin.h": 0o644,
    "usr/share/pkgconfig/udfcron-plugin.pc": 0o644,
    "usr/share/udfcron/plugin.map": 0o644,
}
MAN_SECTIONS = {
    "udfcrond.8": ["NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "SIGNALS", "RUNS", "JOURNAL FIELDS",
                   "CONTROL SOCKET", "SYSTEMD", "EXIT STATUS", "ENVIRONMENT", "FILES", "EXAMPLES", "SEE ALSO"],
    "udfcronctl.1": ["NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "COMMANDS", "EXIT STATUS", "ENVIRONMENT",
                     "FILES", "EXAMPLES", "SEE ALSO"],
    "udfcron.conf.5": ["NAME", "SYNOPSIS", "DESCRIPTION", "DAEMON SETTINGS", "HTTP", "ENGINES", "PLUGINS",
                       "SCHEDULES", "POLICIES", "TEMPLATES", "FAN-OUT", "PIPELINES", "CRON EXPRESSIONS",
                       "TIME ZONES AND DST", "EXAMPLES", "FILES", "SEE ALSO"],
}


def make(*args):
    proc = subprocess.run(["make", "-s", "-C", str(ROOT), f"B={BUILD}", *args], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def tree(destdir):
    """Every file (and symlink) under destdir, relative."""
    return sorted(str(p.relative_to(destdir)) for p in destdir.rglob("*") if not p.is_dir())


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    destdir = tmp_path_factory.mktemp("destdir")
    make("install", "PREFIX=/usr", f"DESTDIR={destdir}")
    return destdir


def test_install_puts_every_file_in_place_with_its_mode(installed):
    assert tree(installed) == sorted(FILES)
    for path, mode in FILES.items():
        st = (installed / path).stat()
        assert stat.S_IMODE(st.st_mode) == mode, path
    for d in ("etc/udfcron", "etc/udfcron/schedules.d", "usr/share/doc/udfcron/examples"):
        assert stat.S_IMODE((installed / d).stat().st_mode) == 0o755, d
    assert (installed / "usr/bin/udfcronctl").read_bytes() == (BUILD / "udfcronctl").read_bytes()
    assert (installed / "usr/sbin/udfcrond").read_bytes() == (BUILD / "udfcrond").read_bytes()


def test_installed_programs_run_and_the_config_and_examples_are_valid(installed):
    version = subprocess.run([str(installed / "usr/sbin/udfcrond"), "--version"], capture_output=True, text=True)
    assert version.returncode == 0 and version.stdout.startswith("udfcrond ")
    conf = installed / "etc/udfcron/udfcrond.conf"
    check = subprocess.run([str(installed / "usr/bin/udfcronctl"), "check", "--config", str(conf)],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    assert "0 schedules" in check.stdout
    # the shipped config sets nothing: every line is a comment or empty, so the defaults (and the unit's
    # directories) apply
    assert all(not line.strip() or line.lstrip().startswith("#") for line in conf.read_text().splitlines())

    examples = installed / "usr/share/doc/udfcron/examples"
    # hello-udf stores its result through the installed storage-file plugin, points-pipeline partitions
    # through the installed ingest-rows
    (examples / "udfcrond.conf").write_text('schedules_directory = "schedules.d";\n'
                                            f'plugin_directories = [ "{installed}/usr/lib/udfcron/plugins" ];\n'
                                            'storage = { file = { root = "/srv/udfcron"; }; };\n'
                                            'ingest = { rows = { }; };\n')
    try:
        check = subprocess.run([str(installed / "usr/sbin/udfcrond"), "--check-config", "--config",
                                str(examples / "udfcrond.conf")], capture_output=True, text=True)
        assert check.returncode == 0, check.stderr
        assert "8 schedules" in check.stdout
    finally:
        (examples / "udfcrond.conf").unlink()


def verify_root(installed, tmp_path):
    """A scratch root: the installed tree, the system's units (for the default dependencies) and kill."""
    root = tmp_path / "root"
    shutil.copytree(installed, root, symlinks=True)
    units = root / "usr/lib/systemd/system"
    for unit in Path("/lib/systemd/system").iterdir():
        if not (units / unit.name).exists():
            if unit.is_symlink():
                (units / unit.name).symlink_to(os.readlink(unit))
            elif unit.is_dir():
                shutil.copytree(unit, units / unit.name, symlinks=True)
            else:
                shutil.copy2(unit, units / unit.name)
    (root / "bin").symlink_to("usr/bin")
    shutil.copy2("/usr/bin/kill", root / "usr/bin/kill")
    return root


def test_the_unit_verifies_and_meets_the_exposure_goal(installed, tmp_path):
    unit = (installed / "usr/lib/systemd/system/udfcrond.service").read_text()
    assert re.search(r"^ExecStart=/usr/sbin/udfcrond$", unit, re.M)
    assert re.search(r"^ExecReload=/usr/sbin/udfcrond --check-config$", unit, re.M)
    # the daemon's defaults are the unit's directories
    for line in ("Type=notify", "StateDirectory=udfcron", "RuntimeDirectory=udfcron",
                 "ConfigurationDirectory=udfcron", "User=udfcron", "KillMode=mixed"):
        assert re.search(rf"^{line}$", unit, re.M), line

    root = verify_root(installed, tmp_path)
    # MANPATH: the Documentation= pages must exist (verify runs man for each)
    env = dict(os.environ, MANPATH=str(installed / "usr/share/man"))
    verify = subprocess.run(["systemd-analyze", "verify", f"--root={root}", "udfcrond.service"],
                            capture_output=True, text=True, env=env, timeout=60)
    assert verify.returncode == 0 and verify.stdout == "" and verify.stderr == "", verify.stderr
    # and it would notice: no binary, no man page
    (root / "usr/sbin/udfcrond").unlink()
    broken = subprocess.run(["systemd-analyze", "verify", f"--root={root}", "udfcrond.service"],
                            capture_output=True, text=True, env=dict(env, MANPATH=str(tmp_path)), timeout=60)
    assert broken.returncode != 0 and "udfcrond is not executable" in broken.stderr
    assert "man udfcrond(8)" in broken.stderr

    security = subprocess.run(["systemd-analyze", "security", "--offline=yes", f"--threshold={EXPOSURE_GOAL * 10:.0f}",
                               str(installed / "usr/lib/systemd/system/udfcrond.service")],
                              capture_output=True, text=True, timeout=60)
    assert security.returncode == 0, security.stdout + security.stderr
    level = float(re.search(r"Overall exposure level for udfcrond.service: (\d+\.\d)", security.stdout)[1])
    assert level <= EXPOSURE_GOAL
    # the README states the figure
    assert f"exposure level {level}" in (ROOT / "README.md").read_text()


def test_sysusers_and_tmpfiles_create_the_user_and_directories(installed, tmp_path):
    root = tmp_path / "root"
    shutil.copytree(installed, root, symlinks=True)
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (root / "etc/group").write_text("root:x:0:\n")
    sysusers = subprocess.run(["systemd-sysusers", f"--root={root}", "udfcron.conf"], capture_output=True,
                              text=True, timeout=60)
    assert sysusers.returncode == 0, sysusers.stderr
    user = [l.split(":") for l in (root / "etc/passwd").read_text().splitlines() if l.startswith("udfcron:")]
    group = [l.split(":") for l in (root / "etc/group").read_text().splitlines() if l.startswith("udfcron:")]
    assert len(user) == 1 and len(group) == 1
    uid, gid, home, shell = int(user[0][2]), int(user[0][3]), user[0][5], user[0][6]
    assert 0 < uid < 1000 and gid == int(group[0][2]) and home == "/var/lib/udfcron"
    assert shell.endswith("nologin")

    tmpfiles = subprocess.run(["systemd-tmpfiles", f"--root={root}", "--create", "udfcron.conf"],
                              capture_output=True, text=True, timeout=60)
    assert tmpfiles.returncode == 0, tmpfiles.stderr
    for path, mode, owner in (("etc/udfcron", 0o755, 0), ("etc/udfcron/schedules.d", 0o755, 0),
                              ("var/lib/udfcron", 0o700, uid), ("run/udfcron", 0o755, uid)):
        st = (root / path).stat()
        assert (stat.S_IMODE(st.st_mode), st.st_uid) == (mode, owner), path


def test_man_pages_render_without_warnings_and_have_their_sections(installed):
    for page, sections in MAN_SECTIONS.items():
        path = installed / "usr/share/man" / f"man{page.rsplit('.', 1)[1]}" / page
        groff = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z", str(path)], capture_output=True,
                               text=True)
        assert groff.returncode == 0 and groff.stderr == "", (page, groff.stderr)
        man = subprocess.run(["man", "--warnings", "-l", str(path)], capture_output=True, text=True,
                             env=dict(os.environ, MANWIDTH="80", MAN_KEEP_FORMATTING="", LC_ALL="C.UTF-8"))
        assert man.returncode == 0 and man.stderr == "", (page, man.stderr)
        headings = [l for l in man.stdout.splitlines() if l and not l[0].isspace()]
        assert headings[1:] == sections, page  # after the header line; the footer is indented


def bold_words(page_path):
    """The words a man page sets in bold: where it names keys, commands, options and fields."""
    roff = page_path.read_text().replace("\\&", "")
    return {w.strip(".,;:()[]|$") for span in re.findall(r"\\fB(.*?)\\fR", roff) for w in span.split()}


def source_names(pattern, *globs):
    return {m for g in globs for path in ROOT.glob(g) for m in re.findall(pattern, path.read_text(), re.M)}


def test_man_pages_name_every_key_command_option_and_journal_field(installed):
    """The pages cannot fall behind the code: every name the code accepts or writes is in them, in bold."""
    man = installed / "usr/share/man"

    keys = source_names(r'^\s*\{ "([a-z_]+)", KEY_', "daemon/config.c")
    keys |= source_names(r'\bF\("([a-z_]+)"', "daemon/fused-steps.c")
    keys |= source_names(r'\{ \.name = "([a-z_]+)"', "plugins/[!e]*/*.c", "plugins/shared/*.h")
    assert {"poll_interval", "arg_list", "partitioning_method", "token_secret", "slice_rows"} <= keys
    assert keys - bold_words(man / "man5/udfcron.conf.5") == set()

    events = source_names(r'\{ "([a-z_]+)", "([0-9a-f]{32})", LOG_', "daemon/journal.c")
    fields = source_names(r'"(UDFCRON_[A-Z_]+)', "daemon/journal.c")  # UDFCRON_LOG_TARGET too
    assert len(events) == 15 and "UDFCRON_STOPPED_BY" in fields
    daemon_page = bold_words(man / "man8/udfcrond.8")
    daemon_text = (man / "man8/udfcrond.8").read_text()
    assert ({e for e, _ in events} | fields) - daemon_page == set()
    assert [i for _, i in events if i not in daemon_text] == []

    def help_text(program, *args):
        return subprocess.run([str(program), *args, "--help"], capture_output=True, text=True, check=True).stdout

    def options(text):
        return set(re.findall(r"(?<![\w-])(--?[a-z][a-z-]*)", text)) - {"-"}

    ctl = installed / "usr/bin/udfcronctl"
    ctl_help = help_text(ctl)
    verbs = re.findall(r"^  ([a-z]+) ", ctl_help, re.M)
    assert len(verbs) == 13
    names = set(verbs) | options(ctl_help) | {o for v in verbs for o in options(help_text(ctl, v))}
    assert names - bold_words(man / "man1/udfcronctl.1") == set()
    assert options(help_text(installed / "usr/sbin/udfcrond")) - daemon_page == set()


def test_config_is_never_overwritten_and_uninstall_keeps_what_was_changed(tmp_path):
    destdir = tmp_path / "d"
    make("install", "PREFIX=/usr/local", f"DESTDIR={destdir}")
    conf = destdir / "etc/udfcron/udfcrond.conf"
    unit = (destdir / "usr/local/lib/systemd/system/udfcrond.service").read_text()
    assert re.search(r"^ExecStart=/usr/local/sbin/udfcrond$", unit, re.M)
    conf.write_text('timezone = "Europe/Berlin";\n')
    (destdir / "etc/udfcron/schedules.d/mine.conf").write_text("schedules = ();\n")

    out = make("install", "PREFIX=/usr/local", f"DESTDIR={destdir}")
    assert "kept the existing" in out
    assert conf.read_text() == 'timezone = "Europe/Berlin";\n'

    out = make("uninstall", "PREFIX=/usr/local", f"DESTDIR={destdir}")
    assert "it was changed" in out
    assert tree(destdir) == ["etc/udfcron/schedules.d/mine.conf", "etc/udfcron/udfcrond.conf"]

    # untouched: everything goes, the configuration directory too
    fresh = tmp_path / "fresh"
    make("install", "PREFIX=/usr", f"DESTDIR={fresh}")
    make("uninstall", "PREFIX=/usr", f"DESTDIR={fresh}")
    assert tree(fresh) == []
    assert not (fresh / "etc/udfcron").exists()


COMPLETE = r'''
source /usr/share/bash-completion/bash_completion
source "$COMPLETION"
complete_line() {  # prints the candidates for the line, cursor at its end
        COMP_LINE=$1; COMP_POINT=${#1}
        read -ra COMP_WORDS <<< "$1"
        [[ $1 == *" " ]] && COMP_WORDS+=("")
        COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
        COMPREPLY=()
        _udfcronctl udfcronctl "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
        printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' '
        echo
}
'''


def complete(installed, lines, path, extra=""):
    script = COMPLETE + extra + "".join(f"complete_line {l!r}\n" for l in lines)
    proc = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=30,
                          env=dict(os.environ, PATH=f"{path}:{os.environ['PATH']}",
                                   COMPLETION=str(installed / "usr/share/bash-completion/completions/udfcronctl")))
    assert proc.returncode == 0, proc.stderr
    return [line.split() for line in proc.stdout.splitlines()]


def test_bash_completion(installed, tmp_path):
    # a udfcronctl whose daemon answers `list --json` the way the control socket does
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "udfcronctl").write_text(
        '#!/bin/sh\nextra=\n'
        '[ "$1 $2" = "--socket /x" ] && { extra=\',{"name":"h-via-x"}\'; shift 2; }\n'
        '[ "$1 $2" = "list --json" ] || exit 3\n'
        'echo \'{"ok":true,"schedules":[{"name":"nightly-rollup","cron":"30 2 * * *"},\'\n'
        'echo \'{"name":"hourly.sync@eu"}\'"$extra]}"\n')
    (fake / "udfcronctl").chmod(0o755)
    got = complete(installed, ["udfcronctl ", "udfcronctl hi", "udfcronctl --", "udfcronctl history --",
                               "udfcronctl history ", "udfcronctl run n", "udfcronctl logs --",
                               "udfcronctl next --dst s", "udfcronctl next --tz Europe/Berl",
                               "udfcronctl --socket /x pause h", "udfcronctl run --", "udfcronctl storage ",
                               "udfcronctl storage get --m"], fake)
    assert got[0] == sorted("list status run skip pause resume cancel reload history logs check next storage"
                            .split())
    assert got[1] == ["history"]
    assert got[2] == ["--help", "--socket", "--version"]
    assert got[3] == ["--count", "--help", "--json"]
    assert got[4] == ["hourly.sync@eu", "nightly-rollup"]
    assert got[5] == ["nightly-rollup"]
    assert got[6] == ["--follow", "--help"]
    assert got[7] == ["shift", "skip"]
    assert got[8] == ["Europe/Berlin"]
    assert got[9] == ["h-via-x", "hourly.sync@eu"]
    assert got[10] == ["--help", "--json", "--param", "--wait"]
    assert got[11] == ["get", "ls", "put", "rm", "sign"]
    assert got[12] == ["--max-size"]


@pytest.mark.skipif(os.geteuid() != 0, reason="a private /etc needs root (unshare -m)")
def test_bash_completion_falls_back_to_the_schedule_files(installed, tmp_path):
    """No daemon: names come from /etc/udfcron/schedules.d, here a tmpfs in a mount namespace of the test's own."""
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "udfcronctl").write_text("#!/bin/sh\nexit 3\n")  # the daemon is not running
    (fake / "udfcronctl").chmod(0o755)
    setup = ('mount -t tmpfs tmpfs /etc && mkdir -p /etc/udfcron/schedules.d && '
             'printf \'schedules = ({ name = "from-file"; cron = "@daily"; },\\n{name="b2";cron="@hourly";});\\n\''
             ' > /etc/udfcron/schedules.d/a.conf\n')
    script = COMPLETE + "complete_line 'udfcronctl status '\n"
    proc = subprocess.run(["unshare", "-m", "--propagation", "private", "bash", "-c", setup + script],
                          capture_output=True, text=True, timeout=30,
                          env=dict(os.environ, PATH=f"{fake}:{os.environ['PATH']}",
                                   COMPLETION=str(installed / "usr/share/bash-completion/completions/udfcronctl")))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["b2", "from-file"]

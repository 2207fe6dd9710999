"""Shared fixtures: where the freshly built binaries are, and how to run them."""
import os
import subprocess
from pathlib import Path

import pytest

BUILD = Path(os.environ.get("UDFCRON_BUILD", Path(__file__).resolve().parents[2] / "build"))


class Result:
    def __init__(self, proc):
        self.status = proc.returncode
        self.out = proc.stdout
        self.err = proc.stderr
        self.lines = proc.stdout.splitlines()


@pytest.fixture
def ctl():
    """Runs build/udfcronctl with the given arguments; returns status, stdout, stderr."""
    binary = BUILD / "udfcronctl"
    assert binary.exists(), f"{binary} is missing: run make first"

    def run(*args, **kwargs):
        proc = subprocess.run([str(binary), *args], capture_output=True, text=True, timeout=30, **kwargs)
        return Result(proc)

    return run

"""Entry point: `/usr/bin/python3 tests/emulator [options]` (or `python3 -m emulator` from tests/)."""
import os
import sys

if not __package__:  # run as a directory: make the package importable by its name
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from emulator.server import main  # noqa: E402

sys.exit(main())

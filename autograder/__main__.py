"""`python -m autograder`: the trusted grader's entry point.

Python put the current directory first on the import path; the grader imports only from its
own installation, so that folder is replaced by the engine's own root before anything else is
imported, and user site-packages are dropped.
"""

import os
import site
import sys
from pathlib import Path

_ROOT = str(Path(__file__).resolve().parent.parent)
_HERE = {"", os.getcwd()}
sys.path[:] = [_ROOT] + [p for p in sys.path if p not in _HERE and p != _ROOT
                         and not p.startswith(site.getuserbase())]

from autograder.cli import main  # noqa: E402 (after the import path is fixed)

sys.exit(main())

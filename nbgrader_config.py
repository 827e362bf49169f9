"""nbgrader's course directory: instructors write solutions/, nbgrader releases assignments/.

`make release` (python -m autograder release) is the full release: it also clears the graded
`.py` modules, which nbgrader copies verbatim (jupyter/nbgrader#1237). So that a plain
`nbgrader generate_assignment ID` can never copy a module with its solutions, the modules and
the registry's solution-only files are on nbgrader's ignore list, read from course.toml.
nbgrader's database is ./gradebook.db (git-ignored).
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

from autograder import registry  # noqa: E402 (after the path is set)
from autograder.release import ignore_patterns  # noqa: E402

c = get_config()  # noqa: F821 (injected by nbgrader)

c.CourseDirectory.root = str(ROOT)
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "assignments"
c.CourseDirectory.ignore = ignore_patterns(registry.load(ROOT / "course.toml"))

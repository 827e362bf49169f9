"""nbgrader course directory: instructors write solutions/, nbgrader releases assignments/."""

c = get_config()  # noqa: F821 (injected by nbgrader)

c.CourseDirectory.root = "."
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "assignments"

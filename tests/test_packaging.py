"""Does `pip install .` work, install only the libraries, and run the notebooks from anywhere?

Everything here is real: the wheel is built by pip from a copy of the repository's files (tracked
and new ones, as git lists them), installed with pip into a new virtual environment, and a
released notebook runs, with that environment's Python as its kernel, from a folder outside the
repository. The new environment borrows the third-party packages of the one running the tests
(a .pth file names its site-packages), so nothing as large as TensorFlow is downloaded; it has
no copy of the repository on its path, so `dlcourse` and `autograder` can only come from the
wheel.

Building needs the build backend (setuptools) from the package index, as `pip install .` does
everywhere; without an index the build tests skip, and fail instead under CI=true. Resolving the
declared dependencies against the index (`pip install --dry-run`) is marked slow. The student
README's Colab route and grading times are checked against the notebooks and course.toml.
"""

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from importlib.metadata import packages_distributions
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from packaging.requirements import Requirement

from autograder import registry
from autograder.export import ExportError, source_files, student_repo

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("dlcourse", "autograder")
NOT_SHIPPED = ("solutions/", "course/", "tests/", "datasets/", "assignments/", "benchmarks/")
NO_INDEX = "No matching distribution found for setuptools"  # pip's words when offline
KERNEL = "dlcourse-installed"
NOTEBOOK_TIMEOUT_S = 300
# The last cell of each run: where the kernel's dlcourse, Python and graded module come from.
PROBE = ("import sys, dlcourse, autograder\n"
         "print('PROBE', dlcourse.__file__, sys.executable, sys.modules[{module!r}].__file__)")


def _pip(python: Path | str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(python), "-m", "pip", *args, "--disable-pip-version-check"],
                          capture_output=True, text=True, cwd=cwd, env=_clean_env())


def _clean_env() -> dict[str, str]:
    """The environment without anything that would put the checkout on the import path."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}


def _skip_or_fail(reason: str) -> None:
    if os.environ.get("CI") == "true":  # CI reaches the index: never a silent skip there
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def source_tree(tmp_path_factory) -> Path:
    """A copy of the repository's files: the build writes build/ and *.egg-info into it."""
    try:
        files = source_files(ROOT)
    except ExportError as exc:
        pytest.skip(str(exc))
    tree = tmp_path_factory.mktemp("source")
    for relative in files:
        (tree / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / relative, tree / relative)
    return tree


@pytest.fixture(scope="module")
def wheel(source_tree, tmp_path_factory) -> Path:
    """The wheel `pip wheel . --no-deps` builds in the course repository."""
    return _build_wheel(source_tree, tmp_path_factory.mktemp("dist"))


@pytest.fixture(scope="module")
def student_wheel(tmp_path_factory) -> Path:
    """The wheel built from the repository students receive (what Colab's first cell installs)."""
    dest = tmp_path_factory.mktemp("student") / "repo"
    student_repo(registry.load(), dest)
    return _build_wheel(dest, tmp_path_factory.mktemp("student-dist"))


def _build_wheel(tree: Path, dist: Path) -> Path:
    """`pip wheel . --no-deps` in `tree` (the build backend comes from the index)."""
    done = _pip(sys.executable, "wheel", ".", "--no-deps", "-w", str(dist), cwd=tree)
    if done.returncode != 0 and NO_INDEX in done.stdout + done.stderr:
        _skip_or_fail("no package index reachable: pip cannot fetch the build backend")
    assert done.returncode == 0, f"pip wheel failed in {tree}:\n{done.stdout}\n{done.stderr}"
    (built,) = dist.glob("*.whl")
    return built


@pytest.fixture(scope="module")
def venv_python(student_wheel, tmp_path_factory) -> Path:
    """A new virtual environment with the student repository's wheel installed, borrowing this
    one's other packages."""
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = Path(subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True).stdout.strip())
    # Appended after the new environment's own site-packages: the wheel's copy comes first.
    (site / "_borrowed.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    done = _pip(python, "install", "--no-deps", "--no-index", str(student_wheel))
    assert done.returncode == 0, f"pip install of the wheel failed:\n{done.stdout}\n{done.stderr}"
    return python


def test_wheel_holds_the_two_libraries_and_nothing_else(wheel):
    """Does the wheel hold every file of dlcourse/ and autograder/ (grading.ini included) and no
    solution, check, test, notebook or data file?"""
    names = set(zipfile.ZipFile(wheel).namelist())
    tops = {name.split("/", 1)[0] for name in names if ".dist-info/" not in name}
    assert tops == set(PACKAGES), f"the wheel's top-level entries: {sorted(tops)}"
    wanted = {str(path) for path in source_files(ROOT)
              if path.parts[0] in PACKAGES and path.suffix != ".md"}
    assert "autograder/grading.ini" in wanted
    missing = sorted(wanted - names)
    assert not missing, f"the wheel lacks {missing}: add them to package-data in pyproject.toml"
    leaked = sorted(name for name in names if name.startswith(NOT_SHIPPED) or "test_" in name)
    assert not leaked, f"the wheel must not hold {leaked}"


def test_student_repository_builds_the_same_libraries(wheel, student_wheel):
    """Does the repository students receive (and Colab installs) build a wheel with the same
    files as the course repository's?"""
    def files(path: Path) -> set[str]:
        return {n for n in zipfile.ZipFile(path).namelist() if ".dist-info/" not in n}

    assert files(student_wheel) == files(wheel)


def test_installed_copy_is_used_and_keeps_data_out_of_site_packages(venv_python, tmp_path):
    """Run from a folder outside the repository, do `dlcourse` and `autograder` come from the
    installed wheel, with the data home in the user's cache and the grader's pytest config?"""
    env = {**_clean_env(), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    env.pop("DLCOURSE_DATA_DIR", None)
    code = ("import json, dlcourse, autograder.cli as cli\nfrom dlcourse import data\n"
            "print(json.dumps({'dlcourse': dlcourse.__file__, 'cli': cli.__file__, "
            "'root': str(data.PROJECT_ROOT), 'home': str(data.DATA_HOME), "
            "'dirs': [str(d) for d in data.data_dirs()], 'ini': cli.GRADING_INI.is_file()}))")
    done = subprocess.run([str(venv_python), "-c", code], capture_output=True, text=True,
                          cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    venv = venv_python.parent.parent
    for name in ("dlcourse", "cli"):
        assert Path(found[name]).is_relative_to(venv), f"{name} imported from {found[name]}"
    assert found["root"] == "None"
    assert found["home"] == str(tmp_path / "cache" / "dlcourse")
    assert found["dirs"] == [found["home"]]
    assert found["ini"], "grading.ini is missing next to the installed autograder/cli.py"


def test_installed_grader_outside_a_checkout_says_where_to_run_it(venv_python, tmp_path):
    """Outside a course checkout, does the installed grader refuse with a clear message (exit 2)
    instead of grading nothing and writing its reports into site-packages?"""
    done = subprocess.run([str(venv_python), "-m", "autograder", "grade"], capture_output=True,
                          text=True, cwd=tmp_path, env=_clean_env())
    assert done.returncode == 2, done.stdout + done.stderr
    assert "from a checkout of the course repository" in done.stdout
    site_packages = next((venv_python.parent.parent / "lib").glob("python3*/site-packages"))
    assert not (site_packages / "grading").exists()


def test_declared_dependencies_cover_imports_and_match_the_lock(wheel):
    """Does the wheel declare every third-party package dlcourse and autograder import (a
    module-level import as a dependency, one inside a function at least in an extra), with
    ranges that requirements.txt's exact pins satisfy (so `make` and `pip install .` agree)?"""
    with zipfile.ZipFile(wheel) as archive:
        metadata = next(archive.read(n).decode() for n in archive.namelist()
                        if n.endswith(".dist-info/METADATA"))
    default, extras = {}, {}
    for line in metadata.splitlines():
        if line.startswith("Requires-Dist:"):
            requirement = Requirement(line.split(":", 1)[1])
            in_extra = requirement.marker is not None and "extra" in str(requirement.marker)
            (extras if in_extra else default)[_canonical(requirement.name)] = requirement
    top_level, in_functions = _third_party_imports()
    distributions = packages_distributions()

    def undeclared(names: set[str], declared: dict) -> list[str]:
        return sorted(name for name in names
                      if not any(_canonical(d) in declared for d in distributions.get(name, [])))

    missing = undeclared(top_level, default)
    assert not missing, f"imported at module level, not in pyproject's dependencies: {missing}"
    missing = undeclared(in_functions, {**default, **extras})
    assert not missing, f"imported, not in pyproject's dependencies or extras: {missing}"
    pins = _pins()
    for name, requirement in {**extras, **default}.items():
        pin = pins.get(name) or pins.get(f"{name}-cpu")  # tensorflow: the lock has tensorflow-cpu
        assert pin is not None or name not in default, (
            f"{name} is a dependency but requirements.txt does not pin it")
        assert pin is None or requirement.specifier.contains(pin, prereleases=True), (
            f"requirements.txt pins {name}=={pin}, outside pyproject's {requirement.specifier}")


def _third_party_imports() -> tuple[set[str], set[str]]:
    """Top-level names of the packages dlcourse and autograder import: (at module level,
    inside functions)."""
    top_level, in_functions = set(), set()
    for package in PACKAGES:
        for path in ROOT.joinpath(package).rglob("*.py"):
            tree = ast.parse(path.read_text())
            module_level = set(tree.body)
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    names = {alias.name.split(".")[0] for alias in node.names}
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = {node.module.split(".")[0]}
                else:
                    continue
                (top_level if node in module_level else in_functions).update(names)
    ours = {*sys.stdlib_module_names, *PACKAGES, "__future__"}
    return top_level - ours, in_functions - ours


def test_requires_python_admits_this_interpreter():
    """Does pyproject's requires-python admit the Python that CI and `make` use?"""
    from packaging.specifiers import SpecifierSet

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert SpecifierSet(project["requires-python"]).contains(version)


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize(("extras", "wanted", "unwanted"), [
    ("student", {"tensorflow", "keras", "ipykernel"}, {"nbgrader", "jupyterlab"}),
    ("instructor", {"tensorflow", "keras", "nbgrader", "ruff"}, set()),
])
def test_dependencies_resolve_from_the_index(source_tree, extras, wanted, unwanted, tmp_path):
    """Does pip resolve `pip install .[extras]` for a fresh Python 3.11 from the index, and
    does the student's set leave out nbgrader and JupyterLab?"""
    report = tmp_path / "report.json"
    done = _pip(sys.executable, "install", "--dry-run", "--ignore-installed", "--quiet",
                "--python-version", "3.11", "--only-binary", ":all:", "--target",
                str(tmp_path / "unused"), "--report", str(report), f".[{extras}]",
                cwd=source_tree)
    if done.returncode != 0 and NO_INDEX in done.stdout + done.stderr:
        _skip_or_fail("no package index reachable: cannot resolve the dependencies")
    assert done.returncode == 0, f"resolution failed:\n{done.stdout}\n{done.stderr}"
    names = {_canonical(item["metadata"]["name"])
             for item in json.loads(report.read_text())["install"]}
    assert wanted <= names, f"missing from the resolved set: {sorted(wanted - names)}"
    assert not unwanted & names, f"should not be installed: {sorted(unwanted & names)}"


@pytest.fixture(scope="module")
def installed_kernel(venv_python, tmp_path_factory) -> str:
    """A Jupyter kernel spec that starts the new environment's Python."""
    share = tmp_path_factory.mktemp("jupyter")
    spec = share / "kernels" / KERNEL
    spec.mkdir(parents=True)
    argv = [str(venv_python), "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps(
        {"argv": argv, "display_name": "dlcourse (installed)", "language": "python"}))
    return str(share)


def _run_outside(assignment: str, kernel_path: str, data_dir: Path, tmp_path: Path,
                 monkeypatch: pytest.MonkeyPatch) -> nbformat.NotebookNode:
    """Run the released notebook of `assignment`, beside the solution module, in a folder
    outside the repository; return it with a last cell that reports where dlcourse came from."""
    entry = registry.load().get(assignment)
    folder = tmp_path / assignment
    shutil.copytree(ROOT / "assignments" / assignment, folder)
    shutil.copyfile(ROOT / "solutions" / assignment / entry.module_file, folder / entry.module_file)
    notebook = nbformat.read(folder / f"{assignment}.ipynb", as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell(PROBE.format(module=entry.module)))
    for name in ("PYTHONPATH", "PYTHONHOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("JUPYTER_PATH", kernel_path)
    monkeypatch.setenv("DLCOURSE_FAST", "1")
    monkeypatch.setenv("DLCOURSE_DATA_DIR", str(data_dir))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    client = NotebookClient(notebook, timeout=NOTEBOOK_TIMEOUT_S, kernel_name=KERNEL,
                            resources={"metadata": {"path": str(folder)}})
    client.execute()  # raises CellExecutionError, naming the cell and its traceback
    return notebook


def _probe(notebook: nbformat.NotebookNode, folder: Path) -> tuple[Path, Path]:
    """(dlcourse's file, the kernel's Python) as the last cell printed; the graded module must
    be the copy in `folder`."""
    text = "".join(output.get("text", "") for output in notebook.cells[-1].outputs)
    match = re.search(r"^PROBE (\S+) (\S+) (\S+)$", text, re.M)
    assert match, f"the probe cell printed {text!r}"
    assert Path(match[3]).resolve().parent == folder.resolve(), f"module from {match[3]}"
    return Path(match[1]), Path(match[2])


@pytest.mark.timeout(600)
def test_notebook_01_runs_outside_the_repository(installed_kernel, venv_python, real_data_dir,
                                                 tmp_path, monkeypatch):
    """Does the released 01 notebook run from a folder outside the repository, on the
    installed package (its kernel imports dlcourse from the wheel, not the checkout)?"""
    notebook = _run_outside("01_kernel_convolution", installed_kernel, real_data_dir, tmp_path,
                            monkeypatch)
    dlcourse_file, executable = _probe(notebook, tmp_path / "01_kernel_convolution")
    assert executable == venv_python
    assert dlcourse_file.is_relative_to(venv_python.parent.parent), dlcourse_file
    assert not dlcourse_file.is_relative_to(ROOT)


@pytest.mark.timeout(600)
def test_notebook_02_runs_outside_the_repository(installed_kernel, venv_python, real_data_dir,
                                                 tmp_path, monkeypatch):
    """Does the released 02 notebook (Keras training in fast mode) run outside the repository
    on the installed package?"""
    notebook = _run_outside("02_mlp_baseline", installed_kernel, real_data_dir, tmp_path,
                            monkeypatch)
    dlcourse_file, _ = _probe(notebook, tmp_path / "02_mlp_baseline")
    assert dlcourse_file.is_relative_to(venv_python.parent.parent), dlcourse_file


def _pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            requirement = Requirement(line)
            (spec,) = requirement.specifier
            pins[_canonical(requirement.name)] = spec.version
    return pins


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_user_cache_follows_xdg_and_ignores_a_relative_one(monkeypatch, tmp_path):
    """Does an installed dlcourse keep its data in $XDG_CACHE_HOME/dlcourse, and fall back to
    ~/.cache/dlcourse when the variable is unset or relative (as the XDG specification says)?"""
    from dlcourse import data

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert data._user_cache() == tmp_path / "xdg" / "dlcourse"
    for value in ("relative/cache", ""):
        monkeypatch.setenv("XDG_CACHE_HOME", value)
        assert data._user_cache() == tmp_path / "home" / ".cache" / "dlcourse"


STUDENT_README = ROOT / "course" / "student_repo" / "README.md"
COLAB_NAMES = ("REPOSITORY", "GITHUB_TOKEN")  # what the README's Colab route names
# The README's `cd ../..` (grade, push) relies on the first cell moving here, clone or not.
COLAB_CHDIR = 'os.chdir(clone / "assignments" / ASSIGNMENT)'


@pytest.mark.parametrize("assignment", sorted(registry.load().assignments))
def test_student_readme_colab_route_matches_the_notebook(assignment):
    """Does every released notebook's first code cell use the names the student README's Colab
    section tells students about (the REPOSITORY constant, the GITHUB_TOKEN secret), and move
    into the clone's assignments/<id>/, so that the README's `cd ../..` reaches the clone?"""
    readme = STUDENT_README.read_text(encoding="utf-8")
    colab = readme.split("## On Google Colab", 1)[1].split("\n## ", 1)[0]
    notebook = nbformat.read(ROOT / "assignments" / assignment / f"{assignment}.ipynb",
                             as_version=4)
    setup = next(cell.source for cell in notebook.cells if cell.cell_type == "code")
    for name in COLAB_NAMES:
        assert name in colab, f"the README's Colab section does not mention {name}"
        assert name in setup, f"{assignment}'s first code cell does not use {name}"
    assert COLAB_CHDIR in setup, f"{assignment}'s first code cell does not {COLAB_CHDIR}"
    assert "cd ../.." in colab


def test_student_readme_gives_every_assignment_a_grading_time():
    """Does "How long grading takes" have a row for every assignment of course.toml?"""
    readme = STUDENT_README.read_text(encoding="utf-8")
    section = readme.split("## How long grading takes", 1)[1].split("\n## ", 1)[0]
    missing = [a for a in registry.load().assignments if f"| `{a}` |" not in section]
    assert not missing, f"no grading time for {missing}"

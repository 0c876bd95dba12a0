import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import prefect
import pytest

from pipelines.framework.config import PACKAGE_ROOT, Environment, UsageError
from pipelines.framework.deploy.discovery import (
    FlowInfo,
    FlowNotFoundError,
    _belongs_to,
    discover_flows,
    find_flow,
    flow_modules,
)

TUTORIAL_MODULE = "pipelines.rj_escritorio.tutorial.flows"


def test_discovery_walks_the_package_without_a_list():
    assert TUTORIAL_MODULE in flow_modules()
    assert not [m for m in flow_modules() if m.startswith("pipelines.framework")]


def test_the_tutorial_flow_is_found_with_what_it_declares():
    (info,) = [f for f in discover_flows() if f.module == TUTORIAL_MODULE]
    assert info.name == "EMD: escritorio - Users report"
    assert info.orgao == "rj_escritorio"
    assert info.project == "tutorial"
    assert info.code_owners == ("paty",)
    assert info.defaults() == {
        "n_users": 10,
        "api_url": "https://randomuser.me/api/",
        "output_path": "report.csv",
    }
    assert info.schedule is not None


@pytest.mark.parametrize(
    "query",
    [
        "EMD: escritorio - Users report",
        "Users report",
        "users REPORT",
        TUTORIAL_MODULE,
        f"{TUTORIAL_MODULE}:users_report",
    ],
)
def test_a_flow_is_found_by_name_part_or_module(query):
    assert find_flow(query).name == "EMD: escritorio - Users report"


def test_an_unknown_flow_says_how_to_list_them():
    with pytest.raises(FlowNotFoundError, match="pipelines flows"):
        find_flow("no such flow at all")


def test_an_ambiguous_part_lists_the_candidates():
    flows = discover_flows()
    with pytest.raises(FlowNotFoundError, match="matches"):
        find_flow("", flows + flows)


# --- a broken module is reported where it broke, and the rest is still found ---------------------

BROKEN_FLOWS = {
    "rj_teste/sintaxe/flows.py": 'from pipelines.framework.runtime import flow\n\n@flow(name="x"\n',
    "rj_teste/pacote/flows.py": '"""Needs a package."""\nimport os\nimport pacote_que_falta.sub\n',
    "rj_teste/ajudante/tasks.py": "VALUE = 1\nraise RuntimeError('a helper broke at import')\n",
    "rj_teste/ajudante/flows.py": "from pipelines.rj_teste.ajudante.tasks import VALUE\n",
    "rj_teste/plataforma/flows.py": (
        "from pipelines.framework.config import Environment\n\nENV = Environment('nope')\n"
    ),
    "rj_fundo/area/projeto/flows.py": (
        "from pipelines.framework.runtime import flow\n\n\n"
        "@flow(name='EMD: teste - fundo', code_owners=['x'])\ndef fundo() -> None:\n    pass\n"
    ),
}
DISCOVER = """
import json
from pipelines.framework.deploy.discovery import discover
found = discover()
print(json.dumps({
    "flows": {f.name: [f.module, f.project] for f in found.flows},
    "failures": [str(failure) for failure in found.failures],
}))
"""


@pytest.fixture(scope="module")
def broken_copy(tmp_path_factory) -> Path:
    """The repository's `pipelines/` beside flows modules that fail in each way they can."""
    root = tmp_path_factory.mktemp("broken")
    shutil.copytree(PACKAGE_ROOT, root / "pipelines", ignore=shutil.ignore_patterns("__pycache__"))
    for relative, source in BROKEN_FLOWS.items():
        path = root / "pipelines" / relative
        for folder in path.relative_to(root).parents[:-1]:
            (root / folder).mkdir(parents=True, exist_ok=True)
            (root / folder / "__init__.py").touch()
        path.write_text(source)
    return root


def _discover_in(root: Path) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", DISCOVER],
        env={**os.environ, "PYTHONPATH": str(root), "PIPELINES_HOME": str(root / ".home")},
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_modules_that_do_not_import_are_reported_and_the_others_still_found(broken_copy):
    found = _discover_in(broken_copy)

    assert found["flows"]["EMD: escritorio - Users report"][0] == TUTORIAL_MODULE
    assert found["flows"]["EMD: teste - fundo"] == [
        "pipelines.rj_fundo.area.projeto.flows",
        "area.projeto",  # the orgao/area/projeto layout
    ]
    assert found["failures"] == [
        "pipelines/rj_teste/ajudante/tasks.py:2: pipelines.rj_teste.ajudante.flows does not "
        "import: RuntimeError: a helper broke at import",
        "pipelines/rj_teste/pacote/flows.py:3: pipelines.rj_teste.pacote.flows does not import: "
        "No module named 'pacote_que_falta': install the package 'pacote_que_falta' (a dependency)",
        "pipelines/rj_teste/plataforma/flows.py:3: pipelines.rj_teste.plataforma.flows does not "
        "import: UnknownEnvironmentError: " + _unknown_environment_message("nope"),
        "pipelines/rj_teste/sintaxe/flows.py:3: pipelines.rj_teste.sintaxe.flows does not "
        "import: SyntaxError: '(' was never closed",
    ]


def _unknown_environment_message(name: str) -> str:
    try:
        Environment(name)
    except UsageError as exc:
        return str(exc).splitlines()[0]
    raise AssertionError("an unknown environment was accepted")


def test_finding_the_modules_imports_none_of_them(broken_copy):
    code = (
        "import sys\nfrom pipelines.framework.deploy.discovery import flow_modules\n"
        "names = flow_modules()\n"
        "print(sorted(m for m in sys.modules if m.startswith('pipelines.rj')), len(names))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": str(broken_copy)},
        cwd=broken_copy,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout.split() == ["[]", str(len(_flow_files(broken_copy)))]


def _flow_files(root: Path) -> list[Path]:
    """flows.py files inside packages (every folder up to `pipelines/` has an __init__.py)."""
    package = root / "pipelines"
    return [
        path
        for path in package.rglob("flows.py")
        if "framework" not in path.relative_to(package).parts[:1]
        and all((folder / "__init__.py").is_file() for folder in path.parents if folder >= package)
    ]


@pytest.mark.parametrize(
    ("module", "project"),
    [
        ("pipelines.rj_escritorio.tutorial.flows", "tutorial"),
        (
            "pipelines.rj_cor.meteorologia.meteorologia_inmet.flows",
            "meteorologia.meteorologia_inmet",
        ),
        ("pipelines.rj_escritorio.flows", ""),
    ],
)
def test_the_project_is_every_folder_between_the_orgao_and_the_module(module, project):
    assert FlowInfo(_a_flow(), module, "a_flow").project == project


def _a_flow():
    @prefect.flow(name="pipelines test: a flow")
    def a_flow() -> None:
        pass

    return a_flow


def test_a_flow_s_line_is_its_function_s_first_line_even_where_getsourcelines_walks_away():
    """A Prefect 1 flow's function is a lambda placed at its `with Flow(...)` line, which is no
    def: getsourcelines would walk up to the def above it."""
    placed = _a_flow()
    with_flow_line = sys._getframe().f_lineno + 1  # pylint: disable=protected-access
    placed.fn.__code__ = placed.fn.__code__.replace(co_firstlineno=with_flow_line)

    assert FlowInfo(placed, __name__, "placed").line == with_flow_line


def test_a_flow_that_records_its_definition_module_belongs_there_alone():
    """A compat flow deep-copied into another module records the module that copied it; the
    original, imported there too, stays listed where it was built."""
    generic, copy = _a_flow(), _a_flow()
    generic.definition_module = "pipelines.rj_teste.generico.flows"
    copy.definition_module = "pipelines.rj_teste.copia.flows"

    assert _belongs_to(generic, "pipelines.rj_teste.generico.flows")
    assert not _belongs_to(generic, "pipelines.rj_teste.copia.flows")
    assert _belongs_to(copy, "pipelines.rj_teste.copia.flows")

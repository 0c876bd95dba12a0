"""`pipelines run FLOW` in a state folder with no discovery manifest yet: the flow is found by
reading the flows modules' sources and importing only the module that declares it, and it is
the very flow the whole discovery finds (or the same error).

Each test runs the lookup in fresh processes on a small repository of its own (the platform, the
compat layer and a few projects), once as `pipelines run` looks a flow up and once through the
whole discovery, in two fresh state folders."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.framework.config import PACKAGE_ROOT

LOOK_UP = """
import json, sys
from pipelines.framework.deploy.discovery import FlowNotFoundError, find_flow
from pipelines.framework.deploy.manifest import discover
query, whole = sys.argv[1], sys.argv[2] == "whole"
try:
    found = find_flow(query, discover().flows if whole else None).entrypoint
except FlowNotFoundError as exc:
    found = f"error: {exc}"
print(json.dumps({
    "found": found,
    "imported": sorted(m for m in sys.modules if m.startswith("pipelines.rj_") and "flows" in m),
}))
"""
FILES = {
    "rj_busca/__init__.py": "",
    "rj_busca/constants.py": (
        "from enum import Enum\n\n\n"
        "class constants(Enum):\n"
        '    FLOW_PREFIX = "EMD: busca"\n'
        '    CODE_OWNERS = ["ana"]\n'
    ),
    "rj_busca/decorado/__init__.py": "",
    "rj_busca/decorado/flows.py": (
        '"""A flow declared with the decorator, its name built from the orgao\'s constant."""\n\n'
        "from pipelines.framework.runtime import flow\n"
        "from pipelines.rj_busca.constants import constants as busca_constants\n\n\n"
        '@flow(name=f"{busca_constants.FLOW_PREFIX.value} - Relatorio de vendas",\n'
        "      code_owners=busca_constants.CODE_OWNERS.value)\n"
        "def relatorio() -> None:\n"
        '    """Um fluxo de teste."""\n\n\n'
        "relatorio.schedule = None\n"
    ),
    "rj_busca/antigo/__init__.py": "",
    "rj_busca/antigo/flows.py": (
        "from pipelines.compat.prefect1 import Flow, task\n\n"
        'NOME = "EMD: busca - Carga antiga"\n\n\n'
        "@task\n"
        "def somar() -> int:\n"
        "    return 1 + 1\n\n\n"
        "with Flow(NOME) as carga_antiga:\n"
        "    somar()\n\n"
        'if __name__ == "__main__":\n'
        "    carga_antiga.run()\n"
    ),
    "rj_busca/quebrado/__init__.py": "",
    "rj_busca/quebrado/flows.py": (
        "import pacote_inexistente  # no such package: this module never imports\n\n"
        "from pipelines.framework.runtime import flow\n\n\n"
        "@flow(name='EMD: busca - Quebrado', code_owners=['ana'])\n"
        "def quebrado() -> None:\n"
        '    """Nunca importado."""\n'
    ),
}
FACTORY = {
    "rj_busca/fabrica/__init__.py": "",
    "rj_busca/fabrica/utils.py": (
        "from pipelines.framework.runtime import flow\n\n\n"
        "def um_fluxo(nome: str):\n"
        "    def corpo() -> None:\n"
        '        """Feito por uma fabrica."""\n\n'
        "    return flow(name=nome, code_owners=['ana'])(corpo)\n"
    ),
    "rj_busca/fabrica/flows.py": (
        "from pipelines.rj_busca.fabrica.utils import um_fluxo\n\n"
        "fabricado = um_fluxo('EMD: busca - Fabricado')\n"
    ),
}
DECORATED = "pipelines.rj_busca.decorado.flows"


@pytest.fixture
def repo(tmp_path) -> Path:
    """The platform (framework/, compat/, constants) and the projects of `FILES`."""
    root = tmp_path / "repo"
    package = root / "pipelines"
    package.mkdir(parents=True)
    for name in ("__init__.py", "constants.py"):
        shutil.copy2(PACKAGE_ROOT / name, package / name)
    for name in ("framework", "compat"):
        shutil.copytree(
            PACKAGE_ROOT / name, package / name, ignore=shutil.ignore_patterns("__pycache__")
        )
    write(root, FILES)
    return root


def write(root: Path, files: dict[str, str]) -> None:
    for relative, source in files.items():
        path = root / "pipelines" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)


def look_up(root: Path, query: str, how: str) -> dict:
    """`find_flow(query)` in a fresh process and a fresh state folder: as `pipelines run`
    looks it up (`how="run"`), or in the whole discovery (`how="whole"`)."""
    home = root / f".home-{how}"
    shutil.rmtree(home, ignore_errors=True)
    result = subprocess.run(
        [sys.executable, "-c", LOOK_UP, query, how],
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("PIPELINES_")},
            "PYTHONPATH": str(root),
            "PIPELINES_HOME": str(home),
        },
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_a_decorated_flow_named_from_a_constant_imports_its_module_alone(repo):
    run = look_up(repo, "Relatorio de vendas", "run")
    whole = look_up(repo, "Relatorio de vendas", "whole")

    assert run["found"] == whole["found"] == f"{DECORATED}:relatorio"
    assert run["imported"] == [DECORATED]
    assert "pipelines.rj_busca.antigo.flows" in whole["imported"]


def test_a_prefect1_flow_is_found_by_its_full_name(repo):
    run = look_up(repo, "EMD: busca - Carga antiga", "run")

    assert run["found"] == "pipelines.rj_busca.antigo.flows:carga_antiga"
    assert run["found"] == look_up(repo, "EMD: busca - Carga antiga", "whole")["found"]
    assert run["imported"] == ["pipelines.rj_busca.antigo.flows"]


def test_a_query_two_flows_match_is_the_same_error_as_the_whole_discovery(repo):
    run = look_up(repo, "busca", "run")

    assert run["found"].startswith("error: 'busca' matches 2 flows")
    assert run["found"] == look_up(repo, "busca", "whole")["found"]


def test_a_flow_whose_module_does_not_import_is_not_found_as_before(repo):
    run = look_up(repo, "Quebrado", "run")

    assert run["found"].startswith("error: no flow matches 'Quebrado'")
    assert run["found"] == look_up(repo, "Quebrado", "whole")["found"]


def test_a_module_whose_source_does_not_say_is_imported_to_know(repo):
    write(repo, FACTORY)

    factory = look_up(repo, "Fabricado", "run")
    other = look_up(repo, "Relatorio de vendas", "run")

    assert factory["found"] == "pipelines.rj_busca.fabrica.flows:fabricado"
    assert factory["found"] == look_up(repo, "Fabricado", "whole")["found"]
    assert other["found"] == f"{DECORATED}:relatorio"
    assert other["imported"] == [DECORATED, "pipelines.rj_busca.fabrica.flows"]


def test_a_copy_of_a_flow_imported_into_another_module_is_found_twice_as_before(repo):
    """A copy (`instantiate`) is listed where it is imported too: the query then matches two."""
    write(repo, {
        "rj_busca/copia/__init__.py": "",
        "rj_busca/copia/flows.py": (
            "from pipelines.framework.runtime import instantiate\n"
            f"from {DECORATED} import relatorio\n\n"
            "copia = instantiate(relatorio, 'EMD: busca - Copia', code_owners=['ana'])\n"
        ),
        "rj_busca/usa_copia/__init__.py": "",
        "rj_busca/usa_copia/flows.py": "from pipelines.rj_busca.copia.flows import copia\n",
    })  # fmt: skip

    run = look_up(repo, "Copia", "run")

    assert run["found"].startswith("error: 'Copia' matches 2 flows")
    assert run["found"] == look_up(repo, "Copia", "whole")["found"]

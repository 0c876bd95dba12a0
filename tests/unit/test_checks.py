"""`pipelines check`: the conventions, literal credentials (detect-secrets and the platform's
rules), files git ignores, files that do not parse, migrated Prefect 1 folders, deeper layouts."""

import json
import subprocess
from pathlib import Path

import pytest
from prefect import flow

from pipelines.framework.deploy.checks import (
    MIGRATION_MANIFEST,
    Repository,
    check_project_files,
    check_secrets,
    check_syntax,
    flow_findings,
    project_dirs,
    run_checks,
)
from pipelines.framework.deploy.discovery import FlowInfo
from pipelines.framework.deploy.secret_scan import literal_secrets
from tests.conftest import run_pipelines

GUIDE_FILES = ("__init__.py", "constants.py", "flows.py", "schedules.py", "tasks.py", "utils.py")


def test_the_repository_follows_its_own_conventions():
    assert [str(f) for f in run_checks()] == []


@pytest.fixture
def git_repo(tmp_path) -> Path:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    return tmp_path


def write(root: Path, relative: str, text: str = "") -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def lines_found(path: Path) -> dict[int, list[str]]:
    return literal_secrets([path]).get(path, {})


@pytest.mark.parametrize(
    "source",
    [
        'password = "hunter2hunter2"\n',
        'connect(host="db", password="s3cr3t-value")\n',
        'config = {"api_key": "abcdef123456"}\n',
        'URL = "postgresql://etl:s3cr3t@db.example:5432/x"\n',
        'KEY = """-----BEGIN RSA PRIVATE KEY-----"""\n',
        'TOKEN_VALUE = "ghp_' + "a" * 36 + '"\n',
        'DB_PASSWORD = "correct-horse-battery"\n',
        # a name no convention knows: detect-secrets' AWS format and entropy find it
        'AWS_SECRET_ACCESS_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"\n',
        'settings = {"signing": "dGhpcyBpcyBub3QgYSByZWFsIGtleSBidXQgaGlnaCBlbnRyb3B5"}\n',
    ],
)
def test_literal_secrets_are_found_with_their_line(tmp_path, source):
    path = write(tmp_path, "flows.py", "import x\n" + source)
    assert list(lines_found(path)) == [2]


def test_one_line_is_one_finding_naming_every_detector_that_saw_it(tmp_path):
    write(
        tmp_path,
        "pipelines/x.py",
        'AWS_SECRET_ACCESS_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"\n',
    )
    findings = list(check_secrets(tmp_path))
    assert [(f.line, f.warning) for f in findings] == [(1, False)]
    assert "AWS" in findings[0].message and "get_secret()" in findings[0].message


@pytest.mark.parametrize(
    "source",
    [
        'secret = get_secret("riomidia")\n',
        'vault_secret_path = "riomidia"\n',
        'VAULT_SECRET_PATH = "db/exemplo"\n',
        'SECRET_BLOCK_TYPE = "secret"\n',
        'password = ""\n',
        'URL = "postgresql://localhost:5432/db"\n',
        'password = "hunter2hunter2"  # pragma: allowlist secret\n',
        'KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"  # pragma: allowlist secret\n',
    ],
)
def test_secret_paths_references_and_allowlisted_lines_are_not_findings(tmp_path, source):
    path = write(tmp_path, "flows.py", source)
    assert lines_found(path) == {}


def test_detect_secrets_answers_are_cached_by_content(tmp_path):
    path = write(
        tmp_path, "x.yml", "signing: dGhpcyBpcyBub3QgYSByZWFsIGtleSBidXQgaGlnaCBlbnRyb3B5\n"
    )
    cache = tmp_path / "cache.json"
    assert list(literal_secrets([path], cache)[path]) == [1]
    entry = json.loads(cache.read_text())["files"][str(path)]
    assert entry["found"]
    path.write_text("signing: from-vault\n")
    assert literal_secrets([path], cache) == {}
    assert json.loads(cache.read_text())["files"][str(path)]["found"] == []


def test_files_git_ignores_are_not_read(git_repo):
    write(git_repo, ".gitignore", ".venv/\n")
    # a tutorial's virtualenv inside the repository: Python 2 code and keys in its packages
    write(git_repo, "examples/first_flow/.venv/lib/site-packages/old.py", 'print "hi"\n')
    write(git_repo, "examples/first_flow/.venv/lib/site-packages/k.py", 'password = "abcdefgh"\n')
    write(git_repo, "examples/first_flow/run.py", "print('ok')\n")
    repo = Repository(git_repo)
    assert [repo.relative(p) for p in repo.files] == [".gitignore", "examples/first_flow/run.py"]
    assert list(check_syntax(repo)) == []
    assert list(check_secrets(repo)) == []


def test_outside_git_gitignore_is_applied(tmp_path):
    write(tmp_path, ".gitignore", ".venv/\n*.pyc\n")
    write(tmp_path, "examples/.venv/lib/old.py", 'print "hi"\n')
    write(tmp_path, "examples/a.pyc")
    write(tmp_path, "examples/a.py")
    assert [p.name for p in Repository(tmp_path).files] == [".gitignore", "a.py"]


def test_a_file_that_does_not_parse_is_a_finding_with_its_line(git_repo):
    write(git_repo, "pipelines/rj_x/p/tasks.py", "def ok():\n    return 1\n\ndef broken(:\n")
    findings = [str(f) for f in check_syntax(Repository(git_repo))]
    assert len(findings) == 1
    assert findings[0].endswith("pipelines/rj_x/p/tasks.py:4: cannot parse: invalid syntax")


def project(root: Path, folder: str, files=GUIDE_FILES) -> None:
    for name in files:
        write(root, f"{folder}/{name}")


def test_an_area_of_projects_is_a_valid_layout(git_repo):
    project(git_repo, "pipelines/rj_cor", ("__init__.py", "constants.py"))
    project(git_repo, "pipelines/rj_cor/meteorologia", ("__init__.py", "utils.py"))
    project(git_repo, "pipelines/rj_cor/meteorologia/satelite")
    project(git_repo, "pipelines/rj_cor/meteorologia/radar/precipitacao")  # deeper still
    project(git_repo, "pipelines/rj_cor/meteorologia/helpers", ("__init__.py", "geo.py"))
    project(git_repo, "pipelines/rj_cor/bolsa_familia")
    project(git_repo, "pipelines/rj_cor/novo", ("__init__.py",))  # unfinished
    repo = Repository(git_repo)
    assert [repo.relative(p) for p in project_dirs(repo)] == [
        "pipelines/rj_cor/bolsa_familia",
        "pipelines/rj_cor/meteorologia/radar/precipitacao",
        "pipelines/rj_cor/meteorologia/satelite",
        "pipelines/rj_cor/novo",
    ]
    assert {f.message for f in check_project_files(repo)} == {
        f"project 'novo' lacks {name}" for name in GUIDE_FILES[1:]
    }


def test_migrated_projects_and_the_legacy_package_are_not_errors(git_repo):
    project(git_repo, "pipelines/rj_old/relatorios", GUIDE_FILES[:-1])  # no utils.py
    project(git_repo, "pipelines/legacy/utils", ("__init__.py", "utils.py"))
    manifest = {"files": ["pipelines/rj_old/relatorios/flows.py"], "moved": {}}
    write(git_repo, MIGRATION_MANIFEST, json.dumps(manifest))
    findings = list(check_project_files(Repository(git_repo)))
    assert [(f.message, f.warning) for f in findings] == [
        ("project 'relatorios' lacks utils.py", True)
    ]
    assert str(findings[0]).endswith(": warning: project 'relatorios' lacks utils.py")


@flow(name="Relatorio de chamados")
def _old_style_flow() -> None:
    """A Prefect 1 name."""


def test_a_migrated_flow_name_is_a_warning_and_a_platform_one_an_error(git_repo):
    manifest = {"files": ["pipelines/rj_old/relatorios/flows.py"], "moved": {}}
    write(git_repo, MIGRATION_MANIFEST, json.dumps(manifest))
    repo = Repository(git_repo)
    migrated = FlowInfo(_old_style_flow, "pipelines.rj_old.relatorios.flows", "flow")
    platform = FlowInfo(_old_style_flow, "pipelines.rj_new.relatorios.flows", "flow")
    found = [(f.warning, f.message) for f in flow_findings([migrated, platform], repo)]
    name_message = "flow name 'Relatorio de chamados' does not follow 'SIGLA: orgao - description'"
    assert (True, name_message) in found
    assert (False, name_message) in found


def test_two_flows_of_one_name_are_an_error_naming_both_places(git_repo):
    repo = Repository(git_repo)
    first = FlowInfo(_old_style_flow, "pipelines.rj_inea.radar.flows", "flow")
    second = FlowInfo(_old_style_flow, "pipelines.rj_inea.dump_ftp.flows", "backfill")
    shared = [f for f in flow_findings([first, second], repo) if "overwrite" in f.message]
    assert len(shared) == 1 and not shared[0].warning  # migrated or not: one deployment for two
    assert shared[0].path == second.path
    assert f"the name of the flow at {first.path}:{first.line}" in shared[0].message
    assert not [f for f in flow_findings([first], repo) if "overwrite" in f.message]


@pytest.mark.e2e
def test_check_passes_a_migrated_checkout_with_warnings_and_names_a_planted_key(repo_copy):
    from pipelines.compat.migrate import migrate  # the test's setup: compat is not framework

    office = Path(__file__).parent.parent / "compat" / "samples" / "office"
    assert migrate([office], repo_copy).ok
    flows = repo_copy / "pipelines/rj_exemplo/relatorios/flows.py"
    flows.write_text(flows.read_text().replace("EMD: exemplo - Relatório", "Relatório"))
    env = {"NO_COLOR": "1", "PATH": "/usr/bin:/bin", "COLUMNS": "200"}
    result = run_pipelines("check", env=env, cwd=repo_copy)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "warning: flow name 'Relatório de chamados'" in result.stdout
    assert "all conventions hold" in result.stdout

    write(
        repo_copy,
        "pipelines/rj_exemplo/relatorios/utils.py",
        'AWS_SECRET_ACCESS_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"\n',
    )
    result = run_pipelines("check", env=env, cwd=repo_copy)
    assert result.returncode == 1
    assert "pipelines/rj_exemplo/relatorios/utils.py:1: literal AWS" in result.stdout

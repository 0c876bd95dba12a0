"""`pipelines check` flags credential files: `.env`, keys, service-account JSON (git-aware)."""

import json
import subprocess

import pytest

from pipelines.framework.deploy.checks import check_credential_files


@pytest.fixture
def repo(tmp_path):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    return tmp_path


def findings(root) -> dict[str, str]:
    return {f.path.relative_to(root).as_posix(): f.message for f in check_credential_files(root)}


def test_credential_files_are_flagged(repo):
    (repo / ".env").write_text("PIPELINES_AUTH_STRING=admin:x\n")
    (repo / "config").mkdir()
    (repo / "config" / ".env.prod").write_text("A=1\n")
    (repo / "config" / "sa.json").write_text(
        json.dumps({"type": "service_account", "private_key": "-----BEGIN PRIVATE KEY-----\n"})
    )
    (repo / "deploy.pem").write_text("x")
    (repo / "id_rsa").write_text("x")
    found = findings(repo)
    assert set(found) == {".env", "config/.env.prod", "config/sa.json", "deploy.pem", "id_rsa"}
    assert "service-account" in found["config/sa.json"]
    assert ".gitignore" in found[".env"]


def test_templates_ordinary_json_and_ignored_files_are_not(repo):
    (repo / ".env.example").write_text("PIPELINES_AUTH_STRING=\n")
    (repo / "schema.json").write_text(json.dumps({"type": "object", "key": "private"}))
    (repo / "broken.json").write_text("{not json")
    (repo / ".gitignore").write_text(".env\nlocal/\n")
    (repo / ".env").write_text("A=1\n")
    (repo / "local").mkdir()
    (repo / "local" / "key.pem").write_text("x")
    assert findings(repo) == {}


def test_outside_git_every_file_is_looked_at(tmp_path):
    (tmp_path / ".env").write_text("A=1\n")
    assert list(findings(tmp_path)) == [".env"]

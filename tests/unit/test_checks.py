import pytest

from pipelines.framework.deploy.checks import _secret_findings, run_checks


def test_the_repository_follows_its_own_conventions():
    assert [str(f) for f in run_checks()] == []


@pytest.mark.parametrize(
    "source",
    [
        'password = "hunter2hunter2"\n',
        'connect(host="db", password="s3cr3t-value")\n',
        'config = {"api_key": "abcdef123456"}\n',
        'URL = "postgresql://etl:s3cr3t@db.example:5432/x"\n',
        'KEY = """-----BEGIN RSA PRIVATE KEY-----"""\n',
        'TOKEN_VALUE = "ghp_' + "a" * 36 + '"\n',
    ],
)
def test_literal_secrets_are_found_with_their_line(tmp_path, source):
    path = tmp_path / "flows.py"
    path.write_text("import x\n" + source)
    findings = list(_secret_findings(path))
    assert findings
    assert findings[0].line == 2


@pytest.mark.parametrize(
    "source",
    [
        'secret = get_secret("riomidia")\n',
        'vault_secret_path = "riomidia"\n',
        'password = ""\n',
        'URL = "postgresql://localhost:5432/db"\n',
    ],
)
def test_secret_paths_and_references_are_not_findings(tmp_path, source):
    path = tmp_path / "flows.py"
    path.write_text(source)
    assert list(_secret_findings(path)) == []

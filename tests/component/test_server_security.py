"""The local server's security: basic auth, the encryption key outside the database, retention."""

import base64
import sqlite3
import stat
import uuid

import httpx
import pytest
from prefect.blocks.system import Secret
from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings

from pipelines.framework.config.settings import Settings
from pipelines.framework.stack.security import encryption_key_path
from pipelines.framework.stack.server import (
    ServerError,
    free_port,
    server_environment,
    start_server,
    stop_process_group,
)

pytestmark = pytest.mark.component
CREDENTIAL = "pipelines-admin:" + uuid.uuid4().hex


@pytest.fixture(scope="module")
def secured_server(tmp_path_factory):
    settings = Settings(home=tmp_path_factory.mktemp("secured-home"), auth_string=CREDENTIAL)
    state = start_server(settings, "127.0.0.1", free_port())
    try:
        yield settings, state.url
    finally:
        stop_process_group(state.pid)


def basic(credential: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(credential.encode()).decode()}


def test_api_calls_need_the_credential(secured_server):
    _, url = secured_server
    without = httpx.post(f"{url}/flows/filter", json={}, timeout=10)
    wrong = httpx.post(f"{url}/flows/filter", json={}, headers=basic("admin:nope"), timeout=10)
    right = httpx.post(f"{url}/flows/filter", json={}, headers=basic(CREDENTIAL), timeout=10)
    assert (without.status_code, wrong.status_code, right.status_code) == (401, 401, 200)


def test_health_and_the_ui_stay_public(secured_server):
    _, url = secured_server
    assert httpx.get(f"{url}/health", timeout=10).status_code == 200
    ui = httpx.get(url.removesuffix("/api") + "/", timeout=10, follow_redirects=True)
    assert ui.status_code == 200
    assert "<html" in ui.text.lower()


def test_the_encryption_key_lives_in_a_0600_file_not_in_the_database(secured_server):
    settings, url = secured_server
    key_file = encryption_key_path(settings)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    with temporary_settings(updates={PREFECT_API_URL: url, PREFECT_API_AUTH_STRING: CREDENTIAL}):
        Secret(value={"token": "t0k3n-" + uuid.uuid4().hex}).save("sec-check", overwrite=True)
        assert Secret.load("sec-check", _sync=True).get()["token"].startswith("t0k3n-")
    database = settings.home / "prefect" / "prefect.db"
    with sqlite3.connect(database) as connection:
        stored = connection.execute(
            "SELECT key FROM configuration WHERE key = 'ENCRYPTION_KEY'"
        ).fetchall()
    assert stored == []


def test_the_server_gets_auth_key_and_retention(tmp_path, monkeypatch):
    monkeypatch.delenv("PREFECT_SERVER_ENCRYPTION_KEY", raising=False)
    settings = Settings(home=tmp_path, auth_string="a:b", run_retention_days=7)
    env = server_environment(settings)
    assert env["PREFECT_SERVER_API_AUTH_STRING"] == "a:b"
    assert env["PREFECT_SERVER_SERVICES_DB_VACUUM_ENABLED"] == "events,flow_runs"
    assert env["PREFECT_SERVER_SERVICES_DB_VACUUM_RETENTION_PERIOD"] == str(7 * 86400)
    assert (
        env["PREFECT_SERVER_ENCRYPTION_KEY"]
        == server_environment(settings)["PREFECT_SERVER_ENCRYPTION_KEY"]
    )  # generated once, then read back
    monkeypatch.setenv("PREFECT_SERVER_ENCRYPTION_KEY", "from-the-environment")
    assert server_environment(settings)["PREFECT_SERVER_ENCRYPTION_KEY"] == "from-the-environment"


def test_no_retention_when_set_to_zero(tmp_path):
    env = server_environment(Settings(home=tmp_path, run_retention_days=0))
    assert "PREFECT_SERVER_SERVICES_DB_VACUUM_RETENTION_PERIOD" not in env


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.0.10", "::"])
def test_a_server_beyond_loopback_needs_a_credential(tmp_path, host):
    with pytest.raises(ServerError, match="PREFECT_API_AUTH_STRING"):
        start_server(Settings(home=tmp_path), host, free_port())

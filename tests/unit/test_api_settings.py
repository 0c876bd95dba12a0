"""What `api_settings` gives this process's Prefect clients: the server's URL, and for a
plain-HTTP server on this machine a CA file they never use that costs nothing to load."""

import ssl
from collections.abc import Iterator

import pytest
from prefect.client.orchestration import get_client
from prefect.settings import PREFECT_API_URL, get_current_settings, temporary_settings

from pipelines.framework.config.settings import get_settings
from pipelines.framework.stack.server import api_settings


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch) -> Iterator[None]:
    monkeypatch.setenv("PIPELINES_HOME", str(tmp_path))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _client_certificates() -> int:
    """How many CA certificates the TLS context of a Prefect client made here holds."""
    with get_client(sync_client=True) as client:
        pool = client._client._transport._pool  # pylint: disable=protected-access
        context: ssl.SSLContext = pool._ssl_context  # pylint: disable=protected-access
        return context.cert_store_stats()["x509_ca"]


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_a_client_of_a_local_http_server_loads_one_certificate_not_a_bundle(host):
    url = f"http://{host}:4200/api"
    with temporary_settings(updates={PREFECT_API_URL: "https://prefect.example.org/api"}):
        assert _client_certificates() > 1  # certifi's or the system's bundle
        with api_settings(url):
            assert get_current_settings().api.url == url
            assert _client_certificates() == 1


@pytest.mark.parametrize("url", ["https://127.0.0.1:4200/api", "http://prefect.example.org/api"])
def test_a_server_reached_over_tls_or_the_network_keeps_its_ca_file(url):
    before = get_current_settings().api.ssl_cert_file
    with api_settings(url):
        assert get_current_settings().api.url == url
        assert get_current_settings().api.ssl_cert_file == before


def test_settings_that_name_the_server_already_are_kept_as_they_are():
    url = "https://prefect.example.org/api"
    with temporary_settings(updates={PREFECT_API_URL: url}):
        before = get_current_settings()
        with api_settings(url):
            assert get_current_settings() is before  # not validated again
        with api_settings("https://other.example.org/api"):
            assert get_current_settings().api.url == "https://other.example.org/api"
        assert get_current_settings() is before

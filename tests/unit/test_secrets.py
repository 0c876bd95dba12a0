"""Secrets from Vault (the real hvac client against a local KV v2 stand-in) and the environment."""

import json
import logging

import pytest

from pipelines.framework.config.settings import Settings, get_settings
from pipelines.framework.secrets import masking
from pipelines.framework.secrets.store import (
    SecretAccessError,
    SecretError,
    SecretNotFoundError,
    backend_names,
    block_name,
    env_variable,
    read_secret,
)
from pipelines.utils.secrets import get_credentials, get_secret, get_vault_secret
from tests.support.vault_api import VaultAPI

RIOMIDIA = {"token": "riomidia-token-7f3a9c", "user": "riomidia"}


@pytest.fixture(autouse=True)
def _clean_masking():
    yield
    masking.forget_secrets()


@pytest.fixture
def vault():
    with VaultAPI() as api:
        api.data["riomidia"] = dict(RIOMIDIA)
        api.data["db/sme"] = {"username": "sme_reader", "password": "pa55-w0rd-sme"}
        yield api


def vault_settings(vault: VaultAPI, **overrides) -> Settings:
    values = {"vault_addr": vault.url, "vault_token": vault.token, "secret_backends": "vault,env"}
    return Settings(**{**values, **overrides})


@pytest.fixture
def use_settings(monkeypatch):
    """Point the process-wide settings at these variables for the public helpers."""

    def apply(**variables):
        for name, value in variables.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()

    yield apply
    get_settings.cache_clear()


def test_vault_token_reads_kv_v2(vault):
    assert read_secret("riomidia", vault_settings(vault)) == RIOMIDIA
    assert ("GET", "/v1/secret/data/riomidia") in vault.requests


def test_vault_approle_logs_in_then_reads(vault):
    settings = vault_settings(
        vault, vault_token=None, vault_role_id=vault.role_id, vault_secret_id=vault.secret_id
    )
    assert read_secret("db/sme", settings)["username"] == "sme_reader"
    assert vault.requests[0] == ("POST", "/v1/auth/approle/login")


def test_vault_wrong_approle_is_a_clear_error(vault):
    settings = vault_settings(
        vault, vault_token=None, vault_role_id=vault.role_id, vault_secret_id="wrong-secret-id"
    )
    with pytest.raises(SecretAccessError, match="AppRole login") as caught:
        read_secret("riomidia", settings)
    assert "wrong-secret-id" not in str(caught.value)


def test_vault_mount_point_is_configurable():
    with VaultAPI(mount="kv") as api:
        api.data["riomidia"] = dict(RIOMIDIA)
        assert read_secret("riomidia", vault_settings(api, vault_mount="kv")) == RIOMIDIA


def test_vault_403_names_the_path_and_never_the_token(vault):
    wrong_token = "hvs.wrong-token-0123456789abcdef"
    with pytest.raises(SecretAccessError) as caught:
        read_secret("riomidia", vault_settings(vault, vault_token=wrong_token))
    message = str(caught.value)
    assert "403" in message and "'riomidia'" in message
    assert wrong_token not in message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_vault_403_does_not_fall_back_to_the_environment(vault, monkeypatch):
    monkeypatch.setenv(env_variable("riomidia"), json.dumps({"token": "from-env"}))
    with pytest.raises(SecretAccessError):
        read_secret("riomidia", vault_settings(vault, vault_token="hvs.not-a-token-000000"))


def test_a_missing_path_falls_through_to_the_environment(vault, monkeypatch):
    monkeypatch.setenv("PIPELINES_SECRET_FTP_SMTR", json.dumps({"user": "smtr", "password": "x1"}))
    assert read_secret("ftp/smtr", vault_settings(vault)) == {"user": "smtr", "password": "x1"}


def test_a_missing_secret_names_the_path_and_every_backend_tried(vault):
    with pytest.raises(SecretNotFoundError) as caught:
        read_secret("nowhere/to/be/found", vault_settings(vault))
    message = str(caught.value)
    assert "'nowhere/to/be/found'" in message
    assert "vault, env" in message
    assert "PIPELINES_SECRET_NOWHERE_TO_BE_FOUND" in message


@pytest.mark.parametrize(
    ("path", "variable", "block"),
    [
        ("riomidia", "PIPELINES_SECRET_RIOMIDIA", "riomidia"),
        ("db/sme-prod", "PIPELINES_SECRET_DB_SME_PROD", "db-sme-prod"),
        ("ftp/SMTR_gps", "PIPELINES_SECRET_FTP_SMTR_GPS", "ftp-smtr-gps"),
    ],
)
def test_naming_schemes(path, variable, block):
    assert env_variable(path) == variable
    assert block_name(path) == block


def test_env_value_that_is_not_json_is_an_error_without_the_value(monkeypatch):
    monkeypatch.setenv("PIPELINES_SECRET_BROKEN", "plain-s3cret-value")
    with pytest.raises(SecretError) as caught:
        read_secret("broken", Settings(secret_backends="env"))
    assert "PIPELINES_SECRET_BROKEN" in str(caught.value)
    assert "plain-s3cret-value" not in str(caught.value)


def test_default_backends_follow_what_is_configured(monkeypatch):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: None}):
        assert backend_names(Settings()) == ["env"]
        assert backend_names(Settings(vault_addr="http://vault:8200")) == ["vault", "env"]
    with temporary_settings(updates={PREFECT_API_URL: "http://127.0.0.1:1/api"}):
        assert backend_names(Settings(vault_addr="http://v")) == ["vault", "prefect", "env"]
    assert backend_names(Settings(secret_backends="env, vault")) == ["env", "vault"]


def test_public_helpers_read_through_the_settings(vault, use_settings):
    use_settings(VAULT_ADDR=vault.url, VAULT_TOKEN=vault.token, PIPELINES_SECRET_BACKENDS="vault")
    assert get_vault_secret("riomidia") == get_secret("riomidia") == RIOMIDIA
    assert get_credentials("db/sme") == ("sme_reader", "pa55-w0rd-sme")


def test_get_credentials_without_a_password_names_the_keys(vault, use_settings):
    use_settings(VAULT_ADDR=vault.url, VAULT_TOKEN=vault.token, PIPELINES_SECRET_BACKENDS="vault")
    with pytest.raises(SecretError, match=r"\['token', 'user'\]"):
        get_credentials("riomidia")


def test_outside_a_run_every_call_reads_again(vault, use_settings):
    use_settings(VAULT_ADDR=vault.url, VAULT_TOKEN=vault.token, PIPELINES_SECRET_BACKENDS="vault")
    get_secret("riomidia")
    vault.data["riomidia"] = {"token": "rotated-token-000"}
    assert get_secret("riomidia") == {"token": "rotated-token-000"}


def test_values_read_are_masked_in_logs_and_exceptions(vault, caplog):
    token = read_secret("riomidia", vault_settings(vault))["token"]
    logger = logging.getLogger("pipelines")
    caplog.handler.addFilter(masking.SecretMaskingFilter())
    with caplog.at_level(logging.INFO, logger="pipelines"):
        logger.info("calling the API with %s", token)
        logger.info(f"and again inline: {token}")
        try:
            raise ValueError(f"rejected {token}")
        except ValueError:
            logger.exception("failed")
    text = caplog.text + "".join(r.getMessage() for r in caplog.records)
    assert token not in text
    assert text.count("****") >= 3
    error = ValueError(f"bad token {token}")
    masking.mask_exception(error)
    assert str(error) == "bad token ****"


def test_escaped_and_multiline_forms_are_masked_too():
    key = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----"
    masking.register_secret({"private_key": key, "pin": "12"})
    assert "MIIEvQ" not in masking.mask(json.dumps({"k": key}))
    assert masking.mask("line: MIIEvQIBADANBgkqhkiG9w0BAQEFAASC") == "line: ****"
    assert masking.mask("pin 12") == "pin 12"  # too short to mask without garbling every log


def test_reading_again_repairs_a_logging_reconfiguration():
    masking.register_secret("value-1234")
    logger = logging.getLogger("pipelines")
    for existing in list(logger.filters):
        logger.removeFilter(existing)  # what a dictConfig without our filter would leave
    masking.register_secret("value-1234")
    assert any(isinstance(f, masking.SecretMaskingFilter) for f in logger.filters)

"""Prefect 1's `prefect.utilities.exceptions`: the errors flows catch around `Client` calls."""


class PrefectError(Exception):
    """Base of Prefect 1's errors."""


class ClientError(PrefectError):
    """A `Client` call the server refused; flows catch it to go on without the server's answer."""


class AuthorizationError(ClientError):
    """A `Client` call without the right credential."""


__all__ = ["AuthorizationError", "ClientError", "PrefectError"]

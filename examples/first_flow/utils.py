# arquivo: utils.py
from prefect.exceptions import MissingContextError
from prefect.logging import get_run_logger


def log(message: str) -> None:
    """Registra uma mensagem no log da execução atual; fora de uma execução, imprime no console."""
    try:
        get_run_logger().info(message)
    except MissingContextError:
        print(message)

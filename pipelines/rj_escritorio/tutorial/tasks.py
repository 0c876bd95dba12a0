"""
Tasks of the tutorial flow: download users from the API, parse them, save the report.
"""

from io import StringIO

import pandas as pd
from prefect import task

from pipelines.rj_escritorio.tutorial.utils import check_is_csv, count_csv_rows
from pipelines.utils import http
from pipelines.utils.utils import atomic_write, log


@task(
    retries=len(http.RETRY_DELAYS_SECONDS),
    retry_delay_seconds=http.RETRY_DELAYS_SECONDS,
    retry_condition_fn=http.retry_on_transient_http_error,
)
def download_data(n_users: int, api_url: str) -> str:
    """
    Baixa dados da API randomuser e retorna um texto em formato CSV.

    Args:
        n_users: número de usuários a serem baixados.
        api_url: endereço base da API (por padrão, https://randomuser.me/api/).

    Returns:
        Texto em formato CSV, com um cabeçalho e uma linha por usuário.
    """
    response = http.get(api_url, params={"results": n_users, "format": "csv"})
    check_is_csv(response.text, response.headers.get("content-type", ""))
    received = count_csv_rows(response.text)
    if received != n_users:
        raise ValueError(f"a API devolveu {received} usuários, esperados {n_users}")
    log("Dados baixados com sucesso!")
    return response.text


@task
def parse_data(data: str) -> pd.DataFrame:
    """
    Transforma o CSV em um DataFrame, mantendo cada valor exatamente como veio.

    Args:
        data: texto em formato CSV.

    Returns:
        DataFrame com uma coluna de texto por campo do CSV.
    """
    dataframe = pd.read_csv(StringIO(data), dtype=str, keep_default_na=False)
    log("Dados convertidos em DataFrame com sucesso!")
    return dataframe


@task
def save_report(dataframe: pd.DataFrame, path: str) -> str:
    """
    Salva o DataFrame em um arquivo CSV; um relatório anterior só é trocado se tudo der certo.

    Args:
        dataframe: DataFrame do Pandas.
        path: caminho do arquivo CSV.

    Returns:
        O caminho do relatório salvo.
    """
    with atomic_write(path, newline="", encoding="utf-8") as handle:
        dataframe.to_csv(handle, index=False)
    log(f"Dados salvos em {path} com sucesso!")
    return path

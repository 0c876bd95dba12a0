# arquivo: tasks.py
import os
from io import StringIO

import httpx
import pandas as pd
from prefect import task

from utils import log

API_URL = os.environ.get("RANDOMUSER_API_URL", "https://randomuser.me/api/")


@task(retries=2, retry_delay_seconds=5)
def download_data(n_users: int) -> str:
    """
    Baixa dados da API https://randomuser.me e retorna um texto em formato CSV.

    Args:
        n_users (int): número de usuários a serem baixados.

    Returns:
        str: texto em formato CSV.
    """
    response = httpx.get(
        API_URL,
        params={"results": n_users, "format": "csv"},
        timeout=30,
        follow_redirects=True,
    )
    response.raise_for_status()
    log("Dados baixados com sucesso!")
    return response.text


@task
def parse_data(data: str) -> pd.DataFrame:
    """
    Transforma os dados em formato CSV em um DataFrame do Pandas, para facilitar sua manipulação.

    Args:
        data (str): texto em formato CSV.

    Returns:
        pd.DataFrame: DataFrame do Pandas.
    """
    df = pd.read_csv(StringIO(data), dtype=str, keep_default_na=False)
    log("Dados convertidos em DataFrame com sucesso!")
    return df


@task
def save_report(dataframe: pd.DataFrame) -> None:
    """
    Salva o DataFrame em um arquivo CSV.

    Args:
        dataframe (pd.DataFrame): DataFrame do Pandas.
    """
    dataframe.to_csv("report.csv", index=False)
    log("Dados salvos em report.csv com sucesso!")

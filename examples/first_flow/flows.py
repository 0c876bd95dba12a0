# arquivo: flows.py
from prefect import flow

from tasks import (
    download_data,
    parse_data,
    save_report,
)


@flow(name="Users report")
def users_report(n_users: int = 10) -> None:
    """Baixa `n_users` usuários da API e salva o relatório em report.csv."""
    # Tasks
    data = download_data(n_users)
    dataframe = parse_data(data)
    save_report(dataframe)

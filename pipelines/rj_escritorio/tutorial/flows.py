"""
The guide's first flow: download users from an API, turn them into a table, save a CSV report.
"""

from typing import Annotated

from pydantic import Field

from pipelines.framework.runtime import flow
from pipelines.rj_escritorio.constants import constants as escritorio_constants
from pipelines.rj_escritorio.tutorial.constants import constants
from pipelines.rj_escritorio.tutorial.schedules import every_day_at_four_am
from pipelines.rj_escritorio.tutorial.tasks import download_data, parse_data, save_report


@flow(
    name=f"{escritorio_constants.FLOW_PREFIX.value} - Users report",
    code_owners=escritorio_constants.CODE_OWNERS.value,
)
def users_report(
    n_users: Annotated[
        int, Field(ge=1, le=constants.MAX_USERS.value)
    ] = constants.DEFAULT_USERS.value,
    api_url: str = constants.API_URL.value,
    output_path: str = constants.REPORT_PATH.value,
) -> str:
    """Baixa `n_users` usuários da API e salva o relatório em `output_path`.

    Args:
        n_users: Quantos usuários baixar da API (de 1 ao máximo do projeto).
        api_url: Endereço da API de usuários (a randomuser, ou um substituto local).
        output_path: Onde salvar o relatório CSV.
    """
    data = download_data(n_users, api_url)
    dataframe = parse_data(data)
    return save_report(dataframe, output_path)


users_report.schedule = every_day_at_four_am

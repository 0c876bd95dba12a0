"""
Helpers of the Prefect 1 compat layer: names as Prefect 3 accepts them.
"""

from pipelines.compat.prefect1.constants import constants
from pipelines.framework.config import current_environment

_BANNED = str.maketrans(constants.BANNED_NAME_CHARACTERS.value)


def prefect3_name(name: str) -> str:
    """A Prefect 1 flow name as Prefect 3 accepts it (`/ % & < >` become look-alikes)."""
    return name.translate(_BANNED)


def deployment_name(flow_name: str) -> str:
    """The deployment of the flow named `flow_name` in this process's environment."""
    return constants.DEPLOYMENT_NAME.value.format(
        flow_name=prefect3_name(flow_name), environment=current_environment().name
    )

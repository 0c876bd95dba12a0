"""
Names as Prefect 3 accepts them: Prefect 1 flow names, and the deployment a child run starts.
"""

from pipelines.framework import deploy
from pipelines.framework.config import current_environment

BANNED_NAME_CHARACTERS = str.maketrans(
    {"/": "\u2215", "%": "\uff05", "&": "\uff06", "<": "\u2039", ">": "\u203a"}
)
"""Characters Prefect 3 refuses in flow names, and the look-alikes that stand in for them."""


def prefect3_name(name: str) -> str:
    """A Prefect 1 flow name as Prefect 3 accepts it (`/ % & < >` become look-alikes)."""
    return name.translate(BANNED_NAME_CHARACTERS)


def deployment_name(flow_name: str) -> str:
    """What `create_flow_run(flow_name=...)` starts: the flow's deployment in this process's
    environment, named as `pipelines register` names it (`<flow>/<deployment>`)."""
    name = prefect3_name(flow_name)
    return f"{name}/{deploy.deployment_name(name, current_environment())}"

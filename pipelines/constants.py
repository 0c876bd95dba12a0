"""
Constant values shared by every orgao. A change here affects every flow: take care.
"""

from enum import Enum


class constants(Enum):  # pylint: disable=c0103
    """
    Global constants: agent labels, environments and defaults.
    """

    # Agent labels: each label names the work pool whose workers run the flow.
    RJ_ESCRITORIO_AGENT_LABEL = "rj-escritorio"
    RJ_ESCRITORIO_DEV_AGENT_LABEL = "rj-escritorio-dev"

    # Environments a flow can be registered to.
    ENV_LOCAL = "local"
    ENV_STAGING = "staging"
    ENV_PROD = "prod"

    # Defaults.
    DEFAULT_TIMEZONE = "America/Sao_Paulo"
    DEFAULT_AGENT_LABEL = "rj-escritorio-dev"
    """Label of flows that have no schedule (they still need a worker for manual runs)."""
    FLOW_NAME_PATTERN = r"^[A-Z][A-Z0-9]{1,9}: [a-z0-9_]+ - \S.*$"

    # Chat mentions of code owners in failure alerts: Discord `<@user id>` / `<@&role id>`, Slack
    # `<@U...>`. An owner not listed here is written as `@owner`. (Example ids: set the real ones.)
    CODE_OWNERS_MENTIONS = {  # noqa: RUF012  (an Enum member: read, never mutated)
        "paty": "<@100000000000000001>",
        "pipeliners": "<@&100000000000000002>",
    }

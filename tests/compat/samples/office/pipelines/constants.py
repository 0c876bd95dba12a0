# -*- coding: utf-8 -*-
"""
Constantes globais do repositório antigo.
"""
from enum import Enum


class constants(Enum):  # pylint: disable=c0103
    """
    Valores constantes para todos os órgãos.
    """

    DOCKER_IMAGE = "ghcr.io/exemplo/pipelines:latest"
    GCS_FLOWS_BUCKET = "datario-public"
    PREFECT_DEFAULT_PROJECT = "main"
    RJ_EXEMPLO_AGENT_LABEL = "rj-exemplo"
    RJ_EXEMPLO_DEV_AGENT_LABEL = "rj-exemplo-dev"
    EMD_DISCORD_WEBHOOK_SECRET_PATH = "prefect-discord-webhook"

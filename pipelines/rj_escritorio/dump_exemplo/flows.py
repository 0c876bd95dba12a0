"""
Dumps of the exemplo database: the generic dump_db flow, one scheduled copy for the project.
"""

from pipelines.framework.runtime import instantiate
from pipelines.rj_escritorio.constants import constants as escritorio_constants
from pipelines.rj_escritorio.dump_exemplo.schedules import exemplo_daily
from pipelines.utils.dump_db.flows import dump_db

dump_exemplo = instantiate(
    dump_db,
    name=f"{escritorio_constants.FLOW_PREFIX.value} - Dump exemplo",
    code_owners=escritorio_constants.CODE_OWNERS.value,
    schedule=exemplo_daily,
)

from prefect import task

from pipelines.rj_escritorio.geolocator.constants import constants
from pipelines.utils.utils import log

@task
def do_something():
    log(f"geolocalizando {constants.DATASET_ID.value}.{constants.TABLE_ID.value}")

"""
The generic "dump a database table" flow: source -> Arrow batches -> Parquet in the lake's
staging -> one atomic warehouse load -> lake publish -> optional dbt materialization.

Projects make their own scheduled copy with `pipelines.framework.runtime.instantiate`.
"""

from typing import Any, Literal

from pipelines.framework.runtime import flow
from pipelines.utils.dump_db.tasks import extract_to_lake, read_watermark
from pipelines.utils.loading.parallel import DumpTaskRunner
from pipelines.utils.loading.tasks import (
    AfterLoad,
    DumpRun,
    LoadGuards,
    TableLayout,
    finish_dump,
    run_dump,
)
from pipelines.utils.utils import log


@flow(name="EMD: utils - Dump database", code_owners=["pipeliners"], task_runner=DumpTaskRunner())
def dump_db(  # pylint: disable=too-many-locals
    db_type: Literal["postgres", "mysql", "sqlserver", "sql_server", "oracle"],
    db_host: str,
    db_port: int,
    db_database: str,
    dataset_id: str,
    table_id: str,
    execute_query: str | None = None,
    table: str | None = None,
    vault_secret_path: str | None = None,
    dump_mode: Literal["append", "overwrite"] = "overwrite",
    batch_size: int = 100_000,
    read_parallelism: int = 2,
    partition_columns: list[str] | None = None,
    incremental_column: str | None = None,
    primary_key: list[str] | None = None,
    allow_shrink: bool = False,
    schema_change: Literal["error", "replace"] = "error",
    cluster_columns: list[str] | None = None,
    partition_range: dict[str, int] | None = None,
    materialize_after_dump: bool = False,
    materialization_mode: str = "dev",
    dbt_vars: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Copia uma tabela (ou consulta) de um banco para o lake e o warehouse.

    Com `incremental_column`, lê só as linhas a partir do último valor carregado (guardado no
    warehouse na mesma transação da carga) e anexa: linhas que chegam atrasadas com esse mesmo
    valor entram, e reexecutar nunca duplica linhas.

    Uma `table` do PostgreSQL (14+) é lida por até `read_parallelism` COPYs simultâneos, cada
    um numa faixa de blocos, todos no mesmo snapshot; 1 lê com um só.

    Duas execuções da mesma tabela nunca gravam juntas: a segunda espera a primeira
    (`PIPELINES_TABLE_LEASE_WAIT` segundos) e então termina como Skipped, sem carregar nada.

    Args:
        db_type: Banco de origem: postgres, mysql (MariaDB também), sqlserver ou oracle.
        db_host: Endereço do servidor de origem.
        db_port: Porta do servidor de origem.
        db_database: Banco (database) de origem.
        dataset_id: Dataset de destino no warehouse, como escrito no projeto (o ambiente de
            staging acrescenta seu sufixo).
        table_id: Tabela de destino no warehouse.
        execute_query: Consulta a copiar (informe ela ou `table`).
        table: Tabela a copiar inteira, `schema.tabela` (informe ela ou `execute_query`).
        vault_secret_path: Caminho do segredo com `user` e `password` da origem.
        dump_mode: `overwrite` troca a tabela; `append` acrescenta as linhas lidas.
        batch_size: Linhas por lote lido da origem (e por linha de progresso no log).
        read_parallelism: Leituras simultâneas de uma `table` do PostgreSQL.
        partition_columns: Colunas de partição do lake; uma coluna de data gera
            `ano_particao/mes_particao/data_particao`.
        incremental_column: Coluna crescente (id, data de atualização): só as linhas a partir
            do último valor carregado são lidas e anexadas. Linhas com essa coluna NULL (ou NaN,
            numa coluna de ponto flutuante) entram só na primeira carga; as que chegarem depois
            assim não são lidas (o log diz quantas havia).
        primary_key: Colunas que identificam uma linha, para reconhecer as já carregadas no
            último valor incremental (uma linha editada ou uma coluna nova na origem não viram
            linhas novas); lidas do catálogo da origem quando `table` tem chave. Sem chave, as
            linhas são reconhecidas pelo conteúdo, e uma editada seria anexada de novo.
        allow_shrink: Permite que um `overwrite` encolha a tabela além da fração permitida
            (`PIPELINES_MAX_SHRINK`, 0.1): sem ele, uma versão nova menor (um arquivo ou
            consulta cortados) falha e a tabela anterior fica.
        schema_change: `error` recusa colunas removidas ou com tipo mudado; `replace` (só em
            `overwrite`) troca a tabela pela nova forma. Colunas novas entram sempre.
        cluster_columns: Colunas (até 4) pelas quais o BigQuery agrupa a tabela (clustering).
        partition_range: `{"start", "end", "interval"}` das faixas de uma primeira coluna de
            partição inteira no BigQuery (uma de data particiona por dia, sem isto); sem ele,
            a coluna inteira agrupa (clustering) em vez de particionar.
        materialize_after_dump: Roda o dbt da tabela (e dos modelos que dependem dela) depois
            da carga.
        materialization_mode: Alvo do dbt na materialização (`dev`, `prod`).
        dbt_vars: Variáveis passadas ao dbt na materialização.
    """
    if incremental_column and dump_mode != "append":
        log("dump incremental: usando dump_mode='append'")
        dump_mode = "append"
    run = DumpRun.start(
        dataset_id,
        table_id,
        mode=dump_mode,
        source=f"{db_type}://{db_host}:{db_port}/{db_database}",
        after_load=AfterLoad(materialize_after_dump, materialization_mode, dbt_vars),
        guards=LoadGuards(allow_shrink, schema_change),
        layout=TableLayout(tuple(cluster_columns or ()), partition_range),
    )

    def extract_and_load() -> dict[str, Any]:
        previous_state = (
            read_watermark(run.warehouse, run.dataset, table_id, incremental_column)
            if incremental_column
            else None
        )
        staged, state = extract_to_lake(
            run.lake,
            {
                "db_type": db_type,
                "host": db_host,
                "port": db_port,
                "database": db_database,
                "vault_secret_path": vault_secret_path,
            },
            execute_query=execute_query,
            table=table,
            run_id=run.run_id,
            dataset=run.dataset,
            table_id=table_id,
            batch_size=batch_size,
            read_parallelism=read_parallelism,
            partition_columns=partition_columns,
            incremental_column=incremental_column,
            primary_key=primary_key,
            previous_state=previous_state,
        )
        return finish_dump(run, staged, state, read_state=previous_state)

    return run_dump(run, extract_and_load)

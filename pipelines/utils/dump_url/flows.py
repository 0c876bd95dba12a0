"""
The generic "dump a file from a URL" flow: CSV, JSON, JSON lines or Parquet over HTTP(S) (Google
Sheets/Drive share links too) -> disk -> streamed Parquet in the lake -> one atomic warehouse load.
"""

import tempfile
from pathlib import Path
from typing import Any, Literal

from pipelines.framework.runtime import flow
from pipelines.utils.dump_url.tasks import convert_to_lake, download_file
from pipelines.utils.loading.tasks import (
    AfterLoad,
    DumpRun,
    LoadGuards,
    TableLayout,
    finish_dump,
    run_dump,
)


@flow(name="EMD: utils - Dump URL", code_owners=["pipeliners"])
def dump_url(  # pylint: disable=too-many-locals
    url: str,
    dataset_id: str,
    table_id: str,
    file_format: Literal["csv", "json", "jsonl", "parquet"] = "csv",
    encoding: str = "utf-8",
    separator: str = ",",
    on_bad_lines: Literal["error", "skip"] = "error",
    infer_types: bool = False,
    vault_secret_path: str | None = None,
    dump_mode: Literal["append", "overwrite"] = "overwrite",
    batch_size: int = 100_000,
    partition_columns: list[str] | None = None,
    zip_member: str | None = None,
    allow_shrink: bool = False,
    schema_change: Literal["error", "replace"] = "error",
    cluster_columns: list[str] | None = None,
    partition_range: dict[str, int] | None = None,
    materialize_after_dump: bool = False,
    materialization_mode: str = "dev",
    dbt_vars: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Baixa um arquivo de uma URL e o carrega no lake e no warehouse.

    CSV vira colunas de texto (como no sistema original) salvo `infer_types=True`. Arquivos
    gzip, bzip2, xz ou ZIP são descompactados; num ZIP com vários arquivos, `zip_member` diz
    qual carregar.

    Cada tentativa de download espera no máximo `PIPELINES_HTTP_TIMEOUT` segundos para conectar
    e para cada leitura, e termina em `PIPELINES_HTTP_TIMEOUT` segundos mais 1 s a cada 64 KiB
    recebidos; com as 3 novas tentativas, uma fonte parada falha em cerca de
    4 x `PIPELINES_HTTP_TIMEOUT` + 7 s. Um corpo cortado (Content-Length, chunked ou gzip
    incompletos) falha e mantém a tabela.

    Duas execuções da mesma tabela nunca gravam juntas: a segunda espera a primeira
    (`PIPELINES_TABLE_LEASE_WAIT` segundos) e então termina como Skipped, sem carregar nada.

    Args:
        url: Endereço do arquivo (links de compartilhamento do Google Sheets e Drive também).
        dataset_id: Dataset de destino no warehouse, como escrito no projeto (o ambiente de
            staging acrescenta seu sufixo).
        table_id: Tabela de destino no warehouse.
        file_format: Formato do arquivo: csv, json (um array), jsonl ou parquet.
        encoding: Codificação do texto (csv, json, jsonl), por exemplo `latin-1`; o JSON é
            convertido para UTF-8.
        separator: Separador de colunas do CSV.
        on_bad_lines: `error` falha numa linha malformada; `skip` a ignora e avisa no log.
        infer_types: Infere os tipos das colunas do CSV (sem ele, todas são texto).
        vault_secret_path: Caminho do segredo com as credenciais da URL (token ou usuário e
            senha).
        dump_mode: `overwrite` troca a tabela; `append` acrescenta as linhas do arquivo.
        batch_size: Linhas por lote (e por linha de progresso no log).
        partition_columns: Colunas de partição do lake; uma coluna de data gera
            `ano_particao/mes_particao/data_particao`.
        zip_member: O arquivo a carregar de um ZIP que tem vários.
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
    run = DumpRun.start(
        dataset_id,
        table_id,
        mode=dump_mode,
        source=url,
        after_load=AfterLoad(materialize_after_dump, materialization_mode, dbt_vars),
        guards=LoadGuards(allow_shrink, schema_change),
        layout=TableLayout(tuple(cluster_columns or ()), partition_range),
    )

    def extract_and_load() -> dict[str, Any]:
        with tempfile.TemporaryDirectory(prefix="dump_url-") as folder:
            path = download_file(url, Path(folder) / f"download.{file_format}", vault_secret_path)
            staged = convert_to_lake(
                run.lake,
                path,
                file_format=file_format,
                run_id=run.run_id,
                dataset=run.dataset,
                table_id=table_id,
                encoding=encoding,
                separator=separator,
                on_bad_lines=on_bad_lines,
                infer_types=infer_types,
                batch_size=batch_size,
                partition_columns=partition_columns,
                zip_member=zip_member,
            )
        return finish_dump(run, staged)

    return run_dump(run, extract_and_load)

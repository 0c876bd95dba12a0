{#-
    models/<dataset_id>/<table_id>.sql -> dataset `<dataset_id><pipelines_dataset_suffix>`.
    The materialize flow sets the suffix from the environment (`_local`, `_staging`, or none in
    prod), so a staging run never writes a prod dataset. A `schema` config names the dataset_id
    explicitly; anything outside a dataset folder goes to the target's schema.
-#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is not none -%}
        {{ custom_schema_name | trim }}{{ var('pipelines_dataset_suffix') }}
    {%- elif node.fqn | length > 2 -%}
        {{ node.fqn[1] }}{{ var('pipelines_dataset_suffix') }}
    {%- else -%}
        {{ target.schema }}
    {%- endif -%}
{%- endmacro %}

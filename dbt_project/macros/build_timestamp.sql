{#- The start of this dbt invocation as a zone-less UTC timestamp: the built_at of every row written by the run. -#}
{% macro build_timestamp() -%}
    cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S.%f") }}' as timestamp)
{%- endmacro %}

{#- Write to the schema a folder names (staging, intermediate, marts) as is, not prefixed with
    the target's schema (dbt's default would give main_marts). -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}

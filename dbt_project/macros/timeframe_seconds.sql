{#- Length of one bar in seconds for a ccxt timeframe string column ('1m', '4h', '1d', '1w');
    NULL for anything else, which the not_null tests on available_at then report. -#}
{% macro timeframe_seconds(timeframe) -%}
    (
        try_cast(regexp_extract({{ timeframe }}, '^(\d+)[mhdw]$', 1) as integer)
        * case right({{ timeframe }}, 1)
            when 'm' then 60
            when 'h' then 3600
            when 'd' then 86400
            when 'w' then 604800
        end
    )
{%- endmacro %}

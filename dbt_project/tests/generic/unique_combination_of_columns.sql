{#-
    Fails for each combination of `combination_of_columns` that occurs more than once.

    With `batch_column` (a column holding when the row was built), only the rows of the latest
    build are checked. That keeps the test cheap on an incremental table of millions of rows
    and still complete: delete+insert on the unique key removes every existing row whose key
    is in the new batch, so a duplicate can only come from within a batch, and a full refresh
    is one batch.
-#}
{% test unique_combination_of_columns(model, combination_of_columns, batch_column=none) %}
{%- set columns_csv = combination_of_columns | join(', ') -%}

with

checked_rows as (
    select {{ columns_csv }}
    from {{ model }}
    {% if batch_column %}
    where {{ batch_column }} = (select max({{ batch_column }}) from {{ model }})
    {% endif %}
),

duplicates as (
    select
        {{ columns_csv }},
        count(*) as occurrences,
    from checked_rows
    group by {{ columns_csv }}
    having count(*) > 1
)

select * from duplicates

{% endtest %}

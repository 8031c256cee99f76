{#- Fails for each row where `expression` is false (NULL counts as passing: indicators in warm-up are NULL). -#}
{% test expression_is_true(model, expression) %}

select *
from {{ model }}
where not ({{ expression }})

{% endtest %}

-- One row per ingest batch (ingest_batches is written by the ingest in the same transaction as
-- the batch's rows). fct_features reads the finished_at of sentiment batches to find sentiment
-- stored after its last build.
with

source as (
    select * from {{ source('warehouse', 'ingest_batches') }}
),

renamed as (
    select
        id as batch_id,
        source,
        table_name,
        status,
        cast(started_at as timestamp) as started_at,
        cast(finished_at as timestamp) as finished_at,
    from source
)

select * from renamed

-- One row per Customer.io event: the first copy published, with how many copies arrived.
-- Duplicates are normal: Customer.io retries (the same event_id again), Pub/Sub redelivers and
-- the BigQuery subscription writes at least once. Query this view, not the table, for counts.
SELECT
  * EXCEPT (copy_rank)
FROM (
  SELECT
    *,
    COUNT(*) OVER (PARTITION BY event_id) AS copies,
    ROW_NUMBER() OVER (PARTITION BY event_id ORDER BY publish_time, message_id) AS copy_rank
  FROM `${project}.${dataset}.webhook_events`
)
WHERE copy_rank = 1

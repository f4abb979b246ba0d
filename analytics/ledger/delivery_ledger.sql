-- One row per handler decision (the delivery ledger), deduplicated. Cloud Logging can route the
-- same entry twice (same insertId), and lines arrive late: order by `timestamp` (when the handler
-- decided), never by arrival. JSON numbers arrive as FLOAT; cast back to integers here.
SELECT
  * EXCEPT (copy_rank)
FROM (
  SELECT
    timestamp AS logged_at,
    resource.labels.service_name AS handler_service,
    jsonPayload.event_id AS event_id,
    jsonPayload.message_id AS message_id,
    jsonPayload.action AS action,
    jsonPayload.decision AS decision,
    jsonPayload.reason AS reason,
    jsonPayload.detail AS detail,
    CAST(jsonPayload.attempt AS INT64) AS attempt,
    CAST(jsonPayload.cio_status AS INT64) AS cio_status,
    jsonPayload.latency_ms AS latency_ms,
    jsonPayload.person_hash AS person_hash,
    jsonPayload.replay_of AS replay_of,
    ROW_NUMBER() OVER (PARTITION BY insertId ORDER BY receiveTimestamp) AS copy_rank
  FROM `${project}.${ledger}.run_googleapis_com_stdout`
  WHERE jsonPayload.decision IS NOT NULL
)
WHERE copy_rank = 1

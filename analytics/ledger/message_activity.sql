-- Customer.io's side per delivery (one message to one person), from the deduplicated reporting
-- webhooks: when it was sent, delivered, opened, clicked, bounced or failed. `person_hash` is
-- computed as the ledger computes it (contract.person_hash): one row per identifier kind the
-- webhook names, so a person keyed by id or by email both find their messages. (The doubled
-- dollar is the stacks' template escape for one.)
WITH keyed AS (
  SELECT
    events.* EXCEPT (hashes),
    person_hash
  FROM (
    SELECT
      delivery_id,
      campaign_id,
      broadcast_id,
      action_id,
      object_type,
      metric,
      timestamp,
      [
        TO_HEX(SHA256(CONCAT('id:', COALESCE(JSON_VALUE(data, '$$.identifiers.id'), customer_id)))),
        TO_HEX(SHA256(CONCAT('email:', LOWER(TRIM(JSON_VALUE(data, '$$.identifiers.email')))))),
        TO_HEX(SHA256(CONCAT('cio_id:', JSON_VALUE(data, '$$.identifiers.cio_id'))))
      ] AS hashes
    FROM `${project}.${dataset}.webhook_events_deduplicated`
    WHERE delivery_id IS NOT NULL
  ) AS events
  CROSS JOIN UNNEST(events.hashes) AS person_hash
  WHERE person_hash IS NOT NULL
)
SELECT
  person_hash,
  delivery_id,
  ANY_VALUE(campaign_id) AS campaign_id,
  ANY_VALUE(broadcast_id) AS broadcast_id,
  ANY_VALUE(action_id) AS action_id,
  ANY_VALUE(object_type) AS channel,
  MIN(IF(metric = 'sent', timestamp, NULL)) AS sent_at,
  MIN(IF(metric = 'delivered', timestamp, NULL)) AS delivered_at,
  MIN(IF(metric = 'opened', timestamp, NULL)) AS opened_at,
  MIN(IF(metric = 'clicked', timestamp, NULL)) AS clicked_at,
  MIN(IF(metric = 'bounced', timestamp, NULL)) AS bounced_at,
  MIN(IF(metric IN ('failed', 'dropped', 'undeliverable'), timestamp, NULL)) AS failed_at,
  ARRAY_AGG(metric ORDER BY timestamp DESC LIMIT 1)[OFFSET(0)] AS last_metric
FROM keyed
GROUP BY person_hash, delivery_id

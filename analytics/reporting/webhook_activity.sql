-- One row per webhook event (duplicates removed), with no personal data: no customer id, no
-- `data` (it holds recipients, addresses and attributes), no message attributes. The view
-- for the analytics readers: it is authorized on the raw dataset, which they cannot read.
SELECT
  event_id,
  object_type,
  metric,
  timestamp,
  delivery_id,
  journey_id,
  campaign_id,
  broadcast_id,
  newsletter_id,
  action_id,
  transactional_message_id
FROM `${project}.${dataset}.webhook_events`
WHERE TRUE
QUALIFY ROW_NUMBER() OVER (PARTITION BY event_id ORDER BY publish_time) = 1

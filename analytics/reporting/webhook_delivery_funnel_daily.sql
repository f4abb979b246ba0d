-- Daily delivery funnel per campaign, broadcast, newsletter or transactional message and
-- channel: how many deliveries (distinct delivery_id) reached each metric on that day.
-- Counting distinct deliveries makes duplicate events harmless without the dedupe view, and
-- counts a delivery opened three times once. Days are the day of each event (UTC): a message
-- sent on Monday and opened on Tuesday counts as sent Monday and opened Tuesday.
SELECT
  DATE(timestamp) AS event_date,
  object_type AS channel,
  CASE
    WHEN campaign_id IS NOT NULL THEN 'campaign'
    WHEN broadcast_id IS NOT NULL THEN 'broadcast'
    WHEN newsletter_id IS NOT NULL THEN 'newsletter'
    ELSE 'transactional'
  END AS source,
  COALESCE(campaign_id, broadcast_id, newsletter_id, transactional_message_id) AS source_id,
  COUNT(DISTINCT IF(metric = 'sent', COALESCE(delivery_id, event_id), NULL)) AS sent,
  COUNT(DISTINCT IF(metric = 'delivered', COALESCE(delivery_id, event_id), NULL)) AS delivered,
  COUNT(DISTINCT IF(metric = 'opened', COALESCE(delivery_id, event_id), NULL)) AS opened,
  COUNT(DISTINCT IF(metric = 'clicked', COALESCE(delivery_id, event_id), NULL)) AS clicked,
  COUNT(DISTINCT IF(metric = 'converted', COALESCE(delivery_id, event_id), NULL)) AS converted,
  COUNT(DISTINCT IF(metric = 'bounced', COALESCE(delivery_id, event_id), NULL)) AS bounced,
  COUNT(DISTINCT IF(metric = 'spammed', COALESCE(delivery_id, event_id), NULL)) AS spammed,
  COUNT(DISTINCT IF(metric = 'unsubscribed', COALESCE(delivery_id, event_id), NULL))
    AS unsubscribed
FROM `${project}.${dataset}.webhook_events`
WHERE
  object_type != 'customer'
  AND COALESCE(campaign_id, broadcast_id, newsletter_id, transactional_message_id) IS NOT NULL
GROUP BY event_date, channel, source, source_id

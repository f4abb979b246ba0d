-- One row per person (by hash): our side (events, final decisions, dead letters, replays) next
-- to Customer.io's (messages sent, delivered, opened, bounced, failed). A person with rows on one
-- side only is a finding in itself: published but never delivered, or messaged without events.
WITH ours AS (
  SELECT
    person_hash,
    COUNT(*) AS events,
    COUNTIF(final_decision = 'delivered') AS events_delivered,
    COUNTIF(final_decision = 'retry') AS events_retrying,
    COUNTIF(final_decision = 'dead_lettered') AS events_dead_lettered,
    COUNTIF(replayed) AS events_replayed,
    MIN(first_seen) AS first_seen,
    MAX(last_seen) AS last_decision_at
  FROM `${project}.${ledger}.delivery_by_event`
  WHERE person_hash != ''
  GROUP BY person_hash
),
theirs AS (
  SELECT
    person_hash,
    COUNT(*) AS messages,
    COUNTIF(sent_at IS NOT NULL) AS messages_sent,
    COUNTIF(delivered_at IS NOT NULL) AS messages_delivered,
    COUNTIF(opened_at IS NOT NULL) AS messages_opened,
    COUNTIF(bounced_at IS NOT NULL) AS messages_bounced,
    COUNTIF(failed_at IS NOT NULL) AS messages_failed,
    MAX(COALESCE(opened_at, delivered_at, sent_at, bounced_at, failed_at)) AS last_message_at
  FROM `${project}.${ledger}.message_activity`
  GROUP BY person_hash
)
SELECT * FROM ours FULL OUTER JOIN theirs USING (person_hash)

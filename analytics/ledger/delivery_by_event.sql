-- Our side of one event: first seen, attempts, the final decision (the latest by decision time,
-- so a late-arriving earlier line never overrides it), dead-lettered and why, replayed.
WITH dead_letters AS (
  SELECT
    event_id,
    ARRAY_AGG(reason ORDER BY logged_at DESC LIMIT 1)[OFFSET(0)] AS dead_letter_reason
  FROM `${project}.${ledger}.delivery_ledger`
  WHERE decision = 'dead_lettered'
  GROUP BY event_id
),
decisions AS (
  SELECT
    event_id,
    ANY_VALUE(person_hash) AS person_hash,
    ANY_VALUE(action) AS action,
    MIN(logged_at) AS first_seen,
    MAX(logged_at) AS last_seen,
    COUNT(*) AS attempts,
    ARRAY_AGG(decision ORDER BY logged_at DESC LIMIT 1)[OFFSET(0)] AS final_decision,
    ARRAY_AGG(reason ORDER BY logged_at DESC LIMIT 1)[OFFSET(0)] AS final_reason,
    ARRAY_AGG(cio_status ORDER BY logged_at DESC LIMIT 1)[OFFSET(0)] AS final_cio_status,
    LOGICAL_OR(decision = 'delivered') AS delivered,
    COUNTIF(decision = 'retry') AS retries,
    LOGICAL_OR(decision = 'dead_lettered') AS dead_lettered,
    LOGICAL_OR(replay_of != '') AS replayed
  FROM `${project}.${ledger}.delivery_ledger`
  WHERE event_id != ''
  GROUP BY event_id
)
SELECT decisions.*, dead_letters.dead_letter_reason
FROM decisions LEFT JOIN dead_letters USING (event_id)

-- Point-in-time member features and churn labels, one row per (member_id, as_of).
--
-- Every step below is one SELECT in the subset of SQL that DuckDB and Apache Spark SQL both run
-- unchanged (see ../shared/MEASURED.md): INTERVAL 'n' DAY, CAST(x AS DATE), COUNT(CASE ...),
-- EXTRACT(DAY FROM timestamp - timestamp) for day differences, windows with explicit frames,
-- BIT_OR and BIT_COUNT on BIGINT. features/member_features.py materialises each step as a
-- temporary table named after it ("step", read more than once) or a view ("view", read once,
-- so the engine inlines it), and fills the dollar-brace slots with literals and generated columns.
--
-- Inputs: events, members, subscriptions (canonical tables) and steward_as_of (as_of DATE).
-- A day is a UTC day; as_of T means the end of day T: features see days <= T, labels (T, T+h].
--
-- How it stays fast (10M events in seconds): events are read once into parts per member,
-- bucket and event type. Buckets are ranges of days cut at every window edge of every as_of,
-- so each feature window and label window is a union of whole buckets, and windows are sums
-- over a few bucket rows per member rather than over events or days.

-- step: steward_obs
SELECT
    as_of,
    -- Exclusive lower bound of the widest feature window: days > window_start are in it.
    CAST(as_of - INTERVAL '${max_window}' DAY AS DATE) AS window_start,
    CAST(as_of + INTERVAL '${horizon}' DAY AS DATE) AS label_end
FROM (SELECT DISTINCT CAST(as_of AS DATE) AS as_of FROM steward_as_of) a;

-- step: steward_calendar
-- Each event day up to the last label window -> its bucket, the first window edge on or after
-- it, and its bit in a day mask of that bucket (for counting distinct active days; buckets
-- inside the 90-day windows are at most 60 days long, so the bit fits in a BIGINT).
SELECT
    event_day,
    bucket,
    CASE WHEN days_to_end < 62 THEN CAST(POWER(2, days_to_end) AS BIGINT) END AS day_bit
FROM (
    SELECT
        d.event_day,
        MIN(e.edge) AS bucket,
        EXTRACT(
            DAY FROM CAST(MIN(e.edge) AS TIMESTAMP) - CAST(d.event_day AS TIMESTAMP)
        ) AS days_to_end
    FROM (SELECT DISTINCT CAST(ts AS DATE) AS event_day FROM events) d
    JOIN (
        ${window_edges}
    ) e ON e.edge >= d.event_day
    GROUP BY d.event_day
) c;

-- view: steward_parts
-- The only pass over all events: one row per member, bucket and event type.
SELECT
    e.member_id,
    c.bucket,
    e.event_type,
    CAST(COUNT(*) AS INT) AS n,
    SUM(e.value) AS value_sum,
    MIN(c.event_day) AS first_day,
    MAX(c.event_day) AS last_day,
    BIT_OR(c.day_bit) AS day_mask
FROM events e
JOIN steward_calendar c ON c.event_day = CAST(e.ts AS DATE)
GROUP BY e.member_id, c.bucket, e.event_type;

-- step: steward_buckets
-- The parts pivoted to one row per member and bucket, one column per event type. A member has
-- at most one part per bucket and event type, so MAX picks that part's value (MAX, not SUM:
-- DuckDB sums integers into HUGEINT, which made this step twice as slow).
SELECT
    member_id,
    bucket,
    ${bucket_columns},
    CAST(${qualifying_sum} AS INT) AS n_qualifying,
    GREATEST(${qualifying_last}) AS last_qualifying,
    active_days,
    points_earned,
    points_redeemed,
    first_day
FROM (
    SELECT
        member_id,
        bucket,
        ${bucket_parts},
        CAST(
            BIT_COUNT(BIT_OR(CASE WHEN event_type IN (${qualifying}) THEN day_mask END)) AS INT
        ) AS active_days,
        MAX(CASE WHEN event_type = 'points_earned' THEN value_sum END) AS points_earned,
        MAX(CASE WHEN event_type = 'points_redeemed' THEN value_sum END) AS points_redeemed,
        MIN(first_day) AS first_day
    FROM steward_parts
    GROUP BY member_id, bucket
) p;

-- step: steward_bucket_bands
-- For each as_of, the buckets its windows cover and the band each falls in: bands are the day
-- ranges between consecutive window edges (0-6 days before as_of, 7-13, ...; -1 for the label
-- window), so every window is a union of bands.
SELECT
    b.bucket,
    o.as_of,
    ${band} AS band
FROM (SELECT DISTINCT bucket FROM steward_calendar) b
JOIN steward_obs o ON b.bucket > o.window_start AND b.bucket <= o.label_end;

-- step: steward_banded
-- Plain sums per member, as_of and feature band (the label band is steward_active_after's):
-- no per-window CASE on this, the largest join.
SELECT
    b.member_id,
    w.as_of,
    w.band,
    ${band_sums}
FROM steward_buckets b
JOIN steward_bucket_bands w ON w.bucket = b.bucket
WHERE w.band <> ${label_band}
GROUP BY b.member_id, w.as_of, w.band;

-- view: steward_active_after
-- Members with qualifying activity in the label window (T, T+horizon]: a quarter of the
-- bucket rows joined to as_of dates fall there, and only this one fact is needed from them.
SELECT DISTINCT b.member_id, w.as_of
FROM steward_buckets b
JOIN steward_bucket_bands w ON w.bucket = b.bucket
WHERE w.band = ${label_band} AND b.n_qualifying > 0;

-- view: steward_windowed
-- Bands side by side (one join each), then each window is the sum of its bands.
SELECT
    k.member_id,
    k.as_of,
    ${window_sums},
    CASE WHEN a.member_id IS NULL THEN 0 ELSE 1 END AS active_after
FROM (SELECT DISTINCT member_id, as_of FROM steward_banded) k
LEFT JOIN steward_active_after a ON a.member_id = k.member_id AND a.as_of = k.as_of
${band_joins};

-- view: steward_history
-- All-history aggregates: every bucket on or before as_of. Buckets are first folded into the
-- first as_of on or after them, so each as_of then combines a few rows per member, not all.
SELECT
    p.member_id,
    o.as_of,
    MAX(p.last_qualifying) AS last_qualifying,
    ${history_columns},
    SUM(p.points_earned) AS points_earned,
    SUM(p.points_redeemed) AS points_redeemed
FROM (
    SELECT
        b.member_id,
        f.first_as_of,
        MAX(b.last_qualifying) AS last_qualifying,
        ${history_columns},
        SUM(b.points_earned) AS points_earned,
        SUM(b.points_redeemed) AS points_redeemed
    FROM steward_buckets b
    JOIN (
        SELECT x.bucket, MIN(o.as_of) AS first_as_of
        FROM (SELECT DISTINCT bucket FROM steward_calendar) x
        JOIN steward_obs o ON o.as_of >= x.bucket
        GROUP BY x.bucket
    ) f ON f.bucket = b.bucket
    GROUP BY b.member_id, f.first_as_of
) p
JOIN steward_obs o ON p.first_as_of <= o.as_of
GROUP BY p.member_id, o.as_of;

-- view: steward_listed
-- The join day the members table gives: the earliest, as repeated ingests may list a member twice;
-- the birth day its date_of_birth attribute gives (NULL unless all listings agree on one date).
SELECT
    member_id,
    MIN(CAST(joined_at AS DATE)) AS joined,
    CASE WHEN MIN(${birth_day}) = MAX(${birth_day}) THEN MIN(${birth_day}) END AS born
FROM members
GROUP BY member_id;

-- view: steward_members
-- The join day: the members table's, or the first event's day for members it does not list.
SELECT member_id, COALESCE(MIN(joined_listed), MIN(first_event)) AS joined, MIN(born) AS born
FROM (
    SELECT member_id, joined AS joined_listed, CAST(NULL AS DATE) AS first_event, born
    FROM steward_listed
    UNION ALL
    SELECT
        member_id,
        CAST(NULL AS DATE) AS joined_listed,
        MIN(first_day) AS first_event,
        CAST(NULL AS DATE) AS born
    FROM steward_buckets
    GROUP BY member_id
) u
GROUP BY member_id;

-- view: steward_interactions
SELECT
    e.member_id,
    w.as_of,
    COUNT(DISTINCT e.target_id) AS distinct_members_interacted_30d
FROM events e
JOIN steward_calendar c ON c.event_day = CAST(e.ts AS DATE)
JOIN steward_bucket_bands w ON w.bucket = c.bucket
WHERE e.event_type IN ('like_given', 'comment') AND e.target_id IS NOT NULL
    AND w.band IN (${bands_30d})
GROUP BY e.member_id, w.as_of;

-- view: steward_tickets
-- A ticket (target_id) is open at T if it was opened on or before T and not resolved on or
-- before T. Tickets without a target_id cannot be matched to their resolution: left out.
SELECT
    t.member_id,
    o.as_of,
    COUNT(*) AS tickets_open_unresolved,
    MIN(t.opened) AS oldest_opened
FROM (
    SELECT
        member_id,
        target_id,
        MIN(CASE WHEN event_type = 'ticket_opened' THEN CAST(ts AS DATE) END) AS opened,
        MIN(CASE WHEN event_type = 'ticket_resolved' THEN CAST(ts AS DATE) END) AS resolved
    FROM events
    WHERE event_type IN ('ticket_opened', 'ticket_resolved') AND target_id IS NOT NULL
    GROUP BY member_id, target_id
) t
JOIN steward_obs o ON t.opened <= o.as_of
WHERE t.resolved IS NULL OR t.resolved > o.as_of
GROUP BY t.member_id, o.as_of;

-- view: steward_coverage
-- Subscription periods merged into coverage islands (gaps and islands): a period starting on or
-- before the latest end so far plus the grace days is a renewal. The running MAX (not LAG)
-- matters when a long period swallows a shorter later one. An open period (end_at NULL) ends on
-- the sentinel 9000-01-01 here (Spark's dates stop at 9999) and is NULL again in the result.
SELECT
    member_id,
    MIN(start_day) AS cov_start,
    CASE WHEN MAX(end_day) = DATE '9000-01-01' THEN NULL ELSE MAX(end_day) END AS cov_end
FROM (
    SELECT
        member_id,
        start_day,
        end_day,
        SUM(new_island) OVER (
            PARTITION BY member_id ORDER BY start_day, end_day
            ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
        ) AS island
    FROM (
        SELECT
            member_id,
            start_day,
            end_day,
            CASE
                WHEN start_day <= CAST(MAX(end_day) OVER (
                    PARTITION BY member_id ORDER BY start_day, end_day
                    ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
                ) + INTERVAL '${grace}' DAY AS DATE) THEN 0
                ELSE 1
            END AS new_island
        FROM (
            SELECT
                member_id,
                CAST(start_at AS DATE) AS start_day,
                COALESCE(CAST(end_at AS DATE), DATE '9000-01-01') AS end_day
            FROM subscriptions
        ) s
    ) f
) g
GROUP BY member_id, island;

-- step: steward_subscribed
-- Members whose coverage is in force at the end of day T: started on or before T and not ended
-- on or before T (a subscription ending on day T has lapsed by the end of T).
SELECT c.member_id, o.as_of, c.cov_end
FROM steward_coverage c
JOIN steward_obs o
    ON c.cov_start <= o.as_of AND (c.cov_end IS NULL OR c.cov_end > o.as_of);

-- step: steward_features
-- Rows: members who joined on or before T and are active at T (qualifying activity in the
-- lookback window) or subscribed at T.
SELECT
    s.member_id,
    s.as_of,
    ${features},
    CAST(CASE
        -- Activity churn is defined for members active at T only.
        WHEN COALESCE(w.n_qualifying_lookback, 0) = 0 THEN NULL
        -- Censored: the label window reaches past the data.
        WHEN o.label_end > DATE '${data_end}' THEN NULL
        WHEN w.active_after = 1 THEN 0
        ELSE 1
    END AS INT) AS churned_activity,
    CAST(CASE
        WHEN sub.member_id IS NULL THEN NULL
        WHEN sub.cov_end IS NOT NULL AND sub.cov_end <= o.label_end
            THEN CASE WHEN sub.cov_end <= DATE '${data_end}' THEN 1 END
        WHEN o.label_end <= DATE '${data_end}' THEN 0
    END AS INT) AS churned_subscription
FROM (
    SELECT member_id, as_of
    FROM steward_banded
    WHERE band IN (${lookback_bands})
    GROUP BY member_id, as_of
    HAVING SUM(n_qualifying) > 0
    UNION
    SELECT member_id, as_of FROM steward_subscribed
) s
JOIN steward_obs o ON o.as_of = s.as_of
JOIN steward_members m ON m.member_id = s.member_id AND m.joined <= s.as_of
LEFT JOIN steward_windowed w ON w.member_id = s.member_id AND w.as_of = s.as_of
LEFT JOIN steward_history h ON h.member_id = s.member_id AND h.as_of = s.as_of
LEFT JOIN steward_interactions i ON i.member_id = s.member_id AND i.as_of = s.as_of
LEFT JOIN steward_tickets t ON t.member_id = s.member_id AND t.as_of = s.as_of
LEFT JOIN steward_subscribed sub ON sub.member_id = s.member_id AND sub.as_of = s.as_of
ORDER BY s.as_of, s.member_id;

-- Handoff notifications to the business (outbound webhook, supportbot.notify): an outbox row per
-- (tenant, idempotency key) and one delivery-log row per HTTP attempt.
-- Never edit after release: add 0003_*.sql instead.

CREATE TABLE handoff_notifications (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id         text        NOT NULL,
    customer_id       text        NOT NULL,
    idempotency_key   text        NOT NULL,
    event             text        NOT NULL
                      CHECK (event IN ('handoff.requested', 'handoff.customer_message')),
    turn_id           text,
    payload           jsonb       NOT NULL,
    status            text        NOT NULL DEFAULT 'pending'
                      CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts          integer     NOT NULL DEFAULT 0,
    next_attempt_at   timestamptz NOT NULL DEFAULT now(),
    claim_token       text,
    last_http_status  integer,
    last_error        text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    delivered_at      timestamptz,
    failed_at         timestamptz,
    resent_at         timestamptz,  -- `supportbot notifications resend`: the retry budget restarts
    UNIQUE (tenant_id, idempotency_key)
);

-- The sender claims due rows in this order (FOR UPDATE SKIP LOCKED).
CREATE INDEX handoff_notifications_due
    ON handoff_notifications (tenant_id, next_attempt_at)
    WHERE status = 'pending';
CREATE INDEX handoff_notifications_by_conversation
    ON handoff_notifications (tenant_id, customer_id, created_at);

CREATE TABLE handoff_notification_attempts (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id        text        NOT NULL,
    notification_id  bigint      NOT NULL
                     REFERENCES handoff_notifications (id) ON DELETE CASCADE,
    attempt          integer     NOT NULL,
    outcome          text        NOT NULL
                     CHECK (outcome IN ('delivered', 'retry', 'failed')),
    http_status      integer,
    latency_ms       double precision,
    error            text,
    at               timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX handoff_notification_attempts_by_notification
    ON handoff_notification_attempts (notification_id, attempt);

-- supportbot conversation history, version 1.
-- Every table carries tenant_id and every query filters on it. Timestamps are timestamptz (UTC).
-- Applied once by `supportbot migrate` inside a transaction; never edit after release (the
-- migrator refuses a changed checksum): add 0002_*.sql instead.

CREATE TABLE conversations (
    id                bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    tenant_id         text        NOT NULL,
    customer_id       text        NOT NULL,
    phone             text,
    bsuid             text,
    name              text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    last_inbound_at   timestamptz,
    last_outbound_at  timestamptz,
    last_activity_at  timestamptz NOT NULL DEFAULT now(),
    handoff_state     text        NOT NULL DEFAULT 'bot'
                      CHECK (handoff_state IN ('bot', 'pending', 'human')),
    handoff_agent     text,
    handoff_reason    text,
    handoff_since     timestamptz,
    opted_out         boolean     NOT NULL DEFAULT false,
    opted_out_since   timestamptz,
    PRIMARY KEY (tenant_id, customer_id)
);

-- Agent API: newest activity first, keyset-paginated on (last_activity_at, customer_id).
CREATE INDEX conversations_by_activity
    ON conversations (tenant_id, last_activity_at DESC, customer_id DESC);
CREATE INDEX conversations_handed_off
    ON conversations (tenant_id, handoff_state, last_activity_at DESC)
    WHERE handoff_state <> 'bot';
CREATE INDEX conversations_by_phone ON conversations (tenant_id, phone);

CREATE TABLE messages (
    id                     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id              text        NOT NULL,
    customer_id            text        NOT NULL,
    direction              text        NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    author                 text        NOT NULL,
    provider_message_id    text,
    turn_id                text,
    seq                    integer,
    kind                   text        NOT NULL,
    text                   text,
    body                   jsonb       NOT NULL DEFAULT '{}'::jsonb,
    provider_ts            timestamptz,
    delivery_state         text
                           CHECK (delivery_state IN ('queued', 'sent', 'delivered', 'read', 'failed')),
    delivery_error_code    text,
    delivery_error_reason  text,
    delivery_updated_at    timestamptz,
    sent_at                timestamptz,
    delivered_at           timestamptz,
    read_at                timestamptz,
    failed_at              timestamptz,
    created_at             timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (tenant_id, customer_id)
        REFERENCES conversations (tenant_id, customer_id) ON DELETE CASCADE,
    CHECK (direction = 'inbound' OR (turn_id IS NOT NULL AND seq IS NOT NULL))
);

-- Idempotency: a provider id is recorded once per tenant; a turn's n-th reply once.
CREATE UNIQUE INDEX messages_provider_id ON messages (tenant_id, provider_message_id);
CREATE UNIQUE INDEX messages_turn_seq ON messages (tenant_id, turn_id, seq);
CREATE INDEX messages_by_conversation ON messages (tenant_id, customer_id, created_at, id);
CREATE INDEX messages_by_created ON messages (tenant_id, created_at);
CREATE INDEX messages_text_search
    ON messages USING gin (to_tsvector('simple', coalesce(text, '')));

-- Delivery reports for provider ids not (yet) attached to a message: a report may overtake the
-- send response. Merged into the message when its provider id is attached.
CREATE TABLE unmatched_delivery_states (
    id                     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id              text        NOT NULL,
    provider_message_id    text        NOT NULL,
    delivery_state         text        NOT NULL
                           CHECK (delivery_state IN ('queued', 'sent', 'delivered', 'read', 'failed')),
    delivery_error_code    text,
    delivery_error_reason  text,
    delivery_updated_at    timestamptz NOT NULL,
    sent_at                timestamptz,
    delivered_at           timestamptz,
    read_at                timestamptz,
    failed_at              timestamptz,
    created_at             timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, provider_message_id)
);
CREATE INDEX unmatched_delivery_states_by_updated
    ON unmatched_delivery_states (tenant_id, delivery_updated_at);

CREATE TABLE turns (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id          text        NOT NULL,
    customer_id        text        NOT NULL,
    turn_id            text        NOT NULL,
    attempt            integer     NOT NULL,
    model              text,
    prompt_tokens      integer,
    completion_tokens  integer,
    cost               double precision,
    latency_ms         double precision,
    outcome            text        NOT NULL,
    error              text,
    created_at         timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (tenant_id, customer_id)
        REFERENCES conversations (tenant_id, customer_id) ON DELETE CASCADE,
    UNIQUE (tenant_id, turn_id, attempt)
);
CREATE INDEX turns_by_created ON turns (tenant_id, created_at);
CREATE INDEX turns_by_conversation ON turns (tenant_id, customer_id, created_at);

CREATE TABLE delivery_attempts (
    id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id            text        NOT NULL,
    message_id           bigint      REFERENCES messages (id) ON DELETE CASCADE,
    turn_id              text,
    seq                  integer,
    attempt              integer     NOT NULL,
    outcome              text,
    http_status          integer,
    error_code           text,
    error                text,
    provider_message_id  text,
    request_id           text,
    duration_ms          double precision,
    rate_limit_wait_ms   double precision,
    at                   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX delivery_attempts_by_message ON delivery_attempts (message_id);
CREATE INDEX delivery_attempts_by_at ON delivery_attempts (tenant_id, at);

-- Archive of every accepted raw webhook body (filled from the Redis stream sb:{tenant}:raw).
CREATE TABLE raw_webhooks (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id    text        NOT NULL,
    stream_id    text        NOT NULL,
    kind         text        NOT NULL,
    dedupe_id    text,
    received_at  timestamptz NOT NULL,
    body         bytea       NOT NULL,
    archived_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, stream_id)
);
CREATE INDEX raw_webhooks_by_received ON raw_webhooks (tenant_id, received_at);
CREATE INDEX raw_webhooks_by_dedupe ON raw_webhooks (tenant_id, dedupe_id);

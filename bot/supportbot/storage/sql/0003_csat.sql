-- CSAT surveys (issue 16): one row per resolution of a conversation, created when a flow reaches
-- an end step, an agent hands back with "resolved", or the conversation goes idle. The
-- resolution is the quiet period after the customer's last message (`since_inbound`), so the
-- three triggers of one period share one row: a customer is never asked twice for it.
-- Additive only: workers of the previous release never touch this table.

CREATE TABLE csat_surveys (
    id              bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id       text        NOT NULL,
    customer_id     text        NOT NULL,
    since_inbound   timestamptz NOT NULL,
    trigger         text        NOT NULL CHECK (trigger IN ('flow_end', 'agent_resolved', 'idle')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    due_at          timestamptz NOT NULL,
    status          text        NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'asked', 'answered', 'skipped')),
    skip_reason     text,
    asked_at        timestamptz,
    rating          smallint    CHECK (rating BETWEEN 1 AND 5),
    scale           smallint    CHECK (scale IN (3, 5)),
    answered_at     timestamptz,
    UNIQUE (tenant_id, customer_id, since_inbound),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES conversations (tenant_id, customer_id)
        ON DELETE CASCADE
);

CREATE INDEX csat_surveys_due ON csat_surveys (tenant_id, due_at) WHERE status = 'pending';
CREATE INDEX csat_surveys_by_customer ON csat_surveys (tenant_id, customer_id, created_at DESC);

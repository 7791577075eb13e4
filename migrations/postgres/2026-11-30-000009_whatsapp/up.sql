-- The WhatsApp channel (SPEC §3.4). The inbox keeps every webhook event (a message, a status, a
-- system error) as received, unique on its key so Meta's redeliveries are no-ops; a worker claims
-- due events (FOR UPDATE SKIP LOCKED on PostgreSQL) and processes each once. WhatsApp guests are
-- keyed by channel and contact key (business-scoped user id, else wa_id). Outbound messages are
-- message rows (the outbox): the wire body to send, when to try next, and a claim lease; a
-- delivery status may now be `read`.
CREATE TABLE whatsapp_inbox (
    id BIGSERIAL PRIMARY KEY,
    event_key TEXT NOT NULL CONSTRAINT whatsapp_inbox_event_key UNIQUE,
    kind TEXT NOT NULL CONSTRAINT whatsapp_inbox_kind_check CHECK (kind IN ('message', 'status', 'error')),
    payload TEXT NOT NULL,
    received_at TIMESTAMP NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    claimed_until TIMESTAMP,
    processed_at TIMESTAMP,
    last_error TEXT
);
CREATE INDEX whatsapp_inbox_due_idx ON whatsapp_inbox (processed_at, id);

CREATE UNIQUE INDEX guests_channel_contact_key ON guests (channel, external_id)
    WHERE website_user_id IS NULL AND external_id IS NOT NULL;

ALTER TABLE messages DROP CONSTRAINT messages_delivery_status_check;
ALTER TABLE messages ADD CONSTRAINT messages_delivery_status_check
    CHECK (delivery_status IN ('delivered', 'pending', 'sent', 'read', 'failed'));
ALTER TABLE messages ADD COLUMN wire TEXT;
ALTER TABLE messages ADD COLUMN next_attempt_at TIMESTAMP;
ALTER TABLE messages ADD COLUMN claimed_until TIMESTAMP;
DROP INDEX messages_outbox_idx;
CREATE INDEX messages_outbox_idx ON messages (delivery_status, next_attempt_at, id);

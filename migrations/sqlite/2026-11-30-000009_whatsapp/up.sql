-- The WhatsApp channel (SPEC §3.4). The inbox keeps every webhook event (a message, a status, a
-- system error) as received, unique on its key so Meta's redeliveries are no-ops; a worker claims
-- due events and processes each once. WhatsApp guests are keyed by channel and contact key
-- (business-scoped user id, else wa_id). Outbound messages are message rows (the outbox): the
-- wire body to send, when to try next, and a claim lease; a delivery status may now be `read`
-- (SQLite cannot change a CHECK, so the table is rebuilt; its self-reference is renamed with it).
CREATE TABLE whatsapp_inbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
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

CREATE TABLE messages_next (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    public_id TEXT NOT NULL CONSTRAINT messages_public_id_key UNIQUE,
    guest_id BIGINT NOT NULL REFERENCES guests (id),
    sender TEXT NOT NULL CONSTRAINT messages_sender_check CHECK (sender IN ('guest', 'bot', 'admin')),
    channel TEXT NOT NULL,
    text TEXT NOT NULL,
    payload TEXT,
    delivery_status TEXT NOT NULL
        CONSTRAINT messages_delivery_status_check CHECK (delivery_status IN ('delivered', 'pending', 'sent', 'read', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    created_at TIMESTAMP NOT NULL,
    channel_message_id TEXT,
    reply_to BIGINT REFERENCES messages_next (id),
    processed_at TIMESTAMP,
    wire TEXT,
    next_attempt_at TIMESTAMP,
    claimed_until TIMESTAMP
);
INSERT INTO messages_next (id, public_id, guest_id, sender, channel, text, payload, delivery_status,
    attempts, last_error, created_at, channel_message_id, reply_to, processed_at)
SELECT id, public_id, guest_id, sender, channel, text, payload, delivery_status,
    attempts, last_error, created_at, channel_message_id, reply_to, processed_at
FROM messages ORDER BY id;
DROP TABLE messages;
ALTER TABLE messages_next RENAME TO messages;
CREATE INDEX messages_guest_idx ON messages (guest_id, id);
CREATE INDEX messages_outbox_idx ON messages (delivery_status, next_attempt_at, id);
CREATE UNIQUE INDEX messages_channel_message_key ON messages (channel, channel_message_id)
    WHERE channel_message_id IS NOT NULL;
CREATE INDEX messages_reply_idx ON messages (reply_to);
CREATE INDEX messages_waiting_idx ON messages (guest_id, processed_at, id);

-- Conversations (SPEC §3.1): one per guest, with the agent's state; turns are taken one at a time
-- through the turn lease (turn_owner, turn_until). Messages gain the channel's own id (unique per
-- channel when present), the inbound message a bot reply answers, and when an inbound message
-- was processed (NULL: waiting for its turn).
CREATE TABLE conversations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    public_id TEXT NOT NULL CONSTRAINT conversations_public_id_key UNIQUE,
    guest_id BIGINT NOT NULL CONSTRAINT conversations_guest_key UNIQUE REFERENCES guests (id),
    channel TEXT NOT NULL,
    mode TEXT NOT NULL DEFAULT 'bot' CONSTRAINT conversations_mode_check CHECK (mode IN ('bot', 'human')),
    needs_human BOOLEAN NOT NULL DEFAULT FALSE,
    language TEXT NOT NULL DEFAULT 'en' CONSTRAINT conversations_language_check CHECK (language IN ('en', 'ur')),
    facts TEXT NOT NULL DEFAULT '{}',
    identity TEXT NOT NULL DEFAULT '{}',
    dialogue TEXT NOT NULL DEFAULT '{"awaiting":"nothing"}',
    sent_media TEXT NOT NULL DEFAULT '[]',
    current_booking_id BIGINT REFERENCES bookings (id),
    summary TEXT NOT NULL DEFAULT '',
    turn_owner TEXT,
    turn_until TIMESTAMP,
    last_inbound_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX conversations_attention_idx ON conversations (needs_human, updated_at);

ALTER TABLE messages ADD COLUMN channel_message_id TEXT;
ALTER TABLE messages ADD COLUMN reply_to BIGINT REFERENCES messages (id);
ALTER TABLE messages ADD COLUMN processed_at TIMESTAMP;
CREATE UNIQUE INDEX messages_channel_message_key ON messages (channel, channel_message_id)
    WHERE channel_message_id IS NOT NULL;
CREATE INDEX messages_reply_idx ON messages (reply_to);
CREATE INDEX messages_waiting_idx ON messages (guest_id, processed_at, id);

DROP INDEX messages_outbox_idx;
CREATE INDEX messages_outbox_idx ON messages (delivery_status, id);
ALTER TABLE messages DROP COLUMN claimed_until;
ALTER TABLE messages DROP COLUMN next_attempt_at;
ALTER TABLE messages DROP COLUMN wire;
UPDATE messages SET delivery_status = 'delivered' WHERE delivery_status = 'read';
ALTER TABLE messages DROP CONSTRAINT messages_delivery_status_check;
ALTER TABLE messages ADD CONSTRAINT messages_delivery_status_check
    CHECK (delivery_status IN ('delivered', 'pending', 'sent', 'failed'));
DROP INDEX guests_channel_contact_key;
DROP TABLE whatsapp_inbox;

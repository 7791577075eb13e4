DROP INDEX messages_waiting_idx;
DROP INDEX messages_reply_idx;
DROP INDEX messages_channel_message_key;
ALTER TABLE messages DROP COLUMN processed_at;
ALTER TABLE messages DROP COLUMN reply_to;
ALTER TABLE messages DROP COLUMN channel_message_id;
DROP TABLE conversations;

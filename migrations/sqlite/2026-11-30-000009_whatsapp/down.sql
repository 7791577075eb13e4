-- The WhatsApp columns stay on messages (SQLite would need another rebuild); they are unused
-- without the channel.
DROP INDEX guests_channel_contact_key;
DROP TABLE whatsapp_inbox;

DROP TABLE ledger_entries;
ALTER TABLE users DROP COLUMN reserved;
ALTER TABLE users DROP COLUMN balance;
ALTER TABLE users DROP COLUMN tier;
ALTER TABLE users DROP COLUMN verified;

-- Which key provider wrapped each data key: 'file' (the master key file)
-- or 'transit' (OpenBao/Vault Transit). kek_id then names the provider's
-- key: the master key id, or '<transit key>:v<version>'. Migrations and
-- rotations update a row at a time, so a run killed halfway is resumed
-- from what the rows say.
ALTER TABLE projects ADD COLUMN key_provider TEXT NOT NULL DEFAULT 'file';

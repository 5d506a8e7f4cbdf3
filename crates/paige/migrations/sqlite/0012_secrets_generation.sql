-- A per-project counter that every change to its secrets moves on (issue
-- 13): a set, an overwrite, a delete, a rollback, an import, a restore.
-- The webhook path reads it with the project on every request and decrypts
-- the secrets again only when it moved. Triggers, so no write path (today's
-- or a later one) can forget it; they run in the writing transaction, so
-- the counter and the values it stands for commit together.
ALTER TABLE projects ADD COLUMN secrets_generation INTEGER NOT NULL DEFAULT 0;

CREATE TRIGGER secrets_generation_on_insert AFTER INSERT ON secrets BEGIN
    UPDATE projects SET secrets_generation = secrets_generation + 1 WHERE id = NEW.project_id;
END;

CREATE TRIGGER secrets_generation_on_update AFTER UPDATE ON secrets BEGIN
    UPDATE projects SET secrets_generation = secrets_generation + 1 WHERE id = NEW.project_id;
END;

CREATE TRIGGER secrets_generation_on_delete AFTER DELETE ON secrets BEGIN
    UPDATE projects SET secrets_generation = secrets_generation + 1 WHERE id = OLD.project_id;
END;

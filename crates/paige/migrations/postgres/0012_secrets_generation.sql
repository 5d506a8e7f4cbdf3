-- A per-project counter that every change to its secrets moves on (issue
-- 13): a set, an overwrite, a delete, a rollback, an import, a restore.
-- The webhook path reads it with the project on every request, on any
-- node, and decrypts the secrets again only when it moved. A trigger, so
-- no write path (today's or a later one) can forget it; it runs in the
-- writing transaction, which already holds the project's row lock (`FOR NO
-- KEY UPDATE`, see store::postgres), so the counter and the values it
-- stands for commit together.
ALTER TABLE projects ADD COLUMN secrets_generation BIGINT NOT NULL DEFAULT 0;

CREATE FUNCTION bump_secrets_generation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE projects SET secrets_generation = secrets_generation + 1
     WHERE id = CASE WHEN TG_OP = 'DELETE' THEN OLD.project_id ELSE NEW.project_id END;
    RETURN NULL;
END
$$;

CREATE TRIGGER secrets_generation AFTER INSERT OR UPDATE OR DELETE ON secrets
    FOR EACH ROW EXECUTE FUNCTION bump_secrets_generation();

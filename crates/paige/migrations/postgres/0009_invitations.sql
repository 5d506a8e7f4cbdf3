-- Membership by invitation: an owner or admin invites an email with a
-- role; the person with that email accepts (or declines) once signed in.
-- Only a hash of the invitation's token is stored. `state` moves once,
-- from pending to accepted, declined or cancelled, at `closed_at`.
CREATE TABLE invitations (
    id          BIGSERIAL PRIMARY KEY,
    project_id  BIGINT NOT NULL REFERENCES projects(id),
    email       TEXT COLLATE "C" NOT NULL,
    role        TEXT   NOT NULL CHECK (role IN ('owner', 'admin', 'developer', 'viewer')),
    inviter     TEXT   NOT NULL,
    token_hash  BYTEA  NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    state       TEXT   NOT NULL DEFAULT 'pending'
                CHECK (state IN ('pending', 'accepted', 'declined', 'cancelled')),
    closed_at   BIGINT
);
CREATE INDEX invitations_by_project ON invitations(project_id, state);
CREATE INDEX invitations_by_email ON invitations(email, state);

-- Runtime modes (issue 13): a project's bot is either an HTTP server kept
-- warm behind /hooks/{slug}/… (`http`, what new projects get) or today's
-- one-shot run with the event on stdin (`event`). Projects from before
-- this migration keep the behaviour they had: `event`.
ALTER TABLE projects ADD COLUMN runtime_mode TEXT NOT NULL DEFAULT 'http'
    CHECK (runtime_mode IN ('http', 'event'));
UPDATE projects SET runtime_mode = 'event';

-- A forwarded request's method, path (redacted, with its query) and the
-- bot's answer's status; NULL for the one-shot executions.
ALTER TABLE executions ADD COLUMN request_method TEXT;
ALTER TABLE executions ADD COLUMN request_path TEXT;
ALTER TABLE executions ADD COLUMN response_status INTEGER;

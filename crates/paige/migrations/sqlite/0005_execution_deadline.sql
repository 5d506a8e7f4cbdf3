-- When a running execution is certainly over: its start, plus its time
-- limit, plus a margin. A record still `running` after that belongs to a
-- process that died with its server (crash, kill -9, power loss) and is
-- marked failed by the sweep every `paige serve` node runs.
ALTER TABLE executions ADD COLUMN deadline_at INTEGER;

-- Records from before this column: the longest time limit (`paige run
-- --timeout` allows a day) plus the margin.
UPDATE executions SET deadline_at = started_at + 86400000 + 60000 WHERE status = 'running';

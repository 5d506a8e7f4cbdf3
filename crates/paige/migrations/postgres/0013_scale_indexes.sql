-- Scale (issue 18): no routine query may read rows of other projects.
--
-- The sweep every node runs each minute for executions abandoned by a
-- crashed server looks only at running ones: this partial index holds just
-- those, so the sweep no longer reads every execution ever kept.
CREATE INDEX executions_running ON executions(deadline_at) WHERE status = 'running';

-- Which key providers and master keys wrap data keys, read by every start
-- of paige (and so by every local CLI command): found by jumping from one
-- distinct value to the next in this index instead of reading every project.
CREATE INDEX projects_by_key ON projects(key_provider, kek_id);

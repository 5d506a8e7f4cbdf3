//! Bot executions: code, environment, limits, redacted logs.

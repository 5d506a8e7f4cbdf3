//! The bot runtime: executions with injected secrets, a clean environment and masked logs.

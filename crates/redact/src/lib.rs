//! Streaming redactor (placeholder until the redactor issue lands).

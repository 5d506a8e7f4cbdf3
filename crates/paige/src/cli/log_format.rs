//! Where log lines go and how they look: stderr, text by default, one JSON
//! object a line with `PAIGE_LOG_FORMAT=json`. Both carry the same fields
//! (the JSON puts each field at the top level beside `timestamp`, `level`,
//! `target` and `message`). `PAIGE_LOG` sets the level filter.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::error::{Error, Result};

/// The format `PAIGE_LOG_FORMAT` asks for; anything but `text` or `json`
/// is refused, so a typo does not silently give the other format.
fn json_wanted() -> Result<bool> {
    match std::env::var("PAIGE_LOG_FORMAT").as_deref() {
        Err(_) | Ok("" | "text") => Ok(false),
        Ok("json") => Ok(true),
        Ok(other) => Err(Error::Config(format!(
            "PAIGE_LOG_FORMAT must be `text` or `json`, not `{other}`"
        ))),
    }
}

/// Installs the log subscriber: `filter`, or `default` when `PAIGE_LOG`
/// is unset (no subscriber at all when both are `None`).
pub fn init(default: Option<&str>) -> Result<()> {
    let json = json_wanted()?;
    let filter = match (EnvFilter::try_from_env("PAIGE_LOG"), default) {
        (Ok(filter), _) => filter,
        (Err(_), Some(default)) => EnvFilter::new(default),
        (Err(_), None) => return Ok(()),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A second init (tests that run several commands in one process) keeps the first.
    let _ = if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .try_init()
    } else {
        builder.with_ansi(std::io::stderr().is_terminal()).try_init()
    };
    Ok(())
}

//! "Send test event" is idempotent: each render of the form carries a fresh
//! random key, and a second POST with a key already used (a double click, a
//! resent form, a reload of the POST) within [`KEEP`] does not start another
//! run; it waits for the first one's execution and is sent to it.
//!
//! The keys are kept in memory, per node: they guard against a browser
//! sending the same form twice to the same server within seconds, which a
//! restart or another node does not need to remember. Keys are tied to the
//! user and the project, so a key seen by someone else is worth nothing.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use tokio::sync::watch;

/// How long a form's key is remembered.
pub const KEEP: Duration = Duration::from_secs(10 * 60);
/// At most this many keys are remembered; beyond it the oldest are dropped
/// (a flood of forms cannot grow the map without bound).
const MOST: usize = 10_000;

/// What became of the run a key started: `None` while it runs, then the
/// execution's id, or `Err` when it did not start.
pub type Outcome = Option<Result<i64, ()>>;

/// The keys of forms already sent on this node.
#[derive(Debug, Default)]
pub struct SentForms {
    keys: Mutex<HashMap<String, (Instant, watch::Receiver<Outcome>)>>,
}

/// The answer to [`SentForms::claim`].
#[derive(Debug)]
pub enum Claim {
    /// The key is new: start the run and report its outcome here.
    First(watch::Sender<Outcome>),
    /// The key was used: wait here for the first run's outcome.
    Again(watch::Receiver<Outcome>),
}

/// A fresh key for one render of the form.
pub fn new_key() -> String {
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

impl SentForms {
    /// Claims `key` for `user_id` in project `slug`.
    pub fn claim(&self, user_id: i64, slug: &str, key: &str) -> Claim {
        let now = Instant::now();
        let mut keys = self.keys.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        keys.retain(|_, (at, _)| now.duration_since(*at) < KEEP);
        let id = format!("{user_id}\u{0}{slug}\u{0}{key}");
        if let Some((_, outcome)) = keys.get(&id) {
            return Claim::Again(outcome.clone());
        }
        if keys.len() >= MOST
            && let Some(oldest) = keys.iter().min_by_key(|(_, (at, _))| *at).map(|(k, _)| k.clone())
        {
            keys.remove(&oldest);
        }
        let (sender, receiver) = watch::channel(None);
        keys.insert(id, (now, receiver));
        Claim::First(sender)
    }
}

/// The outcome of the first run of a key, once it is known (`Err` when it
/// did not start or its task went away).
pub async fn outcome(mut receiver: watch::Receiver<Outcome>) -> Result<i64, ()> {
    match receiver.wait_for(Option::is_some).await {
        Ok(outcome) => (*outcome).unwrap_or(Err(())),
        Err(_) => Err(()),
    }
}

#[cfg(test)]
mod tests {
    use super::{Claim, SentForms, new_key, outcome};

    #[tokio::test]
    async fn a_key_starts_one_run_per_user_and_project() {
        let sent = SentForms::default();
        let key = new_key();
        assert_ne!(key, new_key());
        let Claim::First(first) = sent.claim(1, "bot", &key) else {
            panic!("a new key is first")
        };
        let Claim::Again(again) = sent.claim(1, "bot", &key) else {
            panic!("a used key is not")
        };
        assert!(matches!(sent.claim(2, "bot", &key), Claim::First(_)));
        assert!(matches!(sent.claim(1, "other", &key), Claim::First(_)));
        let waiting = tokio::spawn(outcome(again));
        first.send_replace(Some(Ok(42)));
        assert_eq!(waiting.await.unwrap(), Ok(42));

        let Claim::First(dropped) = sent.claim(1, "bot", "another") else {
            panic!()
        };
        let Claim::Again(again) = sent.claim(1, "bot", "another") else {
            panic!()
        };
        drop(dropped);
        assert_eq!(outcome(again).await, Err(()));
    }
}

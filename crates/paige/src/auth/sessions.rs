//! Dashboard sessions: a random 256-bit id in an `HttpOnly`,
//! `SameSite=Strict` cookie; only its SHA-256 is stored. Sessions expire
//! after an idle period and at an absolute limit, and every sign-in makes a
//! new one (the id is never carried over from before sign-in).

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use rand::rngs::OsRng;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use crate::app::Paige;
use crate::error::Result;
use crate::model::{UserRecord, now_millis};

pub const SESSION_COOKIE: &str = "paige_session";
pub const IDLE_TIMEOUT_MS: i64 = 30 * 60 * 1000;
pub const ABSOLUTE_TIMEOUT_MS: i64 = 12 * 60 * 60 * 1000;

/// A session id as handed to the browser. Never printed.
pub struct SessionId(SecretString);

impl SessionId {
    fn generate() -> Self {
        let mut bytes = [0u8; 32];
        OsRng.fill_bytes(&mut bytes);
        Self(SecretString::from(URL_SAFE_NO_PAD.encode(bytes)))
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionId(..)")
    }
}

fn hash(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

impl Paige {
    /// Starts a new session for a signed-in user.
    pub async fn start_session(&self, user: &UserRecord) -> Result<SessionId> {
        let id = SessionId::generate();
        self.store
            .create_session(&hash(id.expose()), user.id, now_millis() + ABSOLUTE_TIMEOUT_MS)
            .await?;
        Ok(id)
    }

    /// The user of a live session.
    pub async fn session_user(&self, presented: &str) -> Result<Option<UserRecord>> {
        self.store.session_user(&hash(presented), IDLE_TIMEOUT_MS).await
    }

    pub async fn end_session(&self, presented: &str) -> Result<()> {
        self.store.delete_session(&hash(presented)).await
    }
}

//! The first run: while no user exists, `paige serve` prints a one-time
//! setup code, and the dashboard's `/setup` page creates the first owner
//! with it (the pattern of Grafana and Gitea). The code keeps a stranger
//! on the network from claiming a fresh install: it is printed on that
//! one start line and nowhere else, compared in constant time, and used
//! once.

use std::fmt;
use std::sync::Mutex;

use rand::Rng;
use rand::rngs::OsRng;
use secrecy::SecretString;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::{normalize_email, passwords};
use crate::app::Paige;
use crate::error::{Error, Result};
use crate::model::{Actor, UserRecord};

/// Letters and digits that cannot be misread for one another (no 0/O, 1/I/L).
const ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";
/// 15 characters of 31: about 74 bits.
const GROUPS: usize = 3;
const GROUP_LEN: usize = 5;

/// A setup code, as printed: `XXXXX-XXXXX-XXXXX`. Never printed by Debug.
#[derive(Clone)]
pub struct SetupCode(Zeroizing<String>);

impl fmt::Debug for SetupCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SetupCode(..)")
    }
}

/// What is compared: the code without separators or case, hashed to a
/// fixed length so the comparison takes the same time for any input.
fn digest(code: &str) -> [u8; 32] {
    let canonical: Zeroizing<String> = Zeroizing::new(
        code.chars()
            .filter(|c| !matches!(c, '-' | ' '))
            .map(|c| c.to_ascii_uppercase())
            .collect(),
    );
    Sha256::digest(canonical.as_bytes()).into()
}

impl SetupCode {
    pub fn generate() -> Self {
        let mut code = Zeroizing::new(String::with_capacity(GROUPS * (GROUP_LEN + 1)));
        for group in 0..GROUPS {
            if group > 0 {
                code.push('-');
            }
            for _ in 0..GROUP_LEN {
                code.push(char::from(ALPHABET[OsRng.gen_range(0..ALPHABET.len())]));
            }
        }
        Self(code)
    }

    /// The code, for the one line of `paige serve` that shows it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether `presented` is this code (dashes, spaces and case aside).
    pub fn matches(&self, presented: &str) -> bool {
        digest(self.expose()).ct_eq(&digest(presented)).into()
    }
}

/// The server's setup code while the first owner is not made yet.
#[derive(Debug, Default)]
pub struct FirstRun(Mutex<Option<SetupCode>>);

/// Why the first owner was not made.
#[derive(Debug)]
pub enum SetupError {
    /// The page is gone: a user exists, or this server has no code.
    Closed,
    /// The code did not match.
    WrongCode,
    /// Bad email or password (the code was not used up).
    Refused(Error),
}

impl FirstRun {
    pub fn new(code: Option<SetupCode>) -> Self {
        Self(Mutex::new(code))
    }

    fn slot(&self) -> std::sync::MutexGuard<'_, Option<SetupCode>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether this server still holds a code and no user exists.
    pub async fn is_open(&self, paige: &Paige) -> Result<bool> {
        if self.slot().is_none() {
            return Ok(false);
        }
        let open = paige.user_count().await? == 0;
        if !open {
            // Someone was made another way (the CLI, another node): the code is spent.
            self.slot().take();
        }
        Ok(open)
    }

    /// Creates the first owner if `code` is this server's code. The code is
    /// taken before the user is made, so two requests cannot both use it;
    /// it is put back only if the input was refused before anything changed.
    pub async fn create_owner(
        &self,
        paige: &Paige,
        code: &str,
        email: &str,
        password: &SecretString,
        actor: &Actor,
    ) -> Result<UserRecord, SetupError> {
        if !self.is_open(paige).await.map_err(SetupError::Refused)? {
            return Err(SetupError::Closed);
        }
        let taken = {
            let mut slot = self.slot();
            match slot.take() {
                Some(held) if held.matches(code) => held,
                Some(held) => {
                    *slot = Some(held);
                    return Err(SetupError::WrongCode);
                }
                None => return Err(SetupError::Closed),
            }
        };
        let checked = normalize_email(email).and_then(|email| {
            passwords::check_password(password)?;
            Ok((email, passwords::hash_password(password)?))
        });
        let (email, hash) = match checked {
            Ok(checked) => checked,
            Err(e) => {
                *self.slot() = Some(taken);
                return Err(SetupError::Refused(e));
            }
        };
        match paige.store.create_first_user(&email, &hash, actor).await {
            Ok(Some(user)) => Ok(user),
            Ok(None) => Err(SetupError::Closed),
            Err(e) => Err(SetupError::Refused(e)),
        }
    }
}

impl Paige {
    /// How many accounts exist (none on a fresh install).
    pub async fn user_count(&self) -> Result<i64> {
        self.store.user_count().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_random_readable_and_matched_loosely_in_form_only() {
        let code = SetupCode::generate();
        assert_eq!(code.expose().len(), GROUPS * GROUP_LEN + GROUPS - 1);
        assert!(code.expose().bytes().all(|b| b == b'-' || ALPHABET.contains(&b)));
        assert_ne!(code.expose(), SetupCode::generate().expose());
        assert!(code.matches(code.expose()));
        assert!(code.matches(&code.expose().to_lowercase().replace('-', " ")));
        assert!(!code.matches(""));
        assert!(!code.matches(&code.expose()[1..]));
        assert!(!format!("{code:?}").contains(code.expose()));
    }
}

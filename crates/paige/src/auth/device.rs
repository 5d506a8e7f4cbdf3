//! Device cookies, after OWASP's "Slow Down Online Guessing Attacks with
//! Device Cookies": a browser that has signed in to an account before
//! carries a signed cookie saying so, and its sign-in attempts to that
//! account are not held back by failures from anywhere else.
//!
//! The cookie is `v1.<account>.<expires>.<nonce>.<mac>`: the account's
//! email (base64url), an expiry (Unix seconds), a random nonce that names
//! this device, and an HMAC-SHA256 over the rest under a key derived from
//! the master key (so every node of a deployment accepts it, and nobody
//! without the master key can make one). A valid cookie for the account
//! being tried puts the attempt in that device's own small bucket; without
//! one the attempt falls into the untrusted buckets (per address and per
//! account), which an attacker can fill. Each successful sign-in issues a
//! fresh cookie.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use rand::rngs::OsRng;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::app::Paige;
use crate::error::{Error, Result};

pub const DEVICE_COOKIE: &str = "paige_device";
/// How long a device stays known without signing in again.
pub const DEVICE_TTL_SECS: i64 = 30 * 24 * 60 * 60;
const VERSION: &str = "v1";
const PURPOSE: &[u8] = b"paige-device-cookie-v1";

type HmacSha256 = Hmac<Sha256>;

/// The key that signs device cookies. Never printed.
pub struct DeviceKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for DeviceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DeviceKey(..)")
    }
}

/// The device a valid cookie names (its nonce), for its own bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceId(pub String);

impl DeviceKey {
    /// A key for tests and for deriving: `HMAC-SHA256(root, purpose)`.
    pub fn derive(root: &[u8]) -> Self {
        let mut mac = HmacSha256::new_from_slice(root).unwrap_or_else(|_| unreachable_key());
        mac.update(PURPOSE);
        Self(Zeroizing::new(mac.finalize().into_bytes().into()))
    }

    fn mac(&self, signed: &str) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(self.0.as_ref()).unwrap_or_else(|_| unreachable_key());
        mac.update(signed.as_bytes());
        mac
    }

    /// A new cookie value for `account` (a normalised email), valid until
    /// `now_secs + DEVICE_TTL_SECS`.
    pub fn issue(&self, account: &str, now_secs: i64) -> String {
        let mut nonce = [0u8; 16];
        OsRng.fill_bytes(&mut nonce);
        let signed = format!(
            "{VERSION}.{}.{}.{}",
            URL_SAFE_NO_PAD.encode(account),
            now_secs + DEVICE_TTL_SECS,
            URL_SAFE_NO_PAD.encode(nonce)
        );
        let tag = self.mac(&signed).finalize().into_bytes();
        format!("{signed}.{}", URL_SAFE_NO_PAD.encode(tag))
    }

    /// The device named by `cookie` if it is signed by this key, unexpired
    /// and for `account`; `None` otherwise. The tag is checked in constant
    /// time before anything in the cookie is trusted.
    pub fn verify(&self, cookie: &str, account: &str, now_secs: i64) -> Option<DeviceId> {
        let (signed, tag) = cookie.rsplit_once('.')?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        self.mac(signed).verify_slice(&tag).ok()?;
        let mut parts = signed.split('.');
        let (version, who, expires, nonce) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        let who = URL_SAFE_NO_PAD.decode(who).ok()?;
        let fresh = expires.parse::<i64>().is_ok_and(|e| e > now_secs);
        (version == VERSION && parts.next().is_none() && who == account.as_bytes() && fresh)
            .then(|| DeviceId(nonce.to_owned()))
    }
}

fn unreachable_key() -> ! {
    // HMAC takes keys of any length; this cannot happen.
    panic!("HMAC refused a key")
}

impl Paige {
    /// The device-cookie key of this deployment, derived from the current
    /// master key file (a master-key rotation forgets every device, which
    /// then signs in once as an unknown one). A node whose keys are in a
    /// key service has no key to derive it from: it uses a random key of
    /// its own, so its devices are known to it until it restarts.
    pub fn device_key(&self) -> Result<DeviceKey> {
        match self.keys.file() {
            Some(file) => {
                let master = file
                    .current()
                    .map_err(|e| Error::Internal(format!("no master key: {e}")))?;
                Ok(DeviceKey::derive(master.bytes()))
            }
            None => Ok(DeviceKey::derive(node_device_root())),
        }
    }
}

/// This process's random device-cookie root (see `Paige::device_key`).
fn node_device_root() -> &'static [u8; 32] {
    static ROOT: std::sync::OnceLock<[u8; 32]> = std::sync::OnceLock::new();
    ROOT.get_or_init(|| {
        let mut root = [0u8; 32];
        OsRng.fill_bytes(&mut root);
        root
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cookie_is_bound_to_its_account_key_and_lifetime() {
        let key = DeviceKey::derive(b"root one");
        let other = DeviceKey::derive(b"root two");
        let cookie = key.issue("alice@example.com", 1_000);
        let device = key.verify(&cookie, "alice@example.com", 1_001).unwrap();
        assert_eq!(cookie.split('.').nth(3), Some(device.0.as_str()));
        assert!(
            key.verify(&cookie, "bob@example.com", 1_001).is_none(),
            "another account"
        );
        assert!(
            other.verify(&cookie, "alice@example.com", 1_001).is_none(),
            "another key"
        );
        assert!(
            key.verify(&cookie, "alice@example.com", 1_000 + DEVICE_TTL_SECS)
                .is_none(),
            "expired"
        );
        // Any change to the signed part breaks the tag.
        let forged = cookie.replacen("v1.", "v1.x", 1);
        assert!(key.verify(&forged, "alice@example.com", 1_001).is_none());
        let bob = URL_SAFE_NO_PAD.encode("bob@example.com");
        let mut parts: Vec<&str> = cookie.split('.').collect();
        parts[1] = &bob;
        assert!(key.verify(&parts.join("."), "bob@example.com", 1_001).is_none());
        for junk in ["", ".", "v1", "v1.a.b.c.d.e", "a.b"] {
            assert!(key.verify(junk, "alice@example.com", 1_001).is_none(), "{junk:?}");
        }
        assert_ne!(key.issue("alice@example.com", 1_000), cookie, "a fresh nonce each time");
        assert!(!format!("{key:?}").contains(|c: char| c.is_ascii_digit()));
    }
}

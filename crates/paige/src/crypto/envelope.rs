//! Sealing and opening with XChaCha20-Poly1305.
//!
//! A sealed blob is `format (1 byte) || nonce (24 bytes) || ciphertext+tag`.
//! The associated data names exactly where the blob belongs, so a blob
//! copied to another project, key name or version fails its tag check:
//! - values: format, project id, key name, secret version;
//! - wrapped data keys: format, project id.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use rand::rngs::OsRng;
use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use super::CryptoError;
use super::keys::{DataKey, KEY_LEN, MasterKey};

/// The only format this build writes.
pub const FORMAT_V1: u8 = 1;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;

const VALUE_DOMAIN: &[u8] = b"paige/value";
const DATA_KEY_DOMAIN: &[u8] = b"paige/data-key";

fn value_aad(project_id: i64, key: &str, version: i64) -> Vec<u8> {
    let mut aad = Vec::with_capacity(VALUE_DOMAIN.len() + 1 + 8 + 4 + key.len() + 8);
    aad.extend_from_slice(VALUE_DOMAIN);
    aad.push(FORMAT_V1);
    aad.extend_from_slice(&project_id.to_be_bytes());
    // Length-prefixed so (key, version) pairs can never collide.
    aad.extend_from_slice(&u32::try_from(key.len()).unwrap_or(u32::MAX).to_be_bytes());
    aad.extend_from_slice(key.as_bytes());
    aad.extend_from_slice(&version.to_be_bytes());
    aad
}

fn data_key_aad(project_id: i64) -> Vec<u8> {
    let mut aad = Vec::with_capacity(DATA_KEY_DOMAIN.len() + 1 + 8);
    aad.extend_from_slice(DATA_KEY_DOMAIN);
    aad.push(FORMAT_V1);
    aad.extend_from_slice(&project_id.to_be_bytes());
    aad
}

fn seal(key: &[u8; KEY_LEN], aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let cipher = XChaCha20Poly1305::new(key.into());
    let mut nonce = [0u8; NONCE_LEN];
    OsRng.fill_bytes(&mut nonce);
    let body = cipher
        .encrypt(XNonce::from_slice(&nonce), Payload { msg: plaintext, aad })
        // Encryption fails only for inputs beyond 256 GiB.
        .unwrap_or_else(|_| unreachable!("XChaCha20-Poly1305 cannot fail on a bounded input"));
    let mut blob = Vec::with_capacity(1 + NONCE_LEN + body.len());
    blob.push(FORMAT_V1);
    blob.extend_from_slice(&nonce);
    blob.extend_from_slice(&body);
    blob
}

fn open(key: &[u8; KEY_LEN], aad: &[u8], blob: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let (&format, rest) = blob.split_first().ok_or(CryptoError::Truncated)?;
    if format != FORMAT_V1 {
        return Err(CryptoError::UnknownFormat(format));
    }
    if rest.len() < NONCE_LEN + TAG_LEN {
        return Err(CryptoError::Truncated);
    }
    let (nonce, body) = rest.split_at(NONCE_LEN);
    let cipher = XChaCha20Poly1305::new(key.into());
    cipher
        .decrypt(XNonce::from_slice(nonce), Payload { msg: body, aad })
        .map(Zeroizing::new)
        .map_err(|_| CryptoError::Integrity)
}

/// Seals one secret value for (project, key, version).
pub fn seal_value(dek: &DataKey, project_id: i64, key: &str, version: i64, value: &SecretString) -> Vec<u8> {
    seal(
        dek.bytes(),
        &value_aad(project_id, key, version),
        value.expose_secret().as_bytes(),
    )
}

/// Opens a value sealed by [`seal_value`] for the same (project, key, version).
pub fn open_value(
    dek: &DataKey,
    project_id: i64,
    key: &str,
    version: i64,
    blob: &[u8],
) -> Result<SecretString, CryptoError> {
    let plain = open(dek.bytes(), &value_aad(project_id, key, version), blob)?;
    // Values are checked to be UTF-8 before sealing; anything else was not
    // written by us, so it is an integrity failure too.
    let text = std::str::from_utf8(&plain).map_err(|_| CryptoError::Integrity)?;
    Ok(SecretString::from(text))
}

/// Wraps a project's data key under the master key, bound to the project.
pub fn wrap_data_key(kek: &MasterKey, project_id: i64, dek: &DataKey) -> Vec<u8> {
    seal(kek.bytes(), &data_key_aad(project_id), dek.bytes())
}

/// Unwraps a data key wrapped by [`wrap_data_key`] for the same project.
pub fn unwrap_data_key(kek: &MasterKey, project_id: i64, blob: &[u8]) -> Result<DataKey, CryptoError> {
    let plain = open(kek.bytes(), &data_key_aad(project_id), blob)?;
    let bytes: &[u8; KEY_LEN] = plain.as_slice().try_into().map_err(|_| CryptoError::Integrity)?;
    Ok(DataKey::from_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(s: &str) -> SecretString {
        SecretString::from(s)
    }

    #[test]
    fn value_round_trips_only_in_its_own_place() {
        let dek = DataKey::generate();
        let blob = seal_value(&dek, 7, "API_KEY", 3, &value("hunter2-secret"));
        let opened = open_value(&dek, 7, "API_KEY", 3, &blob).unwrap();
        assert_eq!(opened.expose_secret(), "hunter2-secret");

        for (project, key, version) in [(8, "API_KEY", 3), (7, "API_KEY2", 3), (7, "API_KEY", 2)] {
            assert_eq!(
                open_value(&dek, project, key, version, &blob).unwrap_err(),
                CryptoError::Integrity
            );
        }
        assert_eq!(
            open_value(&DataKey::generate(), 7, "API_KEY", 3, &blob).unwrap_err(),
            CryptoError::Integrity
        );
    }

    #[test]
    fn tampering_and_truncation_are_detected() {
        let dek = DataKey::generate();
        let mut blob = seal_value(&dek, 1, "K", 1, &value("value-1234"));
        assert!(!blob.windows(10).any(|w| w == b"value-1234"));
        let last = blob.len() - 1;
        blob[last] ^= 1;
        assert_eq!(open_value(&dek, 1, "K", 1, &blob).unwrap_err(), CryptoError::Integrity);
        assert_eq!(
            open_value(&dek, 1, "K", 1, &blob[..20]).unwrap_err(),
            CryptoError::Truncated
        );
        assert_eq!(open_value(&dek, 1, "K", 1, &[]).unwrap_err(), CryptoError::Truncated);
        blob[0] = 9;
        assert_eq!(
            open_value(&dek, 1, "K", 1, &blob).unwrap_err(),
            CryptoError::UnknownFormat(9)
        );
    }

    #[test]
    fn data_key_is_bound_to_its_project_and_master_key() {
        let kek = MasterKey::generate();
        let dek = DataKey::generate();
        let wrapped = wrap_data_key(&kek, 5, &dek);
        assert_eq!(unwrap_data_key(&kek, 5, &wrapped).unwrap().bytes(), dek.bytes());
        assert_eq!(unwrap_data_key(&kek, 6, &wrapped).unwrap_err(), CryptoError::Integrity);
        assert_eq!(
            unwrap_data_key(&MasterKey::generate(), 5, &wrapped).unwrap_err(),
            CryptoError::Integrity
        );
    }

    #[test]
    fn key_types_never_print_their_bytes() {
        let kek = MasterKey::generate();
        let printed = format!("{kek:?} {:?}", DataKey::generate());
        assert!(!printed.contains(&hex::encode(kek.bytes())));
        assert!(printed.contains(kek.id().as_str()));
    }
}

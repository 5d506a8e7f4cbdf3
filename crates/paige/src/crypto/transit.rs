//! The OpenBao/Vault Transit key provider: the key-encryption key never
//! leaves the key service; data keys go there to be wrapped and unwrapped.
//!
//! The key must be a derived key (`derived=true`): the project id is then
//! the Transit `context`, so a wrapped key copied to another project does
//! not unwrap, and `rewrap` keeps that binding (Transit's `associated_data`
//! is not carried through `rewrap`, `context` is).
//!
//! Every call has a connect and a total timeout, so a key service that is
//! away fails a request within a bounded time instead of hanging it. The
//! token is a `SecretString`, sent as a sensitive header, never printed.

use std::fmt;
use std::sync::RwLock;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use reqwest::header::HeaderValue;
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use zeroize::Zeroizing;

use super::CryptoError;
use super::keys::{DataKey, KEY_LEN};
use super::provider::{KeyProvider, ProviderStatus, WrappedKey};
pub use crate::config::TransitSettings;
use crate::error::{Error, Result};

/// The provider name stored beside data keys wrapped by Transit.
pub const TRANSIT: &str = "transit";

/// Connect timeout; the total time of a call is the settings' `timeout`.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

pub struct TransitProvider {
    settings: TransitSettings,
    client: reqwest::Client,
    /// The token as a header value (marked sensitive); replaced when the
    /// token file holds a new one.
    token: RwLock<HeaderValue>,
}

impl fmt::Debug for TransitProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TransitProvider")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// A token as a header value, marked sensitive (never in debug output).
fn header(token: &str) -> Result<HeaderValue> {
    let mut value = HeaderValue::from_str(token.trim())
        .map_err(|_| Error::Config("the Transit token holds characters a header cannot carry".to_owned()))?;
    value.set_sensitive(true);
    Ok(value)
}

/// The context that binds a data key to its project.
fn context(project_id: i64) -> String {
    B64.encode(format!("paige/data-key/v1/project/{project_id}"))
}

impl TransitProvider {
    pub fn new(settings: TransitSettings) -> Result<Self> {
        let token = RwLock::new(header(settings.token.expose_secret())?);
        let client = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(settings.timeout)
            .build()
            .map_err(|e| Error::Config(format!("cannot set up the Transit client: {e}")))?;
        Ok(Self {
            settings,
            client,
            token,
        })
    }

    fn token(&self) -> HeaderValue {
        self.token.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// After a refusal: takes up a new token from the token file, if there
    /// is one and it changed. True if the call is worth repeating.
    fn reload_token(&self) -> bool {
        let Some(path) = &self.settings.token_file else {
            return false;
        };
        let Ok(text) = std::fs::read_to_string(path).map(Zeroizing::new) else {
            return false;
        };
        let Ok(fresh) = header(&text) else {
            return false;
        };
        let mut token = self.token.write().unwrap_or_else(|e| e.into_inner());
        if *token == fresh {
            return false;
        }
        *token = fresh;
        tracing::info!(file = %path.display(), "took up a new Transit token from its file");
        true
    }

    fn url(&self, path: &str) -> String {
        format!(
            "{}/v1/{}/{path}/{}",
            self.settings.address.trim_end_matches('/'),
            self.settings.mount.trim_matches('/'),
            self.settings.key
        )
    }

    fn where_(&self) -> String {
        format!(
            "Transit key {:?} at {}/v1/{}",
            self.settings.key,
            self.settings.address.trim_end_matches('/'),
            self.settings.mount
        )
    }

    /// One call. Transport failures, 5xx, a sealed server and a refused
    /// token are "unavailable" (503 to API callers, worth a retry); the
    /// caller sees other failures with the service's own error text.
    async fn call(&self, path: &str, body: Option<Value>) -> Result<Value> {
        self.call_url(self.url(path), body).await
    }

    async fn call_url(&self, url: String, body: Option<Value>) -> Result<Value> {
        let (mut status, mut value) = self.send(&url, body.as_ref()).await?;
        if status == reqwest::StatusCode::FORBIDDEN && self.reload_token() {
            (status, value) = self.send(&url, body.as_ref()).await?;
        }
        self.interpret(status, value)
    }

    /// Sends one request; any answer is Ok, transport failures are not.
    async fn send(&self, url: &str, body: Option<&Value>) -> Result<(reqwest::StatusCode, Value)> {
        let request = match body {
            Some(body) => self.client.post(url).json(body),
            None => self.client.get(url),
        };
        let response = request
            .header("X-Vault-Token", self.token())
            .send()
            .await
            .map_err(|e| Error::KeyService(format!("{} is unreachable: {}", self.where_(), e.without_url())))?;
        let status = response.status();
        let text = response.text().await.map_err(|e| {
            Error::KeyService(format!(
                "{}: reading the answer failed: {}",
                self.where_(),
                e.without_url()
            ))
        })?;
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
    }

    fn interpret(&self, status: reqwest::StatusCode, value: Value) -> Result<Value> {
        if status.is_success() {
            return Ok(value);
        }
        let errors = value["errors"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join("; "))
            .unwrap_or_default();
        let message = format!("{} answered {status}: {errors}", self.where_());
        match status.as_u16() {
            403 => Err(Error::KeyService(format!(
                "{message} (the token is revoked, expired or lacks the policy)"
            ))),
            500.. => Err(Error::KeyService(message)),
            404 => Err(Error::Config(format!("{message} (no such key or mount)"))),
            _ if errors.contains("authentication failed") => Err(Error::DataKey {
                project: String::new(),
                source: CryptoError::Integrity,
            }),
            _ => Err(Error::KeyService(message)),
        }
    }

    fn wrapped(&self, data: &Value) -> Result<WrappedKey> {
        let ciphertext = data["ciphertext"]
            .as_str()
            .ok_or_else(|| Error::KeyService(format!("{}: an answer without a ciphertext", self.where_())))?;
        Ok(WrappedKey {
            provider: TRANSIT.to_owned(),
            key_id: self.version_id(data["key_version"].as_i64().unwrap_or_else(|| version_of(ciphertext))),
            blob: ciphertext.as_bytes().to_vec(),
        })
    }

    fn version_id(&self, version: i64) -> String {
        format!("{}:v{version}", self.settings.key)
    }
}

/// The key version a `vault:vN:...` ciphertext names.
fn version_of(ciphertext: &str) -> i64 {
    ciphertext
        .split(':')
        .nth(1)
        .and_then(|v| v.strip_prefix('v'))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn with_project(e: Error, project_id: i64) -> Error {
    match e {
        Error::DataKey { source, .. } => Error::DataKey {
            project: format!("#{project_id}"),
            source,
        },
        other => other,
    }
}

#[async_trait]
impl KeyProvider for TransitProvider {
    fn name(&self) -> &'static str {
        TRANSIT
    }

    async fn wrap(&self, project_id: i64, dek: &DataKey) -> Result<WrappedKey> {
        let plaintext = Zeroizing::new(B64.encode(dek.bytes()));
        let body = json!({ "plaintext": plaintext.as_str(), "context": context(project_id) });
        let answer = self.call("encrypt", Some(body)).await?;
        self.wrapped(&answer["data"])
    }

    async fn unwrap(&self, project_id: i64, wrapped: &WrappedKey) -> Result<DataKey> {
        let ciphertext = std::str::from_utf8(&wrapped.blob).map_err(|_| Error::DataKey {
            project: format!("#{project_id}"),
            source: CryptoError::Integrity,
        })?;
        let body = json!({ "ciphertext": ciphertext, "context": context(project_id) });
        let mut answer = self
            .call("decrypt", Some(body))
            .await
            .map_err(|e| with_project(e, project_id))?;
        let plaintext = Zeroizing::new(match answer["data"]["plaintext"].take() {
            Value::String(s) => s,
            _ => String::new(),
        });
        let bytes = Zeroizing::new(B64.decode(plaintext.as_bytes()).unwrap_or_default());
        let key: &[u8; KEY_LEN] = bytes.as_slice().try_into().map_err(|_| Error::DataKey {
            project: format!("#{project_id}"),
            source: CryptoError::Integrity,
        })?;
        Ok(DataKey::from_bytes(key))
    }

    async fn status(&self) -> Result<ProviderStatus> {
        let answer = self.call("keys", None).await?;
        let data = &answer["data"];
        if data["derived"].as_bool() != Some(true) {
            return Err(Error::Config(format!(
                "{} is not a derived key: paige binds each data key to its project through the Transit \
                 context; create the key with `bao write -f {}/keys/{} derived=true`",
                self.where_(),
                self.settings.mount,
                self.settings.key
            )));
        }
        let latest = data["latest_version"].as_i64().unwrap_or(0);
        Ok(ProviderStatus {
            provider: TRANSIT,
            location: self.where_(),
            current: self.version_id(latest),
        })
    }

    async fn rotate(&self) -> Result<Option<String>> {
        // POST {mount}/keys/{name}/rotate; older versions still decrypt.
        self.call_url(format!("{}/rotate", self.url("keys")), Some(json!({})))
            .await?;
        let status = self.status().await?;
        tracing::info!(now = %status.current, "rotated the Transit key");
        Ok(Some(status.current))
    }

    async fn rewrap(&self, batch: &[(i64, WrappedKey)]) -> Result<Vec<Result<WrappedKey>>> {
        let input: Vec<Value> = batch
            .iter()
            .map(|(project_id, w)| {
                json!({
                    "ciphertext": String::from_utf8_lossy(&w.blob),
                    "context": context(*project_id),
                })
            })
            .collect();
        let answer = self.call("rewrap", Some(json!({ "batch_input": input }))).await?;
        let results = answer["data"]["batch_results"].as_array().cloned().unwrap_or_default();
        if results.len() != batch.len() {
            return Err(Error::KeyService(format!(
                "{}: rewrap answered {} results for {} inputs",
                self.where_(),
                results.len(),
                batch.len()
            )));
        }
        Ok(results
            .iter()
            .zip(batch)
            .map(
                |(r, (project_id, _))| match r["error"].as_str().filter(|e| !e.is_empty()) {
                    Some(e) if e.contains("authentication failed") => Err(Error::DataKey {
                        project: format!("#{project_id}"),
                        source: CryptoError::Integrity,
                    }),
                    Some(e) => Err(Error::KeyService(format!(
                        "{}: rewrap of the data key of project #{project_id} failed: {e}",
                        self.where_()
                    ))),
                    None => self.wrapped(r),
                },
            )
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use secrecy::SecretString;

    use super::*;

    #[test]
    fn settings_never_print_the_token() {
        let settings = TransitSettings {
            address: "http://127.0.0.1:8200".to_owned(),
            mount: "transit".to_owned(),
            key: "paige".to_owned(),
            token: SecretString::from("s.super-secret-token"),
            token_file: None,
            timeout: crate::config::DEFAULT_KMS_TIMEOUT,
        };
        let provider = TransitProvider::new(settings.clone()).unwrap();
        let printed = format!("{settings:?} {provider:?}");
        assert!(!printed.contains("super-secret"), "{printed}");
        assert_eq!(version_of("vault:v12:abc"), 12);
    }
}

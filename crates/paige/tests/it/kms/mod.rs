//! The master key in OpenBao Transit (issue 19), against a real OpenBao
//! server: each test starts its own `bao server -dev` on a free loopback
//! port, with a file audit device, the Transit engine and a derived key,
//! and gives paige a token of a policy limited to that key.
//!
//! `bao` comes from `PAIGE_TEST_BAO` (set by `.ci/run`) or `PATH`; without
//! either the tests say that they skipped, and pass.

mod basics;
mod failure;
mod migrate;
mod rotate;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use paige::config::{KmsConfig, KmsKind, TransitSettings};
use secrecy::SecretString;
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::common::{Env, EnvBuilder};

/// The Transit key every test uses.
pub const KEY: &str = "paige";

/// What paige's token may do: use and rotate its one key, nothing else.
const POLICY: &str = r#"
path "transit/encrypt/paige" { capabilities = ["update"] }
path "transit/decrypt/paige" { capabilities = ["update"] }
path "transit/rewrap/paige" { capabilities = ["update"] }
path "transit/keys/paige" { capabilities = ["read"] }
path "transit/keys/paige/rotate" { capabilities = ["update"] }
"#;

/// The `bao` binary, if there is one.
fn bao_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("PAIGE_TEST_BAO").filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        assert!(
            path.exists(),
            "PAIGE_TEST_BAO names {}, which does not exist",
            path.display()
        );
        return Some(path);
    }
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| Path::new(dir).join("bao"))
        .find(|p| p.is_file())
}

/// One OpenBao dev server of one test; killed on drop.
pub struct Bao {
    child: Child,
    pub address: String,
    root: String,
    /// The token paige uses (policy [`POLICY`]).
    pub token: String,
    pub audit_log: PathBuf,
    /// The server's own log (stdout and stderr).
    pub log: PathBuf,
    unseal_key: String,
    _dir: TempDir,
    client: reqwest::Client,
}

impl Bao {
    /// A fresh server with Transit and the key; `None`, saying so, when no
    /// `bao` is installed.
    pub async fn start() -> Option<Bao> {
        let Some(binary) = bao_binary() else {
            eprintln!("skipped: no OpenBao `bao` binary (set PAIGE_TEST_BAO or put bao on PATH)");
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        let audit_log = dir.path().join("audit.log");
        let config = dir.path().join("audit.hcl");
        std::fs::write(
            &config,
            format!(
                "audit \"file\" \"to-file\" {{\n  options {{\n    file_path = \"{}\"\n  }}\n}}\n",
                audit_log.display()
            ),
        )
        .unwrap();
        let root = format!("root-{}", random_hex());
        let log = dir.path().join("bao.log");
        // A free port: bind, note it, release it; a clash (another test
        // took it meanwhile) is retried on another.
        for _ in 0..5 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let child = Command::new(&binary)
                .args(["server", "-dev"])
                .arg(format!("-dev-listen-address=127.0.0.1:{port}"))
                .arg(format!("-dev-root-token-id={root}"))
                .arg(format!("-config={}", config.display()))
                .env_remove("BAO_ADDR")
                .env_remove("VAULT_ADDR")
                .stdin(Stdio::null())
                .stdout(std::fs::File::create(&log).unwrap())
                .stderr(std::fs::File::create(dir.path().join("bao.err")).unwrap())
                .spawn()
                .unwrap();
            let mut bao = Bao {
                child,
                address: format!("http://127.0.0.1:{port}"),
                root: root.clone(),
                token: String::new(),
                audit_log: audit_log.clone(),
                log: log.clone(),
                unseal_key: String::new(),
                _dir: tempfile::tempdir().unwrap(),
                client: reqwest::Client::builder()
                    .timeout(Duration::from_secs(10))
                    .build()
                    .unwrap(),
            };
            if bao.wait_ready().await {
                bao._dir = dir;
                bao.set_up().await;
                return Some(bao);
            }
        }
        panic!("bao server -dev did not start");
    }

    async fn wait_ready(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if let Ok(r) = self.client.get(format!("{}/v1/sys/health", self.address)).send().await
                && r.status() == 200
            {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }

    async fn set_up(&mut self) {
        // The banner with the unseal key may follow the listener's start.
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let text = std::fs::read_to_string(&self.log).unwrap_or_default();
            if let Some(key) = text.lines().find_map(|l| l.trim().strip_prefix("Unseal Key: ")) {
                self.unseal_key = key.trim().to_owned();
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the dev server prints its unseal key:\n{text}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.api("POST", "sys/mounts/transit", json!({"type": "transit"})).await;
        self.api("POST", &format!("transit/keys/{KEY}"), json!({"derived": true}))
            .await;
        self.api("PUT", "sys/policies/acl/paige", json!({ "policy": POLICY }))
            .await;
        self.token = self.new_token().await;
    }

    /// A fresh token of paige's policy.
    pub async fn new_token(&self) -> String {
        let created = self
            .api("POST", "auth/token/create", json!({"policies": ["paige"], "ttl": "1h"}))
            .await;
        created["auth"]["client_token"].as_str().unwrap().to_owned()
    }

    /// A call with the root token; panics unless it succeeds.
    pub async fn api(&self, method: &str, path: &str, body: Value) -> Value {
        let (status, value) = self.try_api(method, path, body).await;
        assert!((200..300).contains(&status), "{method} {path}: {status} {value}");
        value
    }

    pub async fn try_api(&self, method: &str, path: &str, body: Value) -> (u16, Value) {
        let url = format!("{}/v1/{path}", self.address);
        let request = match method {
            "GET" => self.client.get(url),
            "PUT" => self.client.put(url).json(&body),
            _ => self.client.post(url).json(&body),
        };
        let response = request.header("X-Vault-Token", &self.root).send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// The plaintext of a wrapped data key, as Transit gives it back to
    /// its root (base64), for leak scans.
    pub async fn plaintext_of(&self, project_id: i64, ciphertext: &str) -> String {
        let context = base64_of(format!("paige/data-key/v1/project/{project_id}").as_bytes());
        let answer = self
            .api(
                "POST",
                &format!("transit/decrypt/{KEY}"),
                json!({"ciphertext": ciphertext, "context": context}),
            )
            .await;
        answer["data"]["plaintext"].as_str().unwrap().to_owned()
    }

    /// The key's versions and the versions that still decrypt.
    pub async fn latest_version(&self) -> i64 {
        let key = self.api("GET", &format!("transit/keys/{KEY}"), Value::Null).await;
        key["data"]["latest_version"].as_i64().unwrap()
    }

    pub fn settings(&self) -> TransitSettings {
        TransitSettings {
            address: self.address.clone(),
            mount: "transit".to_owned(),
            key: KEY.to_owned(),
            token: SecretString::from(self.token.clone()),
            token_file: None,
            timeout: Duration::from_secs(2),
        }
    }

    /// Paige with Transit as its key provider.
    pub fn kms(&self) -> KmsConfig {
        KmsConfig {
            kind: KmsKind::Transit,
            transit: Some(self.settings()),
            ..KmsConfig::default()
        }
    }

    /// The `paige` command line options for this server, token aside.
    pub fn vars(&self) -> Vec<(&'static str, String)> {
        vec![
            ("PAIGE_KMS", "transit".to_owned()),
            ("PAIGE_KMS_ADDRESS", self.address.clone()),
            ("PAIGE_KMS_KEY", KEY.to_owned()),
            ("PAIGE_KMS_TOKEN", self.token.clone()),
        ]
    }

    /// Stops the server's process (SIGSTOP): connections are accepted by
    /// the kernel but never answered, the worst case for a client.
    pub fn freeze(&self) {
        signal(&self.child, "STOP");
    }

    pub fn thaw(&self) {
        signal(&self.child, "CONT");
    }

    /// Seals the server: every Transit call gets a 503.
    pub async fn seal(&self) {
        self.api("PUT", "sys/seal", Value::Null).await;
    }

    pub async fn unseal(&self) {
        self.api("PUT", "sys/unseal", json!({"key": self.unseal_key})).await;
    }

    pub fn audit(&self) -> Vec<u8> {
        std::fs::read(&self.audit_log).unwrap_or_default()
    }

    pub fn root_token(&self) -> &str {
        &self.root
    }
}

impl Drop for Bao {
    fn drop(&mut self) {
        signal(&self.child, "CONT");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn signal(child: &Child, name: &str) {
    let _ = Command::new("kill")
        .args(["-s", name, &child.id().to_string()])
        .status();
}

fn random_hex() -> String {
    format!("{:016x}{:016x}", rand::random::<u64>(), rand::random::<u64>())
}

pub fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// An environment whose key provider is this Transit server.
pub fn with_transit(bao: &Bao) -> EnvBuilder {
    Env::builder().kms(bao.kms())
}

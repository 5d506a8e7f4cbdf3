//! Inbound webhooks to warm bots (`/hooks/{slug}/{*path}`, issue 13): a
//! real Express app (tests/fixtures/express, with `express` from the npm
//! registry) behind a real `paige serve`, in its sandbox.

mod dashboard;
mod forward;
mod lifecycle;
mod stream;

use std::path::{Path, PathBuf};
use std::time::Duration;

use paige::runtime::StoredExecution;

use crate::common::{Env, ServeProcess, actor};

/// The Express fixture, with `express` installed (by `.ci/run`, or here
/// on first use: `npm install` in the fixture's directory).
pub fn express_bot() -> PathBuf {
    static INSTALLED: std::sync::Mutex<bool> = std::sync::Mutex::new(false);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/express");
    let mut done = INSTALLED.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if !*done && !dir.join("node_modules/express/package.json").is_file() {
        let status = std::process::Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--no-package-lock"])
            .current_dir(&dir)
            .status()
            .expect("npm runs");
        assert!(status.success(), "npm install of the Express fixture failed");
    }
    *done = true;
    dir
}

/// A project in `http` mode running the Express fixture, with `secrets`.
pub async fn express_project(env: &Env, slug: &str, secrets: &[(&str, &str)]) {
    env.project(slug).await;
    for (key, value) in secrets {
        env.set(slug, key, value).await;
    }
    env.paige.push_code(slug, &express_bot(), &actor()).await.unwrap();
}

/// `paige serve` with short limits for the tests, and `vars`.
pub fn serve(env: &Env, vars: &[(&str, &str)]) -> ServeProcess {
    let mut all = vec![("PAIGE_HOOK_TIMEOUT_SECONDS", "3"), ("PAIGE_BOT_START_SECONDS", "5")];
    all.extend_from_slice(vars);
    env.serve("serve.log", &all)
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// The execution a response names in `X-Paige-Execution-Id`.
pub async fn execution_of(env: &Env, slug: &str, response: &reqwest::Response) -> StoredExecution {
    let id: i64 = response
        .headers()
        .get("x-paige-execution-id")
        .expect("the response names its execution")
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    finished(env, slug, id).await
}

/// Execution `id` once finished: a webhook's execution is finished just
/// after its answer is sent (the closing write is off the answer's path).
pub async fn finished(env: &Env, slug: &str, id: i64) -> StoredExecution {
    for _ in 0..100 {
        let execution = env.paige.execution(slug, id).await.unwrap();
        if execution.record.status != paige::model::execution::ExecutionStatus::Running {
            return execution;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("execution {id} is still running 5 s after its answer");
}

pub use crate::runtime::log_text;

/// `sha256=<hex>` of `body` with `secret` (Meta's X-Hub-Signature-256), by Node.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let script = "const c=require('crypto');let d=[];process.stdin.on('data',x=>d.push(x));\
                  process.stdin.on('end',()=>process.stdout.write('sha256='+c.createHmac('sha256',process.argv[1]).update(Buffer.concat(d)).digest('hex')))";
    let mut child = std::process::Command::new("node")
        .args(["-e", script, secret])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), body).unwrap();
    String::from_utf8(child.wait_with_output().unwrap().stdout).unwrap()
}

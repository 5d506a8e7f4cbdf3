//! Masking what an honest Node bot prints by accident (SPEC §4, threat
//! model): a real bot prints four secrets (with `\ ' "`, a space,
//! non-ASCII and `/+=&%?`; multi-line; a PEM key; over 10,000
//! characters) through `console.log` of objects and errors, Buffers, hex,
//! URLSearchParams, URLs, JSON once and twice, `\u` escapes, wrapped
//! base64 and `util.inspect` with `maxStringLength`, and writes down the
//! part of each print that carries the value, exactly as printed. No 12
//! bytes of any part survive in the live output of `paige run` or in the
//! stored log (what the dashboard and the API show).

use paige::model::Page;
use paige::runtime::Stream;

use super::{bot, lines_of, stored};
use crate::common::{Env, both_backends, contains, stderr, stdout};

const TOKEN: &str = r#"sk-live-Qm9\x'y"z é/+=&%?#0123456789-tail"#;
const MULTI: &str = "first line: it's \"quoted\" \\ and é here\n\
                     second/line+=&%? with a space and more text\n\
                     third line 0123456789abcdef ok";
const WINDOW: usize = 12;

/// A fresh RSA key, PEM (PKCS #8), made by Node.
fn pem() -> String {
    let out = std::process::Command::new("node")
        .args([
            "-e",
            "const { privateKey } = require('crypto').generateKeyPairSync('rsa', { modulusLength: 2048, \
             privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } }); \
             process.stdout.write(privateKey.trimEnd());",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

/// 12,000 characters with quotes, backslashes, spaces, non-ASCII and
/// `/+=&%?` among letters and digits.
fn long_value() -> String {
    let pool: Vec<char> = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 \\'\"é/+=&%?-_"
        .chars()
        .collect();
    let mut seed: u64 = 7;
    (0..12_000)
        .map(|_| {
            seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
            pool[(seed % pool.len() as u64) as usize]
        })
        .collect()
}

#[derive(serde::Deserialize, PartialEq, Debug)]
struct Part {
    label: String,
    secret: String,
    part: String,
    whole: bool,
}

/// The windows of a part that must not survive: every 12 bytes of it, or
/// the whole part if it is a complete encoding shorter than that.
fn windows(part: &Part) -> Vec<&[u8]> {
    let bytes = part.part.as_bytes();
    let w = if part.whole { bytes.len().min(WINDOW) } else { WINDOW };
    if bytes.len() < w || w == 0 {
        return Vec::new();
    }
    bytes.windows(w).collect()
}

fn assert_nothing_survives(what: &str, output: &[u8], parts: &[Part]) {
    // Every 12 bytes of the output, for a quick lookup of each window.
    let present: std::collections::HashSet<&[u8]> = output.windows(WINDOW).collect();
    let survives = |w: &[u8]| {
        if w.len() == WINDOW {
            present.contains(w)
        } else {
            contains(output, w)
        }
    };
    let mut checked = 0;
    for part in parts {
        for window in windows(part) {
            checked += 1;
            assert!(
                !survives(window),
                "{what}: {:?} of the {} part ({}) survives",
                String::from_utf8_lossy(window),
                part.label,
                part.secret,
            );
        }
    }
    assert!(checked > 10_000, "{what}: only {checked} windows checked");
    for name in ["MASK_TOKEN", "MASK_MULTI", "MASK_PEM", "MASK_LONG"] {
        let marker = format!("[REDACTED:{name}]");
        assert!(contains(output, marker.as_bytes()), "{what}: no {marker}");
    }
}

async fn no_12_bytes_of_any_printed_form_survive(env: Env) {
    env.project("masky").await;
    let (pem, long) = (pem(), long_value());
    assert!(long.chars().count() > 10_000);
    let secrets = [
        ("MASK_TOKEN", TOKEN),
        ("MASK_MULTI", MULTI),
        ("MASK_PEM", pem.as_str()),
        ("MASK_LONG", long.as_str()),
    ];
    for (name, value) in secrets {
        env.set("masky", name, value).await;
    }

    // The bot run without Paige: every recorded part is in what it printed.
    let scratch = tempfile::tempdir().unwrap();
    let raw_side = scratch.path().join("raw-parts.json");
    let mut raw = std::process::Command::new("node");
    raw.arg(bot("masking").join("app.js"))
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .envs(secrets)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = raw.spawn().unwrap();
    {
        use std::io::Write;
        let event = serde_json::json!({ "side": raw_side });
        child
            .stdin
            .take()
            .unwrap()
            .write_all(event.to_string().as_bytes())
            .unwrap();
    }
    let raw = child.wait_with_output().unwrap();
    assert!(raw.status.success(), "{}", String::from_utf8_lossy(&raw.stderr));
    let raw_all = [raw.stdout.as_slice(), raw.stderr.as_slice()].concat();
    let parts: Vec<Part> = serde_json::from_slice(&std::fs::read(&raw_side).unwrap()).unwrap();
    assert!(parts.len() > 100, "{}", parts.len());
    for part in &parts {
        assert!(
            contains(&raw_all, part.part.as_bytes()),
            "the bot did not print the {} part",
            part.label
        );
    }
    for (name, value) in secrets {
        let longest = parts.iter().filter(|p| p.secret == name).map(|p| p.part.len()).max();
        assert!(longest >= Some(value.len().min(1000)), "{name}: {longest:?}");
    }

    // Through `paige code push` and `paige run` (as root: the bot runs as
    // its project's own user): the live output.
    let pushed = env.cli(&["code", "push", "masky", bot("masking").to_str().unwrap()], b"");
    assert!(pushed.status.success(), "{}", stderr(&pushed));
    // The sandboxed bot sends its parts over loopback (it can write no
    // file the test could read).
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let receiver = std::thread::spawn(move || {
        use std::io::Read;
        let (mut peer, _) = listener.accept().unwrap();
        let mut sent = Vec::new();
        peer.read_to_end(&mut sent).unwrap();
        sent
    });
    let event = scratch.path().join("event.json");
    std::fs::write(&event, serde_json::json!({ "port": port }).to_string()).unwrap();
    let out = env.cli(&["run", "masky", "--event", event.to_str().unwrap()], b"");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(&format!("printed {} parts", parts.len())),
        "{}",
        stderr(&out)
    );
    // The bot saw the same values under Paige.
    let under_paige: Vec<Part> = serde_json::from_slice(&receiver.join().unwrap()).unwrap();
    assert_eq!(under_paige, parts);
    let live = [out.stdout.as_slice(), out.stderr.as_slice()].concat();
    assert_nothing_survives("live output", &live, &parts);

    // The stored log, stream by stream, as the dashboard and the API read it.
    let page = Page {
        before_id: None,
        limit: 10,
    };
    let records = env.paige.list_executions("masky", page).await.unwrap();
    assert_eq!(records.len(), 1);
    assert!(!records[0].truncated, "the output limit was reached");
    let execution = stored(&env, "masky", records[0].id).await;
    for stream in [Stream::Stdout, Stream::Stderr] {
        let text = lines_of(&execution, stream).join("\n");
        if stream == Stream::Stdout {
            assert_nothing_survives("stored stdout", text.as_bytes(), &parts);
        } else {
            let errors: Vec<&Part> = parts.iter().filter(|p| p.label.contains("error")).collect();
            let present: std::collections::HashSet<&[u8]> = text.as_bytes().windows(WINDOW).collect();
            for part in errors {
                for window in windows(part) {
                    let survives = if window.len() == WINDOW {
                        present.contains(window)
                    } else {
                        contains(text.as_bytes(), window)
                    };
                    assert!(!survives, "stored stderr: {} survives", part.label);
                }
            }
            assert!(text.contains("Request failed with status code 401"));
            assert!(text.contains("[REDACTED:MASK_TOKEN]"));
        }
    }
    // Masking keeps ordinary text: the labels and the error's own words.
    let all_out = lines_of(&execution, Stream::Stdout).join("\n");
    for label in [
        "MASK_TOKEN hex: ",
        "MASK_LONG json twice: ",
        "MASK_PEM base64 wrapped at 64:",
        "<Buffer ",
    ] {
        assert!(all_out.contains(label), "{label}");
    }
}

both_backends!(no_12_bytes_of_any_printed_form_survive);

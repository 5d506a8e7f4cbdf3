//! Throughput of the streaming redactor on realistic log text.
//!
//! ```text
//! cargo run --release -p paige-redact --example throughput -- --secrets 100
//! ```
//!
//! Builds a redactor from N random 40-byte secrets, streams 256 MiB of log
//! lines (40–200 bytes, a planted secret form every ~100 lines) through one
//! stream in 64 KiB chunks, and prints one line:
//!
//! ```text
//! redact_mb_s=<MB/s> copy_mb_s=<MB/s> patterns=<n> build_ms=<ms> naive_mb_s=<MB/s> masked=<n> planted=<n>
//! ```
//!
//! `copy_mb_s` is a plain copy of the same chunks into the output buffer;
//! `build_ms` the median of 11 builds; `naive_mb_s` one search-and-replace
//! pass per pattern over a sample (`--naive-mib`, default 4; 0 skips it).
//! MB = 10^6 bytes. Options: `--secrets N` (100), `--mib M` (256),
//! `--naive-mib M` (4), `--seed S` (1), `--passes P` (1: time the copy and
//! the redaction P times each and print the best), `--len L` (40: secret
//! length in bytes).

use std::hint::black_box;
use std::time::{Duration, Instant};

use paige_redact::{Redactor, reference};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const CHUNK: usize = 64 * 1024;
const SECRET_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/=.";

struct Args {
    secrets: usize,
    mib: usize,
    naive_mib: usize,
    seed: u64,
    passes: usize,
    len: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        secrets: 100,
        mib: 256,
        naive_mib: 4,
        seed: 1,
        passes: 1,
        len: 40,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let n: u64 = value.parse().map_err(|_| format!("{flag}: not a number: {value}"))?;
        match flag.as_str() {
            "--secrets" => args.secrets = n as usize,
            "--mib" => args.mib = n as usize,
            "--naive-mib" => args.naive_mib = n as usize,
            "--seed" => args.seed = n,
            "--passes" => args.passes = (n as usize).max(1),
            "--len" => args.len = n as usize,
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    Ok(args)
}

const WORDS: &[&str] = &[
    "request",
    "handled",
    "user",
    "message",
    "received",
    "sending",
    "reply",
    "to",
    "channel",
    "webhook",
    "event",
    "processed",
    "in",
    "ms",
    "cache",
    "miss",
    "hit",
    "retrying",
    "after",
    "timeout",
    "connection",
    "established",
    "closed",
    "the",
    "a",
    "of",
    "for",
    "with",
    "update",
    "command",
    "/start",
    "/help",
    "ok",
    "failed",
    "rate",
    "limit",
    "reached",
    "queue",
    "length",
    "payload",
    "parsed",
    "invalid",
    "field",
    "token",
    "refreshed",
    "session",
    "guild",
    "member",
];
const LEVELS: &[&str] = &["INFO ", "DEBUG", "WARN ", "ERROR", "TRACE"];
const COMPONENTS: &[&str] = &[
    "bot",
    "bot.handler",
    "http",
    "db",
    "scheduler",
    "telegram",
    "discord",
    "slack.api",
];

fn log_line(rng: &mut StdRng, out: &mut Vec<u8>) {
    let target = rng.gen_range(40..=200);
    let start = out.len();
    let ms: u32 = rng.gen_range(0..86_400_000);
    out.extend_from_slice(
        format!(
            "2026-11-28T{:02}:{:02}:{:02}.{:03}Z {} [{}] ",
            ms / 3_600_000,
            ms / 60_000 % 60,
            ms / 1000 % 60,
            ms % 1000,
            LEVELS[rng.gen_range(0..LEVELS.len())],
            COMPONENTS[rng.gen_range(0..COMPONENTS.len())]
        )
        .as_bytes(),
    );
    while out.len() - start < target {
        match rng.gen_range(0..10) {
            0 => out.extend_from_slice(format!("id={:016x} ", rng.r#gen::<u64>()).as_bytes()),
            1 => out.extend_from_slice(
                format!(
                    "{{\"user\":\"u{}\",\"count\":{}}} ",
                    rng.gen_range(0..9999),
                    rng.gen_range(0..500)
                )
                .as_bytes(),
            ),
            2 => out.extend_from_slice(
                format!("GET /api/v1/items?page={}&q=abc HTTP/1.1 ", rng.gen_range(0..99)).as_bytes(),
            ),
            _ => {
                out.extend_from_slice(WORDS[rng.gen_range(0..WORDS.len())].as_bytes());
                out.push(b' ');
            }
        }
    }
    out.truncate(start + target);
    out.push(b'\n');
}

fn secret(rng: &mut StdRng, len: usize) -> Vec<u8> {
    (0..len)
        .map(|_| SECRET_ALPHABET[rng.gen_range(0..SECRET_ALPHABET.len())])
        .collect()
}

fn mb_s(bytes: usize, elapsed: Duration) -> f64 {
    bytes as f64 / 1e6 / elapsed.as_secs_f64()
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("throughput: {e}");
            std::process::exit(2);
        }
    };
    let mut rng = StdRng::seed_from_u64(args.seed);
    let secrets: Vec<(String, Vec<u8>)> = (0..args.secrets)
        .map(|i| (format!("SECRET_{i}"), secret(&mut rng, args.len)))
        .collect();

    let mut builds: Vec<Duration> = (0..11)
        .map(|_| {
            let t = Instant::now();
            black_box(Redactor::new(black_box(&secrets)));
            t.elapsed()
        })
        .collect();
    builds.sort();
    let build_ms = builds[builds.len() / 2].as_secs_f64() * 1e3;
    let redactor = Redactor::new(&secrets);

    // The text: log lines, and every ~100 lines one with a planted form.
    let forms: Vec<Vec<Vec<u8>>> = secrets.iter().map(|(_, v)| reference::forms(v)).collect();
    let size = args.mib << 20;
    let mut text = Vec::with_capacity(size + 1024);
    let mut planted = 0usize;
    while text.len() < size {
        if !forms.is_empty() && rng.gen_range(0..100) == 0 {
            let f = &forms[rng.gen_range(0..forms.len())];
            let form = &f[rng.gen_range(0..f.len())];
            let prefix: &[u8] = match rng.gen_range(0..3) {
                0 => b"2026-11-28T12:00:00.000Z DEBUG [http] Authorization: Bearer ",
                1 => b"2026-11-28T12:00:00.000Z INFO  [bot] config {\"token\":\"",
                _ => b"2026-11-28T12:00:00.000Z WARN  [http] GET /callback?key=",
            };
            text.extend_from_slice(prefix);
            text.extend_from_slice(form);
            text.extend_from_slice(b" end\n");
            planted += 1;
        } else {
            log_line(&mut rng, &mut text);
        }
    }
    let text = &text[..];

    // Plain copy of the same chunks, then the redactor, streaming; each
    // `--passes` times, keeping the best.
    let mut out = Vec::with_capacity(2 * CHUNK);
    let (mut copy, mut redact) = (0f64, 0f64);
    for _ in 0..args.passes {
        let t = Instant::now();
        for chunk in text.chunks(CHUNK) {
            out.clear();
            out.extend_from_slice(black_box(chunk));
            black_box(&out);
        }
        copy = copy.max(mb_s(text.len(), t.elapsed()));

        let t = Instant::now();
        let mut stream = redactor.stream();
        for chunk in text.chunks(CHUNK) {
            out.clear();
            stream.feed(black_box(chunk), &mut out);
            black_box(&out);
        }
        out.clear();
        stream.finish(&mut out);
        black_box(&out);
        redact = redact.max(mb_s(text.len(), t.elapsed()));
    }

    // Untimed: how many replacements were written.
    let mut masked = 0;
    let mut stream = redactor.stream();
    for chunk in text.chunks(CHUNK) {
        out.clear();
        stream.feed(chunk, &mut out);
        masked += memchr::memmem::find_iter(&out, b"[REDACTED:").count();
    }
    out.clear();
    stream.finish(&mut out);
    masked += memchr::memmem::find_iter(&out, b"[REDACTED:").count();

    // Naive: one search-and-replace pass per pattern, per chunk.
    let naive = if args.naive_mib > 0 {
        let sample = &text[..text.len().min(args.naive_mib << 20)];
        let t = Instant::now();
        for chunk in sample.chunks(CHUNK) {
            black_box(reference::replace_each(&redactor, black_box(chunk)));
        }
        format!(" naive_mb_s={:.2}", mb_s(sample.len(), t.elapsed()))
    } else {
        String::new()
    };

    println!(
        "redact_mb_s={redact:.0} copy_mb_s={copy:.0} patterns={} build_ms={build_ms:.3}{naive} masked={masked} planted={planted}",
        redactor.pattern_count()
    );
}

//! The streaming redactor, fed in fuzzer-chosen chunks, must produce what
//! the naive reference (leftmost-longest over the pattern list) produces,
//! and what the one-shot `redact` produces.
//!
//! Input layout (via `Unstructured`): up to 6 secrets (arbitrary bytes,
//! some cut from the text so they occur in it), then text built from
//! filler bytes, planted forms of the secrets (whole or cut off), then
//! chunk sizes.

#![no_main]

use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use paige_redact::{Redactor, reference};

fn run(data: &[u8]) -> Result<()> {
    let mut u = Unstructured::new(data);
    let n = u.int_in_range(0..=6)?;
    let mut values: Vec<Vec<u8>> = Vec::new();
    for _ in 0..n {
        let len = u.int_in_range(0..=48)?;
        values.push(u.bytes(len)?.to_vec());
    }
    // Derived secrets: prefixes, suffixes, concatenations.
    for _ in 0..u.int_in_range(0..=2)? {
        if values.is_empty() {
            break;
        }
        let a = values[u.choose_index(values.len())?].clone();
        let b = &values[u.choose_index(values.len())?];
        let cut = u.int_in_range(0..=a.len())?;
        let v = match u.int_in_range(0..=2)? {
            0 => a[..cut].to_vec(),
            1 => a[cut..].to_vec(),
            _ => [&a[..], &b[..]].concat(),
        };
        values.push(v);
    }
    let forms: Vec<Vec<Vec<u8>>> = values.iter().map(|v| reference::forms(v)).collect();

    let mut text = Vec::new();
    let pieces = u.int_in_range(0..=24)?;
    for _ in 0..pieces {
        match u.int_in_range(0..=3)? {
            0 | 1 => {
                let len = u.int_in_range(0..=24)?;
                text.extend_from_slice(u.bytes(len)?);
            }
            k => {
                if forms.is_empty() {
                    continue;
                }
                let f = &forms[u.choose_index(forms.len())?];
                if f.is_empty() {
                    continue;
                }
                let form = &f[u.choose_index(f.len())?];
                let end = if k == 2 { form.len() } else { u.int_in_range(0..=form.len())? };
                text.extend_from_slice(&form[..end]);
            }
        }
    }

    let secrets: Vec<(String, Vec<u8>)> = values
        .into_iter()
        .enumerate()
        .map(|(i, v)| (format!("S{}", i % 4), v))
        .collect();
    let r = Redactor::new(&secrets);

    let expected = reference::leftmost_longest(&r, &text);
    assert_eq!(r.redact(&text), expected, "one-shot differs from reference");

    let mut s = r.stream();
    let mut out = Vec::new();
    let mut rest = &text[..];
    while !rest.is_empty() {
        let size = if u.is_empty() { rest.len() } else { u.int_in_range(0..=rest.len().min(64))? };
        s.feed(&rest[..size], &mut out);
        rest = &rest[size..];
    }
    s.finish(&mut out);
    assert_eq!(out, expected, "streaming differs from reference");
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(data);
});

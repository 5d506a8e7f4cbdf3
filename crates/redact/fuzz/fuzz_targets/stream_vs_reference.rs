//! The streaming redactor, fed in fuzzer-chosen chunks, must produce what
//! the naive reference (leftmost-longest over the pattern list) produces,
//! and what the one-shot `redact` produces.
//!
//! Input layout (via `Unstructured`): up to 6 secrets (arbitrary bytes,
//! some cut from the text so they occur in it), then text built from
//! filler bytes, planted forms of the secrets (whole, cut off, any part of
//! one, or a part wrapped at a column with LF or CRLF: the reference masks
//! every 12-byte window of a form of 12 bytes or more, and shorter forms
//! whole), then chunk sizes.

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
        match u.int_in_range(0..=5)? {
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
                let start = if k >= 4 { u.int_in_range(0..=form.len())? } else { 0 };
                let end = if k == 2 { form.len() } else { u.int_in_range(start..=form.len())? };
                let part = &form[start..end];
                if k == 5 {
                    // Wrapped at a column, as MIME and PEM wrap base64.
                    let column = u.int_in_range(1..=80)?;
                    let sep: &[u8] = if u.arbitrary()? { b"\r\n" } else { b"\n" };
                    for (i, line) in part.chunks(column).enumerate() {
                        if i > 0 {
                            text.extend_from_slice(sep);
                        }
                        text.extend_from_slice(line);
                    }
                } else {
                    text.extend_from_slice(part);
                }
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

use std::collections::BTreeSet;

use super::node_fixtures::FIXTURES;
use super::*;

fn all(value: &[u8]) -> BTreeSet<Vec<u8>> {
    let mut out = Vec::new();
    expand(value, &mut out);
    out.into_iter().map(|p| p.to_vec()).collect()
}

fn set(items: &[&[u8]]) -> BTreeSet<Vec<u8>> {
    items.iter().map(|i| i.to_vec()).collect()
}

#[test]
fn hello_world_exact() {
    // Node: Buffer.from("hello world").toString("base64") = "aGVsbG8gd29ybGQ=",
    // of "\0hello world" = "AGhlbGxvIHdvcmxk", of "\0\0hello world" = "AABoZWxsbyB3b3JsZA==".
    let expected = set(&[
        b"hello world",
        b"aGVsbG8gd29ybG",
        b"aGVsbG8gd29ybGQ",
        b"aGVsbG8gd29ybGQ=",
        b"hlbGxvIHdvcmxk",
        b"oZWxsbyB3b3JsZ",
        b"oZWxsbyB3b3JsZA",
        b"oZWxsbyB3b3JsZA==",
        b"hello%20world",
    ]);
    assert_eq!(all(b"hello world"), expected);
}

#[test]
fn too_short_values_give_nothing() {
    assert!(all(b"").is_empty());
    assert!(all(b"abc").is_empty());
    assert!(!all(b"abcd").is_empty());
}

#[test]
fn percent_and_json_match_node() {
    for f in FIXTURES {
        let p = all(f.value);
        assert!(p.contains(f.value));
        assert!(p.contains(f.uri), "uri of {:?}", f.value);
        let mut lower = f.uri.to_vec();
        let mut i = 0;
        while i < lower.len() {
            if lower[i] == b'%' {
                lower[i + 1].make_ascii_lowercase();
                lower[i + 2].make_ascii_lowercase();
                i += 3;
            } else {
                i += 1;
            }
        }
        assert!(p.contains(&lower), "lower-case uri of {:?}", f.value);
        assert_eq!(&percent_encode(f.value, b"0123456789ABCDEF")[..], f.uri);
        let inner = &f.json[1..f.json.len() - 1];
        assert_eq!(&json_escape(f.value)[..], inner);
        assert!(p.contains(inner));
    }
}

#[test]
fn base64_matches_node_at_every_offset() {
    for f in FIXTURES {
        let p = all(f.value);
        let n = f.value.len();
        for &(prefix, suffix, std, url) in f.base64 {
            let o = prefix.len();
            let first = (8 * o).div_ceil(6);
            let core_end = 8 * (o + n) / 6;
            // The value in the middle of the data: the characters that
            // depend on it alone.
            assert!(p.contains(&std[first..core_end]), "{:?} {o}", f.value);
            assert!(p.contains(&url[first..core_end]), "{:?} {o}", f.value);
            if suffix.is_empty() {
                // The value ends the data: padded and unpadded ends.
                let padded = &std[first..];
                let unpadded = padded
                    .strip_suffix(b"==")
                    .or_else(|| padded.strip_suffix(b"="))
                    .unwrap_or(padded);
                assert!(p.contains(padded));
                assert!(p.contains(unpadded));
                assert!(p.contains(&url[first..]));
                let mut url_padded = url[first..].to_vec();
                url_padded.extend_from_slice(&padded[unpadded.len()..]);
                assert!(p.contains(&url_padded));
            }
        }
        // Nothing else: every pattern is one of the documented forms.
        let mut expected = BTreeSet::new();
        expected.insert(f.value.to_vec());
        expected.insert(percent_encode(f.value, b"0123456789ABCDEF").to_vec());
        expected.insert(percent_encode(f.value, b"0123456789abcdef").to_vec());
        expected.insert(json_escape(f.value).to_vec());
        let mut b64 = Vec::new();
        base64_forms(f.value, &mut b64);
        expected.extend(b64.into_iter().map(|b| b.to_vec()));
        let mut lines_out = Vec::new();
        lines(f.value, &mut lines_out);
        expected.extend(lines_out.into_iter().map(|b| b.to_vec()));
        assert_eq!(p, expected);
    }
}

#[test]
fn lines_of_multiline_values() {
    let value = b"-----BEGIN PRIVATE KEY-----\r\nMIIEvQIBADAN\r\nab\r\nBgkqhkiG9w0BAQEF\n-----END PRIVATE KEY-----\n";
    let mut out = Vec::new();
    lines(value, &mut out);
    let got: Vec<Vec<u8>> = out.into_iter().map(|l| l.to_vec()).collect();
    assert_eq!(got, vec![b"MIIEvQIBADAN".to_vec(), b"BgkqhkiG9w0BAQEF".to_vec()]);
    let p = all(value);
    assert!(p.contains(&value[..]));
    assert!(!p.contains(&b"-----BEGIN PRIVATE KEY-----"[..]));
    assert!(!p.contains(&b"-----END PRIVATE KEY-----"[..]));
    // A single-line value gets no line patterns.
    let mut out = Vec::new();
    lines(b"single line", &mut out);
    assert!(out.is_empty());
    // LF only, and a trailing newline.
    let mut out = Vec::new();
    lines(b"first\nsecond\n", &mut out);
    assert_eq!(out.len(), 2);
}

#[test]
fn pem_armour_detection() {
    assert!(is_pem_armour(b"-----BEGIN RSA PRIVATE KEY-----"));
    assert!(is_pem_armour(b"-----END CERTIFICATE-----"));
    assert!(is_pem_armour(b"  -----END CERTIFICATE----- "));
    assert!(!is_pem_armour(b"-----BEGIN but no end"));
    assert!(!is_pem_armour(b"MIIEvQIBADANBgkqhkiG9w0BAQEFAASC"));
}

#[test]
fn json_escapes_controls_like_json_stringify() {
    // JSON.stringify("\u0000\u0007\u007f\"\\/\u00e9") === '"\\u0000\\u0007\u007f\\"\\\\/é"'
    assert_eq!(
        &json_escape("\u{0}\u{7}\u{7f}\"\\/\u{e9}".as_bytes())[..],
        "\\u0000\\u0007\u{7f}\\\"\\\\/\u{e9}".as_bytes()
    );
    // Invalid UTF-8 passes through unchanged.
    assert_eq!(&json_escape(b"\xff\xfe")[..], b"\xff\xfe");
}

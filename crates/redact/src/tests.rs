//! Behaviour of the redactor as a whole: unit tests and property tests.
//! (The encodings themselves are tested in `patterns::tests`.)

use proptest::prelude::*;

use crate::reference;
use crate::{RedactStream, Redactor};

fn redactor(secrets: &[(&str, &[u8])]) -> Redactor {
    Redactor::new(secrets)
}

fn stream_all(r: &Redactor, chunks: &[&[u8]]) -> Vec<u8> {
    let mut s = r.stream();
    let mut out = Vec::new();
    for c in chunks {
        s.feed(c, &mut out);
    }
    s.finish(&mut out);
    out
}

fn bytewise(r: &Redactor, input: &[u8]) -> Vec<u8> {
    let chunks: Vec<&[u8]> = input.chunks(1).collect();
    stream_all(r, &chunks)
}

#[test]
fn a_redactor_for_given_inputs_keeps_only_the_secrets_that_can_occur_there() {
    let secrets: &[(&str, &[u8])] = &[
        ("API_KEY", b"sk_live_0123456789abcdef"),
        ("DB_PASSWORD", b"correct-horse-battery"),
    ];
    let none = Redactor::for_inputs(secrets, &[b"node", b"index.js"]);
    assert_eq!(none.pattern_count(), 0);
    assert_eq!(none.redact(b"index.js"), b"index.js");
    // 12 bytes of the key, in one argument of two.
    let inputs: &[&[u8]] = &[b"node", b"--token=live_0123456"];
    let one = Redactor::for_inputs(secrets, inputs);
    assert_eq!(one.pattern_count(), Redactor::new(&secrets[..1]).pattern_count());
    assert_eq!(one.redact(inputs[1]), b"--token=[REDACTED:API_KEY]");
    assert_eq!(one.redact(inputs[1]), Redactor::new(secrets).redact(inputs[1]));
}

#[test]
fn masks_value_and_encodings() {
    let r = redactor(&[("API_KEY", b"sk_live_p@ss/w0rd+?=&x")]);
    let cases: &[&[u8]] = &[
        b"key=sk_live_p@ss/w0rd+?=&x;",
        b"key=c2tfbGl2ZV9wQHNzL3cwcmQrPz0meA==;",
        b"key=c2tfbGl2ZV9wQHNzL3cwcmQrPz0meA;",
        b"key=sk_live_p%40ss%2Fw0rd%2B%3F%3D%26x;",
        b"key=sk_live_p%40ss%2fw0rd%2b%3f%3d%26x;",
    ];
    for c in cases {
        assert_eq!(
            r.redact(c),
            b"key=[REDACTED:API_KEY];",
            "{}",
            String::from_utf8_lossy(c)
        );
        assert_eq!(bytewise(&r, c), b"key=[REDACTED:API_KEY];");
    }
    // base64 at an offset, in the middle of other data: only the
    // value-dependent characters are masked.
    // Buffer.from("xsk_live_p@ss/w0rd+?=&xyz").toString("base64")
    //   = "eHNrX2xpdmVfcEBzcy93MHJkKz89Jnh5eg=="
    let out = r.redact(b"eHNrX2xpdmVfcEBzcy93MHJkKz89Jnh5eg==");
    assert_eq!(out, b"eH[REDACTED:API_KEY]h5eg==");
}

#[test]
fn json_form_and_lines() {
    let value = "line \"one\"\nline two\\";
    let r = redactor(&[("MULTI", value.as_bytes())]);
    assert_eq!(
        r.redact(br#"{"v":"line \"one\"\nline two\\"}"#),
        br#"{"v":"[REDACTED:MULTI]"}"#
    );
    assert_eq!(r.redact(b"> line \"one\"\r\n"), b"> [REDACTED:MULTI]\r\n");
    assert_eq!(r.redact(b"> line two\\\n"), b"> [REDACTED:MULTI]\n");
}

#[test]
fn short_values_are_ignored() {
    let r = redactor(&[("PIN", b"123"), ("EMPTY", b"")]);
    assert_eq!(r.pattern_count(), 0);
    assert_eq!(r.redact(b"123 123"), b"123 123");
    let r = redactor(&[("PIN", b"1234")]);
    assert_eq!(r.redact(b"x1234x"), b"x[REDACTED:PIN]x");
}

#[test]
fn prefix_secret_leaves_no_tail() {
    let r = redactor(&[("SHORT", b"abcdefgh"), ("LONG", b"abcdefghijklmnop")]);
    assert_eq!(r.redact(b"<abcdefghijklmnop>"), b"<[REDACTED:LONG]>");
    // Under 12 bytes of LONG: only SHORT occurs.
    assert_eq!(r.redact(b"<abcdefghijk>"), b"<[REDACTED:SHORT]ijk>");
    // 12 bytes of LONG count as LONG (a prefix of at least 12 bytes).
    assert_eq!(r.redact(b"<abcdefghijkl>"), b"<[REDACTED:LONG]>");
    assert_eq!(bytewise(&r, b"<abcdefghijklmnop>"), b"<[REDACTED:LONG]>");
}

#[test]
fn overlapping_occurrences_are_both_masked() {
    // One secret's tail is another's head: plain non-overlapping matching
    // would leave "45678901234567" visible.
    let r = redactor(&[("A", b"abcdefgh1234"), ("B", b"12345678901234567")]);
    let out = r.redact(b"abcdefgh12345678901234567!");
    assert_eq!(out, b"[REDACTED:A][REDACTED:B]!");
    assert_eq!(bytewise(&r, b"abcdefgh12345678901234567!"), out);
    // Overlapping occurrences of the same secret make one token.
    let r = redactor(&[("PIN", b"0000")]);
    assert_eq!(r.redact(b"id=0000000000;"), b"id=[REDACTED:PIN];");
    assert_eq!(bytewise(&r, b"id=0000000000;"), b"id=[REDACTED:PIN];");
    // Adjacent (not overlapping) occurrences make one token each.
    let r = redactor(&[("KEY", b"abcd")]);
    assert_eq!(r.redact(b"abcdabcd"), b"[REDACTED:KEY][REDACTED:KEY]");
    // A secret inside another produces no extra token.
    let r = redactor(&[("OUTER", b"xxxxINNERxxxx"), ("INNER", b"INNER")]);
    assert_eq!(r.redact(b"xxxxINNERxxxx"), b"[REDACTED:OUTER]");
}

#[test]
fn shared_pattern_reports_smallest_name() {
    let a = redactor(&[("ZETA", b"same-value"), ("ALPHA", b"same-value")]);
    let b = redactor(&[("ALPHA", b"same-value"), ("ZETA", b"same-value")]);
    assert_eq!(a.redact(b"same-value"), b"[REDACTED:ALPHA]");
    assert_eq!(b.redact(b"same-value"), b"[REDACTED:ALPHA]");
    assert_eq!(a.pattern_count(), b.pattern_count());
}

#[test]
fn invalid_utf8_passes_through() {
    let r = redactor(&[("BIN", b"\xff\xfe\x00secret\x80")]);
    assert_eq!(
        r.redact(b"\xc3\x28 \xff\xfe\x00secret\x80 \xa0"),
        b"\xc3\x28 [REDACTED:BIN] \xa0"
    );
    assert_eq!(r.redact(b"\xc3\x28\xff\xfe"), b"\xc3\x28\xff\xfe");
}

#[test]
fn holds_back_only_a_possible_prefix() {
    let r = redactor(&[("TOKEN", b"ghp_abcdefghijklmnopqrstuvwxyz")]);
    let mut s = r.stream();
    let mut out = Vec::new();
    s.feed(b"line one\nline two gh", &mut out);
    assert_eq!(out, b"line one\nline two ");
    s.feed(b"p_abc", &mut out);
    assert_eq!(out, b"line one\nline two ");
    s.feed(b"X\n", &mut out);
    assert_eq!(out, b"line one\nline two ghp_abcX\n");
    s.feed(b"ghp_abcdefghijklmnopqrstuvwxyz", &mut out);
    assert_eq!(out, b"line one\nline two ghp_abcX\n[REDACTED:TOKEN]");
    s.finish(&mut out);
    // Held bytes are flushed at the end.
    let mut s = r.stream();
    let mut out = Vec::new();
    s.feed(b"end ghp_ab", &mut out);
    assert_eq!(out, b"end ");
    s.finish(&mut out);
    assert_eq!(out, b"end ghp_ab");
}

#[test]
fn nothing_held_for_text_that_cannot_start_a_secret() {
    let r = redactor(&[("K", b"0123456789abcdef0123")]);
    let mut s = r.stream();
    let mut out = Vec::new();
    s.feed(b"no secret here\n", &mut out);
    assert_eq!(out, b"no secret here\n");
}

#[test]
fn debug_never_shows_values() {
    let r = redactor(&[("NAME", b"hunter2hunter2")]);
    let mut s: RedactStream<'_> = r.stream();
    let mut out = Vec::new();
    s.feed(b"hunter2hun", &mut out);
    let text = format!("{r:?} {s:?} {r:#?} {s:#?}");
    assert!(text.contains("NAME"));
    assert!(!text.contains("hunter"), "{text}");
    // Nor any encoding of it.
    assert!(!text.contains("aHVudGVy"), "{text}");
}

#[test]
fn is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Redactor>();
    check::<RedactStream<'_>>();
}

#[test]
fn stream_is_reusable_after_finish() {
    let r = redactor(&[("K", b"secret-value")]);
    let mut s = r.stream();
    let mut out = Vec::new();
    s.feed(b"a secret-va", &mut out);
    s.finish(&mut out);
    s.feed(b"secret-value", &mut out);
    s.finish(&mut out);
    assert_eq!(out, b"a secret-va[REDACTED:K]");
}

#[test]
fn many_secrets_use_the_table_and_agree_with_reference() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let alphabet = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/=-_";
    let secrets: Vec<(String, Vec<u8>)> = (0..50)
        .map(|i| {
            let len = rng.gen_range(4..60);
            let v = (0..len).map(|_| alphabet[rng.gen_range(0..alphabet.len())]).collect();
            (format!("S{i}"), v)
        })
        .collect();
    let r = Redactor::new(&secrets);
    // The window table (forms of 12+ bytes), a q-gram table (8–11 bytes)
    // and the automaton (4–7).
    assert_eq!(r.finders.len(), 3);
    let mut text = Vec::new();
    for i in 0..400 {
        let filler_len = rng.gen_range(0..80);
        text.extend((0..filler_len).map(|_| alphabet[rng.gen_range(0..alphabet.len())]));
        let p = r.pattern(rng.gen_range(0..r.pattern_count()) as u32);
        if i % 3 == 0 {
            text.extend_from_slice(p);
        } else {
            // A cut-off occurrence.
            text.extend_from_slice(&p[..p.len() / 2]);
        }
    }
    let expected = reference::leftmost_longest(&r, &text);
    assert_eq!(r.redact(&text), expected);
    assert_eq!(bytewise(&r, &text), expected);
    let chunks: Vec<&[u8]> = text.chunks(97).collect();
    assert_eq!(stream_all(&r, &chunks), expected);
}

#[test]
fn many_short_secrets_use_a_table_and_agree_with_reference() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let alphabet = b"abcdefgh0123+/=%";
    let secrets: Vec<(String, Vec<u8>)> = (0..40)
        .map(|i| {
            let len = rng.gen_range(4..8);
            let v = (0..len).map(|_| alphabet[rng.gen_range(0..alphabet.len())]).collect();
            (format!("S{i}"), v)
        })
        .collect();
    let r = Redactor::new(&secrets);
    // More than 48 short forms: a table, not the automaton (their longer
    // forms, percent-encoded and hex, go to the window table).
    assert!(r.finders.iter().any(|f| matches!(f, crate::Finder::Table(_))));
    assert!(!r.finders.iter().any(|f| matches!(f, crate::Finder::Automaton(..))));
    let text: Vec<u8> = (0..20_000)
        .map(|_| alphabet[rng.gen_range(0..alphabet.len())])
        .collect();
    let expected = reference::leftmost_longest(&r, &text);
    assert_ne!(expected, text);
    assert_eq!(r.redact(&text), expected);
    assert_eq!(bytewise(&r, &text), expected);
}

// ---- property tests -------------------------------------------------

/// Pieces secrets and filler are made of: quotes, slashes, `%`, `+`,
/// newlines, non-ASCII, invalid UTF-8, a NUL. Never 0x01 (used below to
/// stand in for a replacement token).
const PIECES: &[&[u8]] = &[
    b"a",
    b"b",
    b"c",
    b"x",
    b"Q",
    b"7",
    b"\"",
    b"\\",
    b"/",
    b"%",
    b"+",
    b"=",
    b"\n",
    b"\r\n",
    b" ",
    b"-",
    b"_",
    b"\t",
    b"~",
    b"\0",
    b"\xff",
    "é".as_bytes(),
    "€".as_bytes(),
    "😀".as_bytes(),
];

fn bytes_from(pieces: Vec<usize>) -> Vec<u8> {
    pieces
        .into_iter()
        .flat_map(|i| PIECES[i % PIECES.len()].iter().copied())
        .collect()
}

fn base_value() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<usize>(), 3..24).prop_map(bytes_from)
}

/// 1–4 base values plus values derived from them: prefixes, suffixes,
/// substrings and concatenations, so that secrets overlap each other.
fn secrets() -> impl Strategy<Value = Vec<Vec<u8>>> {
    (
        prop::collection::vec(base_value(), 1..4),
        prop::collection::vec((0u8..4, any::<usize>(), any::<usize>(), any::<usize>()), 0..4),
    )
        .prop_map(|(mut values, derived)| {
            for (kind, i, a, b) in derived {
                let base = values[i % values.len()].clone();
                let n = base.len();
                let (x, y) = (a % (n + 1), b % (n + 1));
                let (lo, hi) = (x.min(y), x.max(y));
                let v = match kind {
                    0 => base[..hi].to_vec(),
                    1 => base[lo..].to_vec(),
                    2 => base[lo..hi].to_vec(),
                    _ => {
                        let mut v = base.clone();
                        v.extend_from_slice(&values[a % values.len()]);
                        v
                    }
                };
                values.push(v);
            }
            values
        })
}

#[derive(Debug, Clone)]
enum Piece {
    Filler(Vec<u8>),
    /// (secret, which of its forms)
    Plant(usize, usize),
}

fn text_pieces() -> impl Strategy<Value = Vec<Piece>> {
    prop::collection::vec(
        prop_oneof![
            prop::collection::vec(any::<usize>(), 0..12).prop_map(|p| Piece::Filler(bytes_from(p))),
            (any::<usize>(), any::<usize>()).prop_map(|(s, f)| Piece::Plant(s, f)),
        ],
        0..16,
    )
}

fn named(values: &[Vec<u8>]) -> Vec<(String, Vec<u8>)> {
    values
        .iter()
        .enumerate()
        .map(|(i, v)| (format!("K{i}"), v.clone()))
        .collect()
}

/// Builds the text; returns it with the planted forms.
fn build_text(values: &[Vec<u8>], pieces: &[Piece]) -> (Vec<u8>, Vec<Vec<u8>>) {
    let mut text = Vec::new();
    let mut planted = Vec::new();
    for p in pieces {
        match p {
            Piece::Filler(f) => text.extend_from_slice(f),
            Piece::Plant(s, f) => {
                let mut forms = Vec::new();
                crate::patterns::expand(&values[s % values.len()], &mut forms);
                if let Some(form) = forms.get(f % forms.len().max(1)) {
                    text.extend_from_slice(form);
                    planted.push(form.to_vec());
                }
            }
        }
    }
    (text, planted)
}

fn split<'a>(text: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (text.len() + 1)).collect();
    points.sort_unstable();
    let mut chunks = Vec::new();
    let mut last = 0;
    for p in points {
        chunks.push(&text[last..p]);
        last = p;
    }
    chunks.push(&text[last..]);
    chunks
}

/// The text between plants: each run of consecutive fillers, joined. Bytes
/// found there pass through by rule (3), even where they equal part of a
/// secret (say, a filler of three emoji after a value that holds them).
fn clean_runs(pieces: &[Piece]) -> Vec<Vec<u8>> {
    let mut runs = vec![Vec::new()];
    for piece in pieces {
        match piece {
            Piece::Filler(bytes) => runs.last_mut().map_or((), |run| run.extend_from_slice(bytes)),
            Piece::Plant(..) => runs.push(Vec::new()),
        }
    }
    runs
}

/// The output with every `[REDACTED:Kn]` token replaced by a 0x01 byte.
fn without_tokens(out: &[u8], names: usize) -> Vec<u8> {
    let mut s = out.to_vec();
    for i in 0..names {
        let token = format!("[REDACTED:K{i}]");
        let mut next = Vec::with_capacity(s.len());
        let mut rest = &s[..];
        while let Some(at) = memchr::memmem::find(rest, token.as_bytes()) {
            next.extend_from_slice(&rest[..at]);
            next.push(1);
            rest = &rest[at + token.len()..];
        }
        next.extend_from_slice(rest);
        s = next;
    }
    s
}

/// No form shorter than `WINDOW` occurs in `text`, and no `WINDOW` bytes of
/// a longer one.
fn is_clean(r: &Redactor, text: &[u8]) -> bool {
    (0..r.pattern_count() as u32).all(|i| {
        let form = r.pattern(i);
        if form.len() < crate::WINDOW {
            memchr::memmem::find(text, form).is_none()
        } else {
            text.windows(crate::WINDOW)
                .all(|w| memchr::memmem::find(form, w).is_none())
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// (1) Streaming over any chunking equals one-shot, which equals the
    /// naive reference.
    #[test]
    fn streaming_equals_one_shot(
        values in secrets(),
        pieces in text_pieces(),
        cuts in prop::collection::vec(any::<usize>(), 0..12),
    ) {
        let secrets = named(&values);
        let r = Redactor::new(&secrets);
        let (text, _) = build_text(&values, &pieces);
        let one_shot = r.redact(&text);
        prop_assert_eq!(&one_shot, &reference::leftmost_longest(&r, &text));
        prop_assert_eq!(&stream_all(&r, &split(&text, &cuts)), &one_shot);
        prop_assert_eq!(&bytewise(&r, &text), &one_shot);
    }

    /// (1c) A redactor for given inputs masks them as the whole one does.
    #[test]
    fn a_redactor_for_given_inputs_masks_them_as_the_whole_one(
        values in secrets(),
        pieces in text_pieces(),
        cuts in prop::collection::vec(any::<usize>(), 0..6),
    ) {
        let secrets = named(&values);
        let whole = Redactor::new(&secrets);
        let (text, _) = build_text(&values, &pieces);
        let inputs = split(&text, &cuts);
        let part = Redactor::for_inputs(&secrets, &inputs);
        for input in &inputs {
            prop_assert_eq!(part.redact(input), whole.redact(input));
        }
    }

    /// (1b) The occurrences are exactly where the one-shot output puts its
    /// tokens: replacing each range by its token rebuilds that output.
    #[test]
    fn occurrences_rebuild_the_redaction(values in secrets(), pieces in text_pieces()) {
        let secrets = named(&values);
        let r = Redactor::new(&secrets);
        let (text, _) = build_text(&values, &pieces);
        let mut rebuilt = Vec::new();
        let mut at = 0;
        for o in r.occurrences(&text) {
            prop_assert!(at <= o.start && o.start < o.end);
            rebuilt.extend_from_slice(&text[at..o.start]);
            rebuilt.extend_from_slice(format!("[REDACTED:{}]", o.name).as_bytes());
            at = o.end;
        }
        rebuilt.extend_from_slice(&text[at..]);
        prop_assert_eq!(rebuilt, r.redact(&text));
    }

    /// (2) No window of 12 bytes (or the whole form, if shorter) of any
    /// planted form survives.
    #[test]
    fn planted_forms_do_not_survive(
        values in secrets(),
        pieces in text_pieces(),
        cuts in prop::collection::vec(any::<usize>(), 0..12),
    ) {
        let secrets = named(&values);
        let r = Redactor::new(&secrets);
        let (text, planted) = build_text(&values, &pieces);
        let out = stream_all(&r, &split(&text, &cuts));
        let visible = without_tokens(&out, secrets.len());
        let clean = clean_runs(&pieces);
        for form in &planted {
            let w = form.len().min(12);
            for window in form.windows(w) {
                // Filler that happens to hold these bytes is not a leak.
                if clean.iter().any(|run| memchr::memmem::find(run, window).is_some()) {
                    continue;
                }
                prop_assert!(
                    memchr::memmem::find(&visible, window).is_none(),
                    "window {:?} of {:?} survives in {:?}",
                    String::from_utf8_lossy(window),
                    String::from_utf8_lossy(form),
                    String::from_utf8_lossy(&out)
                );
            }
        }
    }

    /// (3) Text that contains no secret passes through byte for byte.
    #[test]
    fn clean_text_passes_through(
        values in secrets(),
        filler in prop::collection::vec(any::<usize>(), 0..300),
        cuts in prop::collection::vec(any::<usize>(), 0..12),
    ) {
        let secrets = named(&values);
        let r = Redactor::new(&secrets);
        let text = bytes_from(filler);
        let clean = is_clean(&r, &text);
        prop_assume!(clean);
        prop_assert_eq!(&r.redact(&text), &text);
        prop_assert_eq!(&stream_all(&r, &split(&text, &cuts)), &text);
    }

    /// Arbitrary bytes and secrets: never panics, streaming agrees.
    #[test]
    fn arbitrary_bytes(
        values in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..20), 0..4),
        text in prop::collection::vec(any::<u8>(), 0..200),
        cuts in prop::collection::vec(any::<usize>(), 0..8),
    ) {
        let secrets = named(&values);
        let r = Redactor::new(&secrets);
        let one_shot = r.redact(&text);
        prop_assert_eq!(&one_shot, &reference::leftmost_longest(&r, &text));
        prop_assert_eq!(&stream_all(&r, &split(&text, &cuts)), &one_shot);
    }
}

//! Slow, obviously-correct implementations, for tests, fuzzing and the
//! throughput example. They use the redactor's own pattern list (so the
//! pattern generation is shared and tested on its own); only the matching
//! is reimplemented.

use crate::{Redactor, WINDOW};

/// Every form the redactor masks for one value (the value, its lines, and
/// their `util.inspect`, JSON, URL, form, hex, Buffer and base64 forms),
/// possibly with duplicates. For planting occurrences in test input; the
/// caller already holds the value.
pub fn forms(value: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    crate::patterns::expand(value, &mut out);
    out.into_iter().map(|f| f.to_vec()).collect()
}

/// The longest occurrence starting at `start`, naively: a window (the
/// [`WINDOW`](crate::WINDOW) bytes there are a substring of a form at least
/// that long; reported for the secret whose name sorts first among those
/// that have it), else the longest shorter form that occurs whole there.
/// Returns (end, secret index).
fn longest_at(r: &Redactor, input: &[u8], start: usize) -> Option<(usize, u32)> {
    let forms = 0..r.pattern_count() as u32;
    if let Some(window) = input.get(start..start + WINDOW) {
        let owner = forms
            .clone()
            .filter(|&i| r.pattern(i).len() >= WINDOW && memchr::memmem::find(r.pattern(i), window).is_some())
            .map(|i| r.owner[i as usize])
            .min_by_key(|&o| r.rank[o as usize]);
        if let Some(owner) = owner {
            return Some((start + WINDOW, owner));
        }
    }
    forms
        .filter(|&i| r.pattern(i).len() < WINDOW && input[start..].starts_with(r.pattern(i)))
        .max_by_key(|&i| r.pattern(i).len())
        .map(|i| (start + r.pattern(i).len(), r.owner[i as usize]))
}

/// The redactor's matching rule, naively: for each position in order, the
/// longest occurrence starting there; it is masked if it reaches past what
/// is already masked, with a new token unless it overlaps the previous
/// occurrence of the same secret.
pub fn leftmost_longest(r: &Redactor, input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut covered = 0;
    let mut last_owner = None;
    for start in 0..input.len() {
        if let Some((end, owner)) = longest_at(r, input, start)
            && end > covered
        {
            if start > covered {
                out.extend_from_slice(&input[covered..start]);
            }
            if start >= covered || last_owner != Some(owner) {
                out.extend_from_slice(r.replacement(owner));
            }
            covered = end;
            last_owner = Some(owner);
        }
    }
    if covered < input.len() {
        out.extend_from_slice(&input[covered..]);
    }
    out
}

/// The naive approach, for scale: one search-and-replace pass over the
/// whole text per pattern, longest patterns first.
pub fn replace_each(r: &Redactor, input: &[u8]) -> Vec<u8> {
    let mut order: Vec<u32> = (0..r.pattern_count() as u32).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(r.pattern(i).len()));
    let mut text = input.to_vec();
    for i in order {
        let finder = memchr::memmem::Finder::new(r.pattern(i));
        if finder.find(&text).is_none() {
            continue;
        }
        let mut next = Vec::with_capacity(text.len());
        let mut last = 0;
        for m in finder.find_iter(&text) {
            if m < last {
                continue;
            }
            next.extend_from_slice(&text[last..m]);
            next.extend_from_slice(r.replacement(r.owner[i as usize]));
            last = m + r.pattern(i).len();
        }
        next.extend_from_slice(&text[last..]);
        text = next;
    }
    text
}

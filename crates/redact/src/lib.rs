//! Streaming redactor: masks secret values, and the usual encodings of
//! them, in a byte stream.
//!
//! A [`Redactor`] is built once per execution from the secrets' (name,
//! value) pairs. Each output stream (stdout, stderr) gets its own
//! [`RedactStream`]; the runtime feeds it whatever chunks the process
//! writes and calls [`RedactStream::finish`] at the end. Every occurrence
//! of a form (see [forms](crate#forms-and-windows)) is replaced by
//! `[REDACTED:NAME]`.
//!
//! ```
//! use paige_redact::Redactor;
//!
//! let redactor = Redactor::new(&[("API_KEY", "sk_live_0123456789")]);
//! let mut stdout = redactor.stream();
//! let mut out = Vec::new();
//! stdout.feed(b"key=sk_live_01", &mut out); // "sk_live_01" is held back
//! assert_eq!(out, b"key=");
//! stdout.feed(b"23456789\n", &mut out);
//! stdout.finish(&mut out);
//! assert_eq!(out, b"key=[REDACTED:API_KEY]\n");
//! assert_eq!(redactor.redact(b"key=sk_live_0123456789\n"), out);
//! ```
//!
//! # Forms and windows
//!
//! For each value of at least 4 bytes (for a PEM file, each run of body
//! lines between its armour lines): the value; its `util.inspect` escaping
//! in both quoting styles; JSON, JSON inside JSON, JSON with `\u` escapes
//! and `inspect` of JSON; `encodeURIComponent` (upper- and lower-case hex),
//! `URLSearchParams`, `encodeURI`, a URL's query and password; hex in both
//! cases and a Buffer's bytes as `console.log` prints them; base64
//! (standard and URL-safe, the value at each of the three byte offsets,
//! padded or not, the first line of a wrapped block with its break); and
//! for a multi-line value, each line's base64 forms and its short forms.
//!
//! A form shorter than [`WINDOW`] (12) bytes is masked where it occurs
//! whole; a longer one wherever **any 12 consecutive bytes** of it occur,
//! so a prefix, suffix, truncated or wrapped part of at least 12 bytes is
//! masked like the whole. The crate's README states the threat model: what
//! honest code prints by accident is in scope, deliberate exfiltration is
//! not.
//!
//! # Matching
//!
//! Over those occurrences (12-byte windows and short forms),
//! leftmost-longest: the earliest occurrence wins and, of those starting
//! there, the longest. Unlike plain non-overlapping matching, an occurrence
//! that *overlaps* the end of the previous match is masked too: with the
//! same secret it extends the token, with another its part beyond the
//! previous match becomes one more `[REDACTED:NAME]`. So the bytes left
//! visible are exactly those that belong to no occurrence. A window shared
//! by several secrets reports the one whose name sorts first.
//!
//! # Streaming
//!
//! A stream holds back only a suffix of what it was fed that might still
//! become an occurrence (at most 11 bytes); everything else is written at
//! once. The output for any split of the input into
//! chunks equals [`Redactor::redact`] of the whole input.

mod patterns;
pub mod reference;

/// A run of this many consecutive bytes of a form counts as the secret
/// (forms shorter than this must occur whole).
pub use patterns::WINDOW;
mod table;
mod windows;

use std::fmt;

use aho_corasick::{AhoCorasick, Input, MatchKind};
use zeroize::Zeroizing;

use table::GramTable;
use windows::{LongForm, Run, WindowTable};

/// Forms of at least [`WINDOW`] bytes go to the window table (every run of
/// `WINDOW` bytes of them is masked). Shorter forms must occur whole: those
/// of at least `CLASSES[i]` bytes (and less than the previous bound) share a
/// q-gram table whose stride follows from the shortest of them; the
/// shortest (4–7 bytes, from values the store warns about) go to an
/// Aho–Corasick automaton, or to another table if there are many.
const CLASSES: [usize; 1] = [8];
/// Upper bound on the sampling stride of a q-gram table. Larger strides
/// sample less text but put more entries in the table.
const MAX_STRIDE: usize = 32;
/// The shortest patterns go to the automaton only if there are at most this
/// many (its SIMD prefilter then applies); more go to a table with a small
/// stride, which degrades more gently.
const AUTOMATON_MAX: usize = 48;
/// At most this many finders: the window table, one table per class and
/// the automaton.
const FINDERS: usize = CLASSES.len() + 2;

/// Finds the leftmost occurrence (and the longest there) of a subset of the
/// patterns.
enum Finder {
    /// Every window of the long forms.
    Windows(WindowTable),
    Table(GramTable),
    /// An automaton, and its pattern ids -> our pattern indices.
    Automaton(AhoCorasick, Vec<u32>),
}

/// Masks a fixed set of secrets. Built once per execution; `Send + Sync`,
/// so one redactor can serve several streams at once.
pub struct Redactor {
    /// All forms' bytes, concatenated in sorted order.
    arena: Zeroizing<Vec<u8>>,
    /// `(start, len)` in `arena` of each form, sorted by form bytes.
    spans: Vec<(usize, usize)>,
    /// For each form, the index of the secret whose name it reports.
    owner: Vec<u32>,
    /// For each secret, the position of its name in name order.
    rank: Vec<u32>,
    names: Vec<Box<str>>,
    replacements: Vec<Box<[u8]>>,
    /// The longest occurrence that can be cut by the end of a chunk: the
    /// longest short form, or `WINDOW` if there are long ones.
    max_len: usize,
    /// Each pattern is in exactly one finder; at most [`FINDERS`].
    finders: Vec<Finder>,
    /// Bitset of hashes of every pattern's first 4 bytes, and of first
    /// bytes: a quick "no pattern starts like this" for the hold-back test.
    prefix4: Vec<u64>,
    first_byte: [bool; 256],
}

const PREFIX4_BITS: u32 = 16;

#[inline]
fn prefix4_index(bytes: &[u8; 4]) -> usize {
    (u64::from(u32::from_le_bytes(*bytes)).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - PREFIX4_BITS)) as usize
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Redactor")
            .field("names", &self.names)
            .field("patterns", &self.spans.len())
            .field("finders", &self.finders.len())
            .finish_non_exhaustive()
    }
}

impl Redactor {
    /// Builds a redactor. `secrets` are (name, value) pairs; values shorter
    /// than 4 bytes produce no form.
    pub fn new<N: AsRef<str>, V: AsRef<[u8]>>(secrets: &[(N, V)]) -> Redactor {
        let names: Vec<Box<str>> = secrets.iter().map(|(n, _)| n.as_ref().into()).collect();
        let replacements: Vec<Box<[u8]>> = names
            .iter()
            .map(|n| format!("[REDACTED:{n}]").into_bytes().into_boxed_slice())
            .collect();

        let mut all: Vec<(Zeroizing<Vec<u8>>, u32)> = Vec::new();
        let mut scratch = Vec::new();
        for (i, (_, value)) in secrets.iter().enumerate() {
            patterns::expand(value.as_ref(), &mut scratch);
            all.extend(scratch.drain(..).map(|p| (p, i as u32)));
        }
        let mut by_name: Vec<u32> = (0..names.len() as u32).collect();
        by_name.sort_unstable_by(|&a, &b| names[a as usize].cmp(&names[b as usize]).then(a.cmp(&b)));
        let mut rank = vec![0u32; names.len()];
        for (r, &i) in by_name.iter().enumerate() {
            rank[i as usize] = r as u32;
        }
        // Sort by bytes, then by name, so a form shared by several secrets
        // reports the smallest name whatever the input order.
        all.sort_unstable_by(|a, b| {
            a.0.cmp(&b.0)
                .then_with(|| names[a.1 as usize].cmp(&names[b.1 as usize]))
                .then_with(|| a.1.cmp(&b.1))
        });
        all.dedup_by(|later, earlier| later.0 == earlier.0);

        let total: usize = all.iter().map(|p| p.0.len()).sum();
        let mut arena = Zeroizing::new(Vec::with_capacity(total));
        let mut spans = Vec::with_capacity(all.len());
        let mut owner = Vec::with_capacity(all.len());
        let mut prefix4 = vec![0u64; (1 << PREFIX4_BITS) / 64];
        let mut first_byte = [false; 256];
        let mut max_len = 0;
        for (bytes, secret) in &all {
            spans.push((arena.len(), bytes.len()));
            owner.push(*secret);
            arena.extend_from_slice(bytes);
            max_len = max_len.max(bytes.len().min(WINDOW));
            if let Some(p) = bytes.first_chunk::<4>() {
                let h = prefix4_index(p);
                prefix4[h / 64] |= 1 << (h % 64);
            }
            if let Some(&b) = bytes.first() {
                first_byte[usize::from(b)] = true;
            }
        }
        drop(all);

        let mut r = Redactor {
            arena,
            spans,
            owner,
            rank,
            names,
            replacements,
            max_len,
            finders: Vec::new(),
            prefix4,
            first_byte,
        };
        r.build_finders();
        r
    }

    /// A redactor of only those `secrets` that can occur in `inputs`: on
    /// each of them, its output equals [`Redactor::new`]'s of all
    /// `secrets`, for a fraction of the build (for a command line, say,
    /// while the whole redactor is built elsewhere).
    ///
    /// Exact because every occurrence (a form shorter than [`WINDOW`]
    /// whole, or [`WINDOW`] bytes of a longer one) is at least 4 bytes
    /// long, so each of its 4-byte runs is in the input: a secret none of
    /// whose forms shares a 4-byte run with any input has no occurrence
    /// there, and is not the first-named owner of a form or window that
    /// does (such a secret has that form or window too).
    pub fn for_inputs<N: AsRef<str>, V: AsRef<[u8]>>(secrets: &[(N, V)], inputs: &[&[u8]]) -> Redactor {
        // The inputs' 4-byte runs, and a bitset of their hashes that
        // rejects nearly every other run with one probe.
        let grams: Vec<[u8; 4]> = inputs
            .iter()
            .flat_map(|input| input.windows(4))
            .filter_map(|g| g.first_chunk::<4>().copied())
            .collect();
        let mut seen = vec![0u64; (1 << PREFIX4_BITS) / 64];
        for g in &grams {
            let h = prefix4_index(g);
            seen[h / 64] |= 1 << (h % 64);
        }
        let in_inputs = |g: &[u8]| {
            let Some(g) = g.first_chunk::<4>() else { return false };
            let h = prefix4_index(g);
            seen[h / 64] & (1 << (h % 64)) != 0 && grams.contains(g)
        };
        let mut forms = Vec::new();
        let kept: Vec<(&str, &[u8])> = secrets
            .iter()
            .filter(|(_, value)| {
                forms.clear();
                patterns::expand(value.as_ref(), &mut forms);
                !grams.is_empty() && forms.iter().any(|form| form.windows(4).any(in_inputs))
            })
            .map(|(name, value)| (name.as_ref(), value.as_ref()))
            .collect();
        Redactor::new(&kept)
    }

    fn build_finders(&mut self) {
        let n = self.spans.len() as u32;
        let long: Vec<LongForm> = (0..n as usize)
            .filter(|&i| self.spans[i].1 >= WINDOW)
            .map(|i| LongForm {
                start: self.spans[i].0 as u32,
                end: (self.spans[i].0 + self.spans[i].1) as u32,
                owner: self.owner[i],
            })
            .collect();
        if !long.is_empty() {
            let table = WindowTable::new(&self.arena, long, &self.rank);
            self.finders.push(Finder::Windows(table));
        }
        let mut upper = WINDOW;
        for lower in CLASSES {
            let ids: Vec<u32> = (0..n)
                .filter(|&i| (lower..upper).contains(&self.spans[i as usize].1))
                .collect();
            self.add_table(&ids);
            upper = lower;
        }
        let short: Vec<u32> = (0..n).filter(|&i| self.spans[i as usize].1 < upper).collect();
        if short.is_empty() {
            return;
        }
        if short.len() > AUTOMATON_MAX {
            self.add_table(&short);
            return;
        }
        let built = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(short.iter().map(|&i| self.pattern(i)));
        match built {
            Ok(ac) => self.finders.push(Finder::Automaton(ac, short)),
            // Cannot happen for any realistic set; a table is correct too,
            // only slower.
            Err(_) => self.add_table(&short),
        }
    }

    /// A q-gram table for `ids` (in increasing order), if there are any.
    fn add_table(&mut self, ids: &[u32]) {
        if let Some(min_len) = ids.iter().map(|&i| self.spans[i as usize].1).min() {
            let table = GramTable::new(ids.iter().map(|&i| (i, self.pattern(i))), min_len, MAX_STRIDE);
            self.finders.push(Finder::Table(table));
        }
    }

    /// Number of distinct forms: those shorter than 12 bytes are masked
    /// where they occur whole, the others wherever 12 of their consecutive
    /// bytes occur.
    pub fn pattern_count(&self) -> usize {
        self.spans.len()
    }

    /// Number of distinct 12-byte windows of the forms of 12 bytes and more.
    pub fn window_count(&self) -> usize {
        self.finders
            .iter()
            .map(|f| match f {
                Finder::Windows(w) => w.windows(),
                _ => 0,
            })
            .sum()
    }

    /// A new stream (one per output stream of the process).
    pub fn stream(&self) -> RedactStream<'_> {
        RedactStream {
            redactor: self,
            held: Zeroizing::new(Vec::with_capacity(2 * self.max_len)),
            masked: Masked::default(),
        }
    }

    /// Redacts a whole input at once; equal to feeding it to a fresh stream
    /// in any chunks and finishing.
    pub fn redact(&self, input: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(input.len());
        self.process(input, 0, &mut Masked::default(), true, &mut out);
        out
    }

    /// Where [`redact`](Redactor::redact) would put each
    /// `[REDACTED:NAME]` token in `input`: the byte range it replaces and
    /// the name it reports, in order. The code guard uses it to name a
    /// hard-coded value's position without a second matcher.
    pub fn occurrences(&self, input: &[u8]) -> Vec<Occurrence<'_>> {
        let mut search = Search {
            r: self,
            text: input,
            slots: [Slot::Unknown; FINDERS],
        };
        let mut found: Vec<Occurrence<'_>> = Vec::new();
        let mut masked = Masked::default();
        let mut pos = 0;
        while let Some(hit) = search.candidate(pos, masked.end) {
            match found.last_mut() {
                // The same secret overlapping its previous token extends it.
                Some(last) if hit.start < masked.end && hit.owner == masked.owner => last.end = hit.end,
                _ => found.push(Occurrence {
                    start: hit.start.max(masked.end),
                    end: hit.end,
                    name: &self.names[hit.owner as usize],
                }),
            }
            masked = Masked {
                end: hit.end,
                owner: hit.owner,
            };
            pos = hit.last_start + 1;
        }
        found
    }

    #[inline]
    fn pattern(&self, i: u32) -> &[u8] {
        let (start, len) = self.spans[i as usize];
        &self.arena[start..start + len]
    }

    fn replacement(&self, owner: u32) -> &[u8] {
        &self.replacements[owner as usize]
    }

    /// Could an occurrence start with `x` (non-empty, shorter than
    /// `max_len`) and end beyond it?
    fn is_open(&self, x: &[u8]) -> bool {
        self.is_proper_prefix(x)
            || self.finders.iter().any(|f| match f {
                Finder::Windows(w) => w.may_start(x, &self.arena),
                _ => false,
            })
    }

    /// Is `x` (non-empty) a proper prefix of some form?
    fn is_proper_prefix(&self, x: &[u8]) -> bool {
        match x.first_chunk::<4>() {
            Some(p4) => {
                let h = prefix4_index(p4);
                if self.prefix4[h / 64] & (1 << (h % 64)) == 0 {
                    return false;
                }
            }
            None => {
                if !x.first().is_some_and(|&b| self.first_byte[usize::from(b)]) {
                    return false;
                }
            }
        }
        let idx = self.spans.partition_point(|&(s, l)| &self.arena[s..s + l] < x);
        for i in idx..self.spans.len().min(idx + 2) {
            let p = self.pattern(i as u32);
            if !p.starts_with(x) {
                return false;
            }
            if p.len() > x.len() {
                return true;
            }
        }
        false
    }

    /// The first position `p >= from` such that `text[p..]` is a proper
    /// prefix of some pattern, or `text.len()`.
    fn first_partial(&self, text: &[u8], from: usize) -> usize {
        let lo = from.max(text.len().saturating_sub(self.max_len.saturating_sub(1)));
        (lo..text.len())
            .find(|&p| self.is_open(&text[p..]))
            .unwrap_or(text.len())
    }

    /// Redacts `text` from `pos`, given that the bytes before `pos` have
    /// been written out and `..masked.end` is already masked. Writes every
    /// byte whose fate is decided, updates `masked` and returns the position
    /// from which `text` must be kept back (`text.len()` when `eof`).
    fn process(&self, text: &[u8], mut pos: usize, masked: &mut Masked, eof: bool, out: &mut Vec<u8>) -> usize {
        let mut search = Search {
            r: self,
            text,
            slots: [Slot::Unknown; FINDERS],
        };
        let mut partial: Option<usize> = None;
        loop {
            let next = search.candidate(pos, masked.end);
            let hold = if eof {
                text.len()
            } else {
                match partial {
                    Some(p) if p >= pos => p,
                    _ => {
                        let p = self.first_partial(text, pos);
                        partial = Some(p);
                        p
                    }
                }
            };
            let written = pos.max(masked.end);
            match next {
                Some(hit) if hit.start < hold => {
                    let owner = hit.owner;
                    if hit.start > written {
                        out.extend_from_slice(&text[written..hit.start]);
                    }
                    // An occurrence overlapping the previous one of the same
                    // secret extends its token rather than adding one.
                    if hit.start >= masked.end || owner != masked.owner {
                        out.extend_from_slice(&self.replacements[owner as usize]);
                    }
                    *masked = Masked { end: hit.end, owner };
                    pos = hit.last_start + 1;
                }
                _ => {
                    if hold > written {
                        out.extend_from_slice(&text[written..hold]);
                    }
                    return hold;
                }
            }
        }
    }
}

/// One region [`Redactor::redact`] would mask: `input[start..end]`, reported
/// as `name`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Occurrence<'r> {
    pub start: usize,
    pub end: usize,
    pub name: &'r str,
}

/// The end of the masked region (relative to the text being processed)
/// and the secret whose token was written last.
#[derive(Clone, Copy, Default)]
struct Masked {
    end: usize,
    owner: u32,
}

impl Masked {
    /// The same state, for text starting `by` bytes later.
    fn shift(self, by: usize) -> Masked {
        Masked {
            end: self.end.saturating_sub(by),
            owner: self.owner,
        }
    }
}

/// Cached result of one finder within one `process` call.
#[derive(Clone, Copy)]
enum Slot {
    Unknown,
    /// The next occurrence at or after the position last searched from
    /// (`None`: there is none).
    Found(Option<Run>),
}

struct Search<'r, 't> {
    r: &'r Redactor,
    text: &'t [u8],
    /// One per finder.
    slots: [Slot; FINDERS],
}

impl Search<'_, '_> {
    /// The next occurrence at or after `pos` found by finder `k`.
    fn next(&mut self, k: usize, pos: usize) -> Option<Run> {
        match self.slots[k] {
            Slot::Found(None) => return None,
            Slot::Found(Some(h)) if h.start >= pos => return Some(h),
            _ => {}
        }
        let r = self.r;
        let exact = |start: usize, end: usize, pattern: u32| Run {
            start,
            last_start: start,
            end,
            owner: r.owner[pattern as usize],
        };
        let found = match &r.finders[k] {
            Finder::Windows(table) => table.find(self.text, pos, &r.arena),
            Finder::Table(table) => table
                .find(self.text, pos, |i| r.pattern(i))
                .map(|h| exact(h.start, h.end, h.pattern)),
            Finder::Automaton(ac, ids) => ac
                .find(Input::new(self.text).span(pos..self.text.len()))
                .map(|m| exact(m.start(), m.end(), ids[m.pattern().as_usize()])),
        };
        self.slots[k] = Slot::Found(found);
        found
    }

    /// The leftmost-longest occurrence starting at or after `pos` that
    /// reaches past `covered`.
    fn candidate(&mut self, mut pos: usize, covered: usize) -> Option<Run> {
        loop {
            let mut best: Option<Run> = None;
            for k in 0..self.r.finders.len() {
                if let Some(h) = self.next(k, pos) {
                    let key = |h: Run| (h.start, std::cmp::Reverse(h.end));
                    if best.is_none_or(|b| key(h) < key(b)) {
                        best = Some(h);
                    }
                }
            }
            let best = best?;
            if best.end > covered {
                return Some(best);
            }
            // Every occurrence starting up to `last_start` ends within it.
            pos = best.last_start + 1;
        }
    }
}

/// One output stream being redacted. Feed it chunks as they come; call
/// [`finish`](RedactStream::finish) at the end of the stream.
pub struct RedactStream<'r> {
    redactor: &'r Redactor,
    /// Bytes kept back: a proper prefix of some pattern. Capacity is
    /// reserved up front so it never reallocates (and so never leaves an
    /// unzeroized copy behind).
    held: Zeroizing<Vec<u8>>,
    /// How much of `held` is already masked, and by whom.
    masked: Masked,
}

impl fmt::Debug for RedactStream<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedactStream")
            .field("patterns", &self.redactor.pattern_count())
            .field("held_bytes", &self.held.len())
            .finish_non_exhaustive()
    }
}

impl RedactStream<'_> {
    /// Redacts `chunk` and appends to `out` everything that can be written
    /// now; keeps back only a suffix that could still begin a pattern.
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        if chunk.is_empty() {
            return;
        }
        let r = self.redactor;
        out.reserve(chunk.len() + self.held.len());
        let mut pos = 0;
        let mut masked = Masked::default();
        if !self.held.is_empty() {
            // Re-examine the held bytes together with the start of the
            // chunk: enough of it that the hold point must move into the
            // chunk unless the whole chunk is taken.
            let old = self.held.len();
            let k = chunk.len().min(r.max_len);
            self.held.extend_from_slice(&chunk[..k]);
            let mut m = self.masked;
            let hold = r.process(&self.held, 0, &mut m, false, out);
            if hold < old {
                // The held bytes plus the whole chunk are still a prefix.
                self.held.drain(..hold);
                self.masked = m.shift(hold);
                return;
            }
            self.held.clear();
            pos = hold - old;
            masked = m.shift(old);
        }
        let hold = r.process(chunk, pos, &mut masked, false, out);
        self.held.extend_from_slice(&chunk[hold..]);
        self.masked = masked.shift(hold);
    }

    /// End of the stream: writes out (redacted) what was kept back. The
    /// stream can then be reused for a new stream.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        let mut masked = self.masked;
        self.redactor.process(&self.held, 0, &mut masked, true, out);
        self.held.clear();
        self.masked = Masked::default();
    }
}

#[cfg(test)]
mod printing_tests;
#[cfg(test)]
mod tests;

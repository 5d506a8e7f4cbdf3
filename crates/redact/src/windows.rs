//! The finder for long forms: every run of [`WINDOW`] bytes of them.
//!
//! A form of at least `WINDOW` bytes is masked wherever `WINDOW` or more
//! of its consecutive bytes occur, so the table answers one question: does
//! the text at `t` hold a *window* (a `WINDOW`-byte substring of some long
//! form)? Three levels keep that cheap:
//!
//! 1. The text is sampled every `S = WINDOW - 3` bytes; a window starting at
//!    `t` contains exactly one sample point `i` in `[t, t + S)`, and the
//!    4 bytes at `i` lie inside it. A blocked Bloom filter of every 4-gram
//!    of every long form rejects most sample points with one probe; four
//!    points are probed per step with one branch.
//! 2. At a point that passes, a window starting in `[i - 8, i - 4]`
//!    contains the 8 bytes at `i - 4`, one starting in `[i - 4, i]` those at
//!    `i`: a second Bloom filter, of 8-grams, rejects nearly all the rest.
//! 3. Each remaining start is looked up exactly in a hash table of all
//!    windows (deduplicated: a window shared by several secrets is kept
//!    once, for the secret whose name sorts first).
//!
//! A found window is then extended along its form as long as the text
//! follows it and the windows there belong to the same secret, so a long
//! occurrence costs one lookup, not one per byte. Sample points are
//! visited in order and each start at exactly one of them, so the first
//! window found is the leftmost.

use std::fmt;

use zeroize::Zeroize;

use crate::patterns::WINDOW;

/// Sampling stride: a window holds `STRIDE` 4-grams.
const STRIDE: usize = WINDOW - 3;

/// A run of windows: every window starting in `start..=last_start` is in
/// the table and reports `owner`; together they cover `start..end`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Run {
    pub start: usize,
    pub last_start: usize,
    pub end: usize,
    pub owner: u32,
}

/// One distinct window: a fingerprint of its hash, where its bytes are in
/// the arena, and the secret it reports.
#[derive(Clone, Copy, Default)]
struct Entry {
    fp: u32,
    pos: u32,
    owner: u32,
}

/// A long form in the arena.
#[derive(Clone, Copy)]
pub(crate) struct LongForm {
    pub start: u32,
    pub end: u32,
    pub owner: u32,
}

pub(crate) struct WindowTable {
    forms: Vec<LongForm>,
    filter4: Vec<u64>,
    shift4: u32,
    filter8: Vec<u64>,
    shift8: u32,
    bucket_shift: u32,
    bucket_starts: Vec<u32>,
    entries: Vec<Entry>,
    /// One bit per arena position: the window starting there is reported
    /// under its own form's secret (no secret whose name sorts first has
    /// it too), so a run may extend over it.
    own: Vec<u64>,
    /// Every byte and every pair of adjacent bytes of the long forms, for
    /// the hold-back test.
    bytes: [u64; 4],
    pairs: Vec<u64>,
}

impl Drop for WindowTable {
    /// The fingerprints and filters are derived from the forms: zeroize.
    fn drop(&mut self) {
        for e in &mut self.entries {
            e.fp.zeroize();
            e.pos.zeroize();
            e.owner.zeroize();
        }
        self.filter4.zeroize();
        self.filter8.zeroize();
        self.pairs.zeroize();
        self.bytes.zeroize();
    }
}

impl fmt::Debug for WindowTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WindowTable")
            .field("forms", &self.forms.len())
            .field("windows", &self.entries.len())
            .finish_non_exhaustive()
    }
}

#[inline(always)]
fn gram4(bytes: &[u8]) -> Option<u32> {
    bytes.first_chunk::<4>().map(|g| u32::from_le_bytes(*g))
}

#[inline(always)]
fn gram8(bytes: &[u8]) -> u64 {
    bytes.first_chunk::<8>().map_or(0, |g| u64::from_le_bytes(*g))
}

#[inline(always)]
fn hash4(gram: u32) -> u64 {
    u64::from(gram).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

#[inline(always)]
fn hash8(gram: u64) -> u64 {
    (gram ^ (gram >> 29)).wrapping_mul(0xBF58_476D_1CE4_E5B9)
}

#[inline(always)]
fn hash12(w: &[u8]) -> u64 {
    let a = gram8(w);
    let b = u64::from(gram4(&w[8..]).unwrap_or(0));
    (a.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ b).wrapping_mul(0xD6E8_FEB8_6659_FD93)
}

/// Blocked Bloom filter: a word chosen by the top bits, two bits in it by
/// bits 32..44.
#[inline(always)]
fn mask(h: u64) -> u64 {
    (1u64 << ((h >> 32) & 63)) | (1u64 << ((h >> 38) & 63))
}

#[inline(always)]
fn probe(filter: &[u64], shift: u32, h: u64) -> bool {
    let m = mask(h);
    filter[(h >> shift) as usize / 64] & m == m
}

fn insert(filter: &mut [u64], shift: u32, h: u64) {
    filter[(h >> shift) as usize / 64] |= mask(h);
}

/// A filter of 8 to 16 bits per entry (one false pass in 20 to 70).
fn filter_for(n: usize, max_bits: usize) -> (Vec<u64>, u32) {
    let bits = (n.max(1) * 8).next_power_of_two().clamp(1 << 12, max_bits);
    (vec![0u64; bits / 64], 64 - bits.trailing_zeros())
}

impl WindowTable {
    /// `forms`: the long forms (each at least `WINDOW` bytes) in increasing
    /// arena order; `rank[owner]`: the position of the owner's name in
    /// name order.
    pub fn new(arena: &[u8], forms: Vec<LongForm>, rank: &[u32]) -> WindowTable {
        let total: usize = forms.iter().map(|f| (f.end - f.start) as usize).sum();
        let (mut filter4, shift4) = filter_for(2 * total, 1 << 23);
        let (mut filter8, shift8) = filter_for(total, 1 << 24);
        let mut bytes = [0u64; 4];
        let mut pairs = vec![0u64; 1 << 10];
        let windows: usize = forms.iter().map(|f| (f.end - f.start) as usize + 1 - WINDOW).sum();
        let bucket_count = (windows / 2).next_power_of_two().clamp(1 << 4, 1 << 24);
        let bucket_shift = 64 - bucket_count.trailing_zeros();
        let mut ends = vec![0u32; bucket_count + 1];
        for f in &forms {
            let form = &arena[f.start as usize..f.end as usize];
            for (j, &b) in form.iter().enumerate() {
                bytes[usize::from(b >> 6)] |= 1 << (b & 63);
                if let Some(&next) = form.get(j + 1) {
                    let pair = usize::from(b) << 8 | usize::from(next);
                    pairs[pair / 64] |= 1 << (pair % 64);
                }
                if let Some(g) = form.get(j..).and_then(gram4) {
                    insert(&mut filter4, shift4, hash4(g));
                }
                if j + 8 <= form.len() {
                    insert(&mut filter8, shift8, hash8(gram8(&form[j..])));
                }
                if j + WINDOW <= form.len() {
                    ends[(hash12(&form[j..]) >> bucket_shift) as usize] += 1;
                }
            }
        }
        // Counting sort into buckets: `ends[b]` first counts, then (prefix
        // sums) marks the end of bucket `b`; filling from the ends down
        // leaves `ends[b]` at the start of bucket `b`.
        let mut sum = 0;
        for e in ends.iter_mut() {
            sum += *e;
            *e = sum;
        }
        let mut entries = vec![Entry::default(); windows];
        for f in &forms {
            for pos in f.start as usize..=f.end as usize - WINDOW {
                let h = hash12(&arena[pos..]);
                let b = (h >> bucket_shift) as usize;
                ends[b] -= 1;
                entries[ends[b] as usize] = Entry {
                    fp: (h >> 8) as u32,
                    pos: pos as u32,
                    owner: f.owner,
                };
            }
        }
        let mut table = WindowTable {
            forms,
            filter4,
            shift4,
            filter8,
            shift8,
            bucket_shift,
            bucket_starts: ends,
            entries,
            own: vec![u64::MAX; arena.len() / 64 + 1],
            bytes,
            pairs,
        };
        table.dedup(arena, rank);
        table
    }

    /// Keeps one entry per distinct window, the one whose secret's name
    /// sorts first; clears the `own` bit of the positions of the others.
    fn dedup(&mut self, arena: &[u8], rank: &[u32]) {
        let same = |a: Entry, b: Entry| {
            a.fp == b.fp
                && arena[a.pos as usize..a.pos as usize + WINDOW] == arena[b.pos as usize..b.pos as usize + WINDOW]
        };
        let mut write = 0usize;
        let mut group: Vec<Entry> = Vec::new();
        for b in 0..self.bucket_starts.len() - 1 {
            let (lo, hi) = (self.bucket_starts[b] as usize, self.bucket_starts[b + 1] as usize);
            self.bucket_starts[b] = write as u32;
            let first = write;
            // Some window here is shared by different secrets.
            let mut mixed = false;
            for k in lo..hi {
                let e = self.entries[k];
                match (first..write).find(|&w| same(self.entries[w], e)) {
                    Some(w) => {
                        let kept = self.entries[w];
                        if kept.owner != e.owner {
                            mixed = true;
                            if rank[e.owner as usize] < rank[kept.owner as usize] {
                                self.entries[w] = e;
                            }
                        }
                    }
                    None => {
                        self.entries[write] = e;
                        write += 1;
                    }
                }
                if hi - lo > 1 {
                    group.push(e);
                }
            }
            if mixed {
                for &e in &group {
                    let kept = (first..write).map(|w| self.entries[w]).find(|&o| same(o, e));
                    if kept.is_some_and(|kept| kept.owner != e.owner) {
                        self.own[e.pos as usize / 64] &= !(1 << (e.pos % 64));
                    }
                }
            }
            group.clear();
        }
        let last = self.bucket_starts.len() - 1;
        self.bucket_starts[last] = write as u32;
        self.entries.truncate(write);
        self.entries.shrink_to_fit();
    }

    /// The long form holding arena position `pos`.
    fn form_at(&self, pos: usize) -> LongForm {
        let i = self.forms.partition_point(|f| f.start as usize <= pos);
        self.forms[i - 1]
    }

    /// Number of distinct windows.
    pub fn windows(&self) -> usize {
        self.entries.len()
    }

    /// The exact lookup: where `w` (`WINDOW` bytes) is in the arena, if it
    /// is a window.
    #[inline]
    fn lookup(&self, w: &[u8], arena: &[u8]) -> Option<Entry> {
        let h = hash12(w);
        let b = (h >> self.bucket_shift) as usize;
        let fp = (h >> 8) as u32;
        let (lo, hi) = (self.bucket_starts[b] as usize, self.bucket_starts[b + 1] as usize);
        self.entries[lo..hi]
            .iter()
            .find(|e| e.fp == fp && arena[e.pos as usize..e.pos as usize + WINDOW] == w[..WINDOW])
            .copied()
    }

    /// The leftmost window starting at or after `pos`, extended to a run.
    #[inline]
    pub fn find(&self, text: &[u8], pos: usize, arena: &[u8]) -> Option<Run> {
        if text.len() < WINDOW {
            return None;
        }
        let mut at = pos.div_ceil(STRIDE) * STRIDE;
        // Eight sample points per step: one bounds check for the block,
        // eight independent probes and one branch in the common case.
        const SPAN: usize = 7 * STRIDE + 4;
        while let Some(block) = text.get(at..).and_then(|t| t.first_chunk::<SPAN>()) {
            let pass: [bool; 8] = std::array::from_fn(|k| {
                let g = u32::from_le_bytes([
                    block[k * STRIDE],
                    block[k * STRIDE + 1],
                    block[k * STRIDE + 2],
                    block[k * STRIDE + 3],
                ]);
                probe(&self.filter4, self.shift4, hash4(g))
            });
            if pass.iter().any(|&p| p) {
                for (k, &passed) in pass.iter().enumerate() {
                    if passed && let Some(run) = self.check(text, at + k * STRIDE, pos, arena) {
                        return Some(run);
                    }
                }
            }
            at += 8 * STRIDE;
        }
        while let Some(g) = text.get(at..).and_then(gram4) {
            if probe(&self.filter4, self.shift4, hash4(g))
                && let Some(run) = self.check(text, at, pos, arena)
            {
                return Some(run);
            }
            at += STRIDE;
        }
        None
    }

    /// Levels 2 and 3 at sample point `i`: windows starting in
    /// `[max(pos, i - 8), i]`, leftmost first.
    #[cold]
    #[inline(never)]
    fn check(&self, text: &[u8], i: usize, pos: usize, arena: &[u8]) -> Option<Run> {
        let lo = pos.max(i.saturating_sub(STRIDE - 1));
        let hi = i.min(text.len() - WINDOW);
        if lo > hi {
            return None;
        }
        let probe8 = |at: usize| probe(&self.filter8, self.shift8, hash8(gram8(&text[at..])));
        // Windows starting at or before `i - 4` hold the 8 bytes at `i - 4`;
        // those starting at or after it, the 8 bytes at `i`.
        let early = lo + 4 <= i && probe8(i - 4);
        let late = hi + 4 >= i && probe8(i);
        if !early && !late {
            return None;
        }
        for t in lo..=hi {
            if !((early && t + 4 <= i) || (late && t + 4 >= i)) {
                continue;
            }
            if let Some(e) = self.lookup(&text[t..t + WINDOW], arena) {
                return Some(self.run(text, t, e, arena));
            }
        }
        None
    }

    /// Extends the window at `t` (entry `e`) along its form.
    fn run(&self, text: &[u8], t: usize, e: Entry, arena: &[u8]) -> Run {
        let p = e.pos as usize;
        let form = self.form_at(p);
        let limit = (text.len() - t).min(form.end as usize - p);
        let mut len = WINDOW;
        while len < limit && text[t + len] == arena[p + len] && self.own_bit(p + len + 1 - WINDOW) {
            len += 1;
        }
        Run {
            start: t,
            last_start: t + len - WINDOW,
            end: t + len,
            owner: e.owner,
        }
    }

    fn own_bit(&self, pos: usize) -> bool {
        self.own[pos / 64] & (1 << (pos % 64)) != 0
    }

    /// Could `x` (shorter than `WINDOW`) be the start of a window, that is,
    /// does a long form hold it with at least `WINDOW` bytes from its start
    /// on? Exact, except that a string of up to 3 bytes without a line feed
    /// whose bytes and pairs occur in the forms is assumed to (holding it
    /// back is only a delay).
    pub fn may_start(&self, x: &[u8], arena: &[u8]) -> bool {
        if !x
            .iter()
            .all(|&b| self.bytes[usize::from(b >> 6)] & (1 << (b & 63)) != 0)
        {
            return false;
        }
        let pair_in = |w: &[u8]| {
            let pair = usize::from(w[0]) << 8 | usize::from(w[1]);
            self.pairs[pair / 64] & (1 << (pair % 64)) != 0
        };
        if !x.windows(2).all(pair_in) {
            return false;
        }
        if !x
            .windows(4)
            .all(|g| probe(&self.filter4, self.shift4, hash4(gram4(g).unwrap_or_default())))
        {
            return false;
        }
        if !x.windows(8).all(|g| probe(&self.filter8, self.shift8, hash8(gram8(g)))) {
            return false;
        }
        if x.len() < 4 && !x.contains(&b'\n') {
            return true;
        }
        // One pass over the arena; a match counts if it lies in a long form
        // with room for a window from it. (Matches may overlap: one across
        // the end of a form must not hide the next.)
        let finder = memchr::memmem::Finder::new(x);
        let mut from = 0;
        while let Some(found) = finder.find(&arena[from..]) {
            let at = from + found;
            let i = self.forms.partition_point(|f| f.start as usize <= at);
            if i > 0 && at + WINDOW <= self.forms[i - 1].end as usize {
                return true;
            }
            from = at + 1;
        }
        false
    }
}

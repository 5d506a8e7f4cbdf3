//! The prefilter for long patterns: sampled q-grams.
//!
//! Every pattern in the table is at least `min_len` bytes long. The text is
//! sampled at a lattice of positions `i = 0, S, 2S, …` (relative to the
//! slice being searched) with stride `S <= min_len - 3`. An occurrence of a
//! pattern starting at `s` contains exactly one lattice point `i` in
//! `[s, s + S)`, and the 4 bytes at `i` are the pattern's bytes at offset
//! `j = i - s < S`, which lie inside the pattern because `j + 4 <= min_len`.
//! So the table holds, for every pattern and every `j < S`, the 4-gram at
//! `j` (patterns sharing their first `S + 3` bytes share entries); the
//! search looks up one 4-gram per `S` bytes of text in a blocked Bloom
//! filter (most text is rejected there) and, on a hit, checks the few
//! entries of that gram's bucket exactly.
//!
//! Because each start `s` is examined at exactly one lattice point, and
//! lattice points are visited in order, the first lattice point that yields
//! a verified occurrence yields the leftmost one, and all patterns that
//! start there are among its entries, so the longest of them is found too.

use std::fmt;

use zeroize::Zeroize;

/// A verified occurrence: `pattern` (an index into the redactor's sorted
/// pattern list) occurs at `start..end`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Hit {
    pub start: usize,
    pub end: usize,
    pub pattern: u32,
}

/// The 4-gram at `offset` of the patterns `first..first + count`, which
/// share their first `stride + 3` bytes.
#[derive(Clone, Copy)]
struct Entry {
    gram: u32,
    first: u32,
    offset: u16,
    count: u16,
}

pub(crate) struct GramTable {
    stride: usize,
    filter_shift: u32,
    filter: Vec<u64>,
    bucket_shift: u32,
    bucket_starts: Vec<u32>,
    entries: Vec<Entry>,
}

impl Drop for GramTable {
    /// The grams are fragments of the patterns: zeroize them.
    fn drop(&mut self) {
        for e in &mut self.entries {
            e.gram.zeroize();
        }
    }
}

impl fmt::Debug for GramTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GramTable")
            .field("stride", &self.stride)
            .field("entries", &self.entries.len())
            .field("filter_bits", &(self.filter.len() * 64))
            .finish()
    }
}

#[inline(always)]
fn hash(gram: u32) -> u64 {
    u64::from(gram).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// Blocked Bloom filter: the word is chosen by the top bits of the hash,
/// two bits in it by bits 32..44 (the word index uses bits 47 and up).
#[inline(always)]
fn mask(h: u64) -> u64 {
    (1u64 << ((h >> 32) & 63)) | (1u64 << ((h >> 38) & 63))
}

#[inline(always)]
fn gram_at(bytes: &[u8]) -> Option<u32> {
    bytes.first_chunk::<4>().map(|g| u32::from_le_bytes(*g))
}

impl GramTable {
    /// `patterns`: (index, bytes) in increasing index order, which is sorted
    /// byte order; every `bytes.len() >= min_len >= 4`.
    pub fn new<'a>(patterns: impl Iterator<Item = (u32, &'a [u8])>, min_len: usize, max_stride: usize) -> GramTable {
        let stride = min_len.saturating_sub(3).clamp(1, max_stride.clamp(1, 1 << 15));
        // Patterns that share their first `stride + 3` bytes (the base64
        // forms with and without their last characters, percent-encodings
        // in both cases, …) share their entries. `patterns` come in sorted
        // order, so such patterns are adjacent.
        let shared = stride + 3;
        let mut groups: Vec<(u32, u16, &'a [u8])> = Vec::new();
        for (i, bytes) in patterns {
            match groups.last_mut() {
                Some((first, count, rep))
                    if *first + u32::from(*count) == i
                        && *count < u16::MAX
                        && rep.get(..shared).is_some_and(|r| bytes.starts_with(r)) =>
                {
                    *count += 1
                }
                _ => groups.push((i, 1, bytes)),
            }
        }
        let grams = |bytes: &'a [u8]| {
            (0..stride)
                .filter_map(move |offset| bytes.get(offset..).and_then(gram_at).map(|gram| (gram, offset as u16)))
        };
        let n: usize = groups.iter().map(|g| grams(g.2).count()).sum();
        // About 8 filter bits per entry (with two bits set per entry, about
        // one text gram in twenty passes by chance); about two entries per
        // bucket.
        let filter_bits = (n.max(1) * 8).next_power_of_two().clamp(1 << 12, 1 << 23);
        let bucket_count = (n / 2).next_power_of_two().clamp(1 << 4, 1 << 20);
        let filter_shift = 64 - filter_bits.trailing_zeros();
        let bucket_shift = 64 - bucket_count.trailing_zeros();
        let mut filter = vec![0u64; filter_bits / 64];
        // Counting sort into buckets: `ends[b]` first counts, then (prefix
        // sums) marks the end of bucket `b`; filling from the ends down
        // leaves `ends[b]` at the start of bucket `b`.
        let mut ends = vec![0u32; bucket_count + 1];
        for &(_, _, bytes) in &groups {
            for (gram, _) in grams(bytes) {
                let h = hash(gram);
                filter[(h >> filter_shift) as usize / 64] |= mask(h);
                ends[(h >> bucket_shift) as usize] += 1;
            }
        }
        let mut sum = 0;
        for e in ends.iter_mut() {
            sum += *e;
            *e = sum;
        }
        let mut entries = vec![
            Entry {
                gram: 0,
                first: 0,
                offset: 0,
                count: 0
            };
            n
        ];
        for &(first, count, bytes) in &groups {
            for (gram, offset) in grams(bytes) {
                let b = (hash(gram) >> bucket_shift) as usize;
                ends[b] -= 1;
                entries[ends[b] as usize] = Entry {
                    gram,
                    first,
                    offset,
                    count,
                };
            }
        }
        let bucket_starts = ends;
        GramTable {
            stride,
            filter_shift,
            filter,
            bucket_shift,
            bucket_starts,
            entries,
        }
    }

    /// The leftmost occurrence starting at or after `pos` of any pattern in
    /// the table and, among those starting there, the longest.
    /// `pattern(i)` returns the bytes of pattern `i`.
    #[inline]
    pub fn find<'p>(&self, text: &[u8], pos: usize, pattern: impl Fn(u32) -> &'p [u8]) -> Option<Hit> {
        let stride = self.stride;
        let mut at = pos.div_ceil(stride) * stride;
        // Four lattice points per step: four independent lookups and one
        // branch in the common case (none passes the filter).
        while at + 3 * stride + 4 <= text.len() {
            let g = [0, 1, 2, 3].map(|k| text.get(at + k * stride..).and_then(gram_at).unwrap_or_default());
            let h = g.map(hash);
            let miss = h.map(|h| {
                let m = mask(h);
                self.filter[(h >> self.filter_shift) as usize / 64] & m != m
            });
            if !(miss[0] & miss[1] & miss[2] & miss[3]) {
                for k in 0..4 {
                    if !miss[k]
                        && let Some(hit) = self.check(text, at + k * stride, pos, g[k], h[k], &pattern)
                    {
                        return Some(hit);
                    }
                }
            }
            at += 4 * stride;
        }
        while let Some(gram) = text.get(at..).and_then(gram_at) {
            let h = hash(gram);
            let m = mask(h);
            if self.filter[(h >> self.filter_shift) as usize / 64] & m == m
                && let Some(hit) = self.check(text, at, pos, gram, h, &pattern)
            {
                return Some(hit);
            }
            at += stride;
        }
        None
    }

    #[cold]
    #[inline(never)]
    fn check<'p>(
        &self,
        text: &[u8],
        at: usize,
        pos: usize,
        gram: u32,
        h: u64,
        pattern: &impl Fn(u32) -> &'p [u8],
    ) -> Option<Hit> {
        let b = (h >> self.bucket_shift) as usize;
        let lo = self.bucket_starts[b] as usize;
        let hi = self.bucket_starts[b + 1] as usize;
        let mut best: Option<Hit> = None;
        for e in &self.entries[lo..hi] {
            if e.gram != gram {
                continue;
            }
            let Some(start) = at.checked_sub(e.offset as usize) else {
                continue;
            };
            if start < pos {
                continue;
            }
            let Some(candidate) = text.get(start..) else {
                continue;
            };
            for i in e.first..e.first + u32::from(e.count) {
                let p = pattern(i);
                if !candidate.starts_with(p) {
                    continue;
                }
                let hit = Hit {
                    start,
                    end: start + p.len(),
                    pattern: i,
                };
                best = match best {
                    Some(b) if (b.start, std::cmp::Reverse(b.end)) <= (hit.start, std::cmp::Reverse(hit.end)) => {
                        Some(b)
                    }
                    _ => Some(hit),
                };
            }
        }
        best
    }
}

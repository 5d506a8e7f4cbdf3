//! The prefilter for long patterns: sampled q-grams.
//!
//! Every pattern in the table is at least `min_len` bytes long. The text is
//! sampled at a lattice of positions `i = 0, S, 2S, …` (relative to the
//! slice being searched) with stride `S <= min_len - 3`. An occurrence of a
//! pattern starting at `s` contains exactly one lattice point `i` in
//! `[s, s + S)`, and the 4 bytes at `i` are the pattern's bytes at offset
//! `j = i - s < S`, which lie inside the pattern because `j + 4 <= min_len`.
//! So the table holds, for every pattern and every `j < S`, the 4-gram at
//! `j`; the search looks up one 4-gram per `S` bytes of text in a bitset
//! (most text is rejected there) and, on a hit, checks the few entries of
//! that gram exactly.
//!
//! Because each start `s` is examined at exactly one lattice point, and
//! lattice points are visited in order, the first lattice point that yields
//! a verified occurrence yields the leftmost one, and all patterns that
//! start there are among its entries, so the longest of them is found too.

use std::fmt;

/// A verified occurrence: `pattern` (an index into the redactor's sorted
/// pattern list) occurs at `start..end`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Hit {
    pub start: usize,
    pub end: usize,
    pub pattern: u32,
}

#[derive(Clone, Copy)]
struct Entry {
    gram: u32,
    pattern: u32,
    offset: u32,
}

pub(crate) struct GramTable {
    stride: usize,
    filter_shift: u32,
    filter: Vec<u64>,
    bucket_shift: u32,
    bucket_starts: Vec<u32>,
    entries: Vec<Entry>,
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

#[inline(always)]
fn gram_at(bytes: &[u8]) -> Option<u32> {
    bytes.first_chunk::<4>().map(|g| u32::from_le_bytes(*g))
}

impl GramTable {
    /// `patterns`: (index, bytes) with every `bytes.len() >= min_len >= 4`.
    pub fn new<'a>(
        patterns: impl Iterator<Item = (u32, &'a [u8])> + Clone,
        min_len: usize,
        max_stride: usize,
    ) -> GramTable {
        let stride = min_len.saturating_sub(3).clamp(1, max_stride.max(1));
        let mut grams: Vec<Entry> = Vec::new();
        for (pattern, bytes) in patterns {
            for offset in 0..stride {
                if let Some(gram) = bytes.get(offset..).and_then(gram_at) {
                    grams.push(Entry {
                        gram,
                        pattern,
                        offset: offset as u32,
                    });
                }
            }
        }
        let n = grams.len().max(1);
        // About 8 filter bits per entry: roughly one text gram in eight
        // passes the filter by chance. Buckets: about one entry each.
        let filter_bits = (n * 8).next_power_of_two().clamp(1 << 12, 1 << 22);
        let bucket_count = n.next_power_of_two().clamp(1 << 4, 1 << 21);
        let filter_shift = 64 - filter_bits.trailing_zeros();
        let bucket_shift = 64 - bucket_count.trailing_zeros();
        let mut filter = vec![0u64; filter_bits / 64];
        let mut counts = vec![0u32; bucket_count + 1];
        for e in &grams {
            let h = hash(e.gram);
            let f = (h >> filter_shift) as usize;
            filter[f / 64] |= 1 << (f % 64);
            counts[(h >> bucket_shift) as usize + 1] += 1;
        }
        for b in 1..counts.len() {
            counts[b] += counts[b - 1];
        }
        let mut fill = counts.clone();
        let mut entries = vec![
            Entry {
                gram: 0,
                pattern: 0,
                offset: 0
            };
            grams.len()
        ];
        for e in grams {
            let b = (hash(e.gram) >> bucket_shift) as usize;
            entries[fill[b] as usize] = e;
            fill[b] += 1;
        }
        GramTable {
            stride,
            filter_shift,
            filter,
            bucket_shift,
            bucket_starts: counts,
            entries,
        }
    }

    /// The leftmost occurrence starting at or after `pos` of any pattern in
    /// the table and, among those starting there, the longest.
    /// `pattern(i)` returns the bytes of pattern `i`.
    #[inline]
    pub fn find<'p>(
        &self,
        text: &[u8],
        pos: usize,
        pattern: impl Fn(u32) -> &'p [u8],
    ) -> Option<Hit> {
        let stride = self.stride;
        let first = pos.div_ceil(stride) * stride;
        let rest = text.get(first..)?;
        for (k, block) in rest.chunks(stride).enumerate() {
            let Some(gram) = gram_at(block) else { break };
            let h = hash(gram);
            let f = (h >> self.filter_shift) as usize;
            if self.filter[f / 64] & (1 << (f % 64)) == 0 {
                continue;
            }
            let at = first + k * stride;
            if let Some(hit) = self.check(text, at, pos, gram, h, &pattern) {
                return Some(hit);
            }
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
            let p = pattern(e.pattern);
            let Some(candidate) = text.get(start..) else {
                continue;
            };
            if !candidate.starts_with(p) {
                continue;
            }
            let hit = Hit {
                start,
                end: start + p.len(),
                pattern: e.pattern,
            };
            best = match best {
                Some(b)
                    if (b.start, std::cmp::Reverse(b.end))
                        <= (hit.start, std::cmp::Reverse(hit.end)) =>
                {
                    Some(b)
                }
                _ => Some(hit),
            };
        }
        best
    }
}

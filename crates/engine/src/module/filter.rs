//! The anchor filter's hot loop, eight positions at a time.
//!
//! The scalar loop in `pass.rs` spends about seven cycles a byte on one
//! multiplication, one dependent load and one bit test per position.
//! With AVX2 the eight windows of a block are shuffled out of one
//! 16-byte load, hashed by two vector multiplications, and their filter
//! words fetched by two gathers, so a block costs about what two scalar
//! positions did. Candidates are rare (about 0.05% of positions with
//! 100,000 anchors), so a block with one goes back to the caller, which
//! looks its positions up in order exactly as the scalar loop would: the
//! first `.ndb` match, and so the name reported, cannot change. The
//! short-anchor bitmap (2-byte anchors) is probed in the same block, for
//! the same reason: position by position, the 4-byte candidate first.
//!
//! Base64 text (and its line ends) is most of a mail's raw bytes, and
//! a window made only of such bytes can only equal an anchor made only
//! of them. When the module has no such anchor (the compiler says so),
//! runs of all-text windows are stepped over at the cost of classifying
//! their bytes. Which windows are candidates can only shrink, never
//! grow, so the scalar look-ups see every real match, in the same order.
//!
//! Without AVX2 (checked at run time; no build flag needed) the caller's
//! scalar loop does everything.

use super::{MUL, MUL2};

/// What [`Probe::next`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Next {
    /// The block of eight positions from `at` holds candidates: bit `j`
    /// of `four` (of `two`) is set when position `at + j` passes the
    /// 4-byte filter (the 2-byte bitmap).
    Hits { at: usize, four: u8, two: u8 },
    /// No candidate before `at`; the caller's scalar loop goes on from
    /// there (the last positions of a buffer are never in a block).
    End(usize),
}

/// The filter of one module, ready for blocks.
pub(crate) struct Probe<'a> {
    words: &'a [u64],
    word_bits: u32,
    /// The 2-byte bitmap, 65,536 bits, when the module has short anchors.
    two: Option<&'a [u8]>,
    /// Whether runs of text windows are stepped over: the module says
    /// that no anchor is made only of text bytes.
    step_text: bool,
    avx2: bool,
}

impl<'a> Probe<'a> {
    pub(crate) fn new(
        words: &'a [u64],
        word_bits: u32,
        two: Option<&'a [u8]>,
        step_text: bool,
    ) -> Probe<'a> {
        // Gathers read without bounds checks: every index a block can
        // make must be inside the tables, whatever the module says.
        let sized = (1..=26).contains(&word_bits)
            && words.len() >= 1 << word_bits
            && two.is_none_or(|t| t.len() >= 8192);
        Probe {
            words,
            word_bits,
            two,
            step_text,
            avx2: sized && has_avx2() && !scalar_only(),
        }
    }

    /// Whether blocks go through the vector code.
    #[cfg(test)]
    pub(crate) fn is_vector(&self) -> bool {
        self.avx2
    }

    /// The first block at or after `from` with a candidate, or where
    /// blocks end.
    pub(crate) fn next(&self, data: &[u8], from: usize) -> Next {
        #[cfg(target_arch = "x86_64")]
        if self.avx2 {
            // SAFETY: `avx2` is only set when the CPU has AVX2, and `new`
            // checked the table sizes the gathers rely on.
            #[allow(unsafe_code)]
            return unsafe {
                x86::next(
                    x86::Table { words: self.words, bits: self.word_bits },
                    self.two,
                    self.step_text,
                    data,
                    from,
                )
            };
        }
        let _ = (self.words, self.word_bits, self.two, self.step_text);
        Next::End(from)
    }
}

#[cfg(test)]
thread_local! {
    /// Set by tests that compare a pass with and without the blocks.
    pub(crate) static SCALAR_ONLY: std::cell::Cell<bool> =
        const { std::cell::Cell::new(false) };
}

fn scalar_only() -> bool {
    #[cfg(test)]
    {
        SCALAR_ONLY.with(std::cell::Cell::get)
    }
    #[cfg(not(test))]
    {
        false
    }
}

fn has_avx2() -> bool {
    // Unoptimised builds keep the scalar loop (`build.rs` says why).
    #[cfg(all(target_arch = "x86_64", nod32_vector))]
    {
        std::arch::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(all(target_arch = "x86_64", nod32_vector)))]
    {
        false
    }
}

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod x86 {
    use super::{MUL, MUL2, Next};
    use std::arch::x86_64::*;

    /// A 4-byte filter: 2^`bits` words.
    #[derive(Clone, Copy)]
    pub(super) struct Table<'a> {
        pub(super) words: &'a [u64],
        pub(super) bits: u32,
    }

    /// Bit j set when byte j of `y` is not a text byte. A byte is one
    /// when its low nibble's row and its high nibble's row share a bit:
    /// one bit per group of text bytes with the same high nibble.
    #[target_feature(enable = "avx2")]
    pub(super) fn not_text(y: __m256i) -> u32 {
        // Groups: 1 = 0x0A, 0x0D; 2 = '+', '/'; 4 = digits, '=';
        // 8 = 'A'-'O', 'a'-'o'; 16 = 'P'-'Z', 'p'-'z'.
        let lo_rows = _mm256_setr_epi8(
            0x14, 0x1c, 0x1c, 0x1c, 0x1c, 0x1c, 0x1c, 0x1c, //
            0x1c, 0x1c, 0x19, 0x0a, 0x08, 0x0d, 0x08, 0x0a, //
            0x14, 0x1c, 0x1c, 0x1c, 0x1c, 0x1c, 0x1c, 0x1c, //
            0x1c, 0x1c, 0x19, 0x0a, 0x08, 0x0d, 0x08, 0x0a,
        );
        let hi_rows = _mm256_setr_epi8(
            1, 0, 2, 4, 8, 16, 8, 16, 0, 0, 0, 0, 0, 0, 0, 0, //
            1, 0, 2, 4, 8, 16, 8, 16, 0, 0, 0, 0, 0, 0, 0, 0,
        );
        let nib = _mm256_set1_epi8(0x0f);
        let lo = _mm256_and_si256(y, nib);
        let hi = _mm256_and_si256(_mm256_srli_epi16::<4>(y), nib);
        let both = _mm256_and_si256(
            _mm256_shuffle_epi8(lo_rows, lo),
            _mm256_shuffle_epi8(hi_rows, hi),
        );
        let none = _mm256_cmpeq_epi8(both, _mm256_setzero_si256());
        _mm256_movemask_epi8(none) as u32
    }

    /// Bit k set when window k of `w` passes the 4-byte filter.
    ///
    /// # Safety
    /// The CPU has AVX2; `t.words` holds at least 2^`t.bits` words and
    /// `t.bits` is in 1..=26.
    #[target_feature(enable = "avx2")]
    unsafe fn four(t: Table<'_>, w: __m256i) -> u32 {
        let shift = _mm_cvtsi32_si128((32 - t.bits) as i32);
        let six = _mm256_set1_epi32(63);
        let one64 = _mm256_set1_epi64x(1);
        // The word: the top `bits` bits of w * MUL, so below 2^bits.
        let idx = _mm256_srl_epi32(
            _mm256_mullo_epi32(w, _mm256_set1_epi32(MUL as i32)),
            shift,
        );
        let h = _mm256_mullo_epi32(w, _mm256_set1_epi32(MUL2 as i32));
        let bits = [
            _mm256_srli_epi32::<26>(h),
            _mm256_and_si256(_mm256_srli_epi32::<20>(h), six),
            _mm256_and_si256(_mm256_srli_epi32::<14>(h), six),
        ];
        let base = t.words.as_ptr().cast::<i64>();
        let mut four = 0u32;
        for (half, ix) in
            [_mm256_castsi256_si128(idx), _mm256_extracti128_si256::<1>(idx)]
                .into_iter()
                .enumerate()
        {
            // SAFETY: every index is below 2^bits <= words.len().
            let word = unsafe { _mm256_i32gather_epi64::<8>(base, ix) };
            let mut want = _mm256_setzero_si256();
            for b in bits {
                let b = if half == 0 {
                    _mm256_castsi256_si128(b)
                } else {
                    _mm256_extracti128_si256::<1>(b)
                };
                let b = _mm256_cvtepu32_epi64(b);
                want = _mm256_or_si256(want, _mm256_sllv_epi64(one64, b));
            }
            let hit = _mm256_cmpeq_epi64(_mm256_and_si256(word, want), want);
            let m = _mm256_movemask_pd(_mm256_castsi256_pd(hit)) as u32;
            four |= m << (4 * half);
        }
        four
    }

    /// Bit k set when window k's first two bytes are in the bitmap.
    ///
    /// # Safety
    /// The CPU has AVX2 and `t` holds at least 8,192 bytes.
    #[target_feature(enable = "avx2")]
    unsafe fn two(t: &[u8], w: __m256i) -> u32 {
        let one32 = _mm256_set1_epi32(1);
        // Bit v of the bitmap, v the window's first two bytes, is bit
        // v & 31 of its 32-bit word v >> 5 (little-endian).
        let v = _mm256_and_si256(w, _mm256_set1_epi32(0xffff));
        let ix = _mm256_srli_epi32::<5>(v);
        // SAFETY: v >> 5 < 2,048 words, and t holds 8,192 bytes.
        let word = unsafe {
            _mm256_i32gather_epi32::<4>(t.as_ptr().cast::<i32>(), ix)
        };
        let bit = _mm256_and_si256(
            _mm256_srlv_epi32(
                word,
                _mm256_and_si256(v, _mm256_set1_epi32(31)),
            ),
            one32,
        );
        let hit = _mm256_cmpeq_epi32(bit, one32);
        _mm256_movemask_ps(_mm256_castsi256_ps(hit)) as u32
    }

    /// The last window a 64-byte classification tells all about (it
    /// ends at byte 63). Past it the bytes are classified again; a look
    /// ahead (`next_check`) is bounded one past it, and must be, or at
    /// that window the loop would stand still.
    const LAST_WINDOW: usize = 60;

    /// # Safety
    /// The CPU has AVX2; `main` is sized as [`four`] needs, and `two`,
    /// when given, holds 8,192 bytes.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn next(
        main: Table<'_>,
        two_map: Option<&[u8]>,
        step_text: bool,
        data: &[u8],
        mut i: usize,
    ) -> Next {
        // Byte j of window k is byte k + j of the block: the low lane
        // makes windows 0-3, the high lane 4-7, from the same 16 bytes.
        let spread = _mm256_setr_epi8(
            0, 1, 2, 3, 1, 2, 3, 4, 2, 3, 4, 5, 3, 4, 5, 6, //
            4, 5, 6, 7, 5, 6, 7, 8, 6, 7, 8, 9, 7, 8, 9, 10,
        );
        // Blocks the last 16 bytes of the data cannot hold.
        let Some(end) = data.len().checked_sub(15) else {
            return Next::End(i);
        };
        // One classification of 64 bytes from `class_at` serves the
        // windows it covers: bit j of `windows` is set when window j is
        // all text. Up to `next_check` blocks are probed in full without
        // looking (no window there is all text, or the data looked
        // binary), so that binary data runs the loop it ran before.
        let (mut class_at, mut windows) = (usize::MAX, 0u64);
        let mut next_check = if step_text { i } else { usize::MAX };
        loop {
            let stop = next_check.min(end);
            while i < stop {
                // SAFETY: i + 16 <= data.len().
                let x = unsafe {
                    _mm_loadu_si128(data.as_ptr().add(i).cast::<__m128i>())
                };
                let w = _mm256_shuffle_epi8(
                    _mm256_broadcastsi128_si256(x),
                    spread,
                );
                // SAFETY: as the caller promised for `main`.
                let four = unsafe { four(main, w) };
                // SAFETY: the bitmap holds 8,192 bytes.
                let short = two_map.map_or(0, |m| unsafe { two(m, w) });
                if four | short != 0 {
                    return Next::Hits {
                        at: i,
                        four: four as u8,
                        two: short as u8,
                    };
                }
                i += 8;
            }
            if i >= end {
                return Next::End(i);
            }
            if i < class_at || i - class_at > LAST_WINDOW {
                if i + 64 > data.len() {
                    // The last blocks are probed in full.
                    next_check = usize::MAX;
                    continue;
                }
                // SAFETY: i + 64 <= data.len().
                let (lo, hi) = unsafe {
                    let p = data.as_ptr().add(i).cast::<__m256i>();
                    (_mm256_loadu_si256(p), _mm256_loadu_si256(p.add(1)))
                };
                let bytes =
                    !(u64::from(not_text(lo)) | u64::from(not_text(hi)) << 32);
                // Bits shifted in from past the 64 bytes are clear: what
                // is not classified is not text.
                let pairs = bytes & bytes >> 1;
                windows = pairs & pairs >> 2;
                class_at = i;
            }
            let rel = i - class_at;
            match windows >> rel {
                // Windows from i on are all text: no anchor can be there.
                w if w & 1 != 0 => i += (!w).trailing_zeros() as usize,
                // Binary data: looked at again 512 bytes on, which costs
                // a base64 body at most that many bytes probed in full.
                0 => next_check = class_at + 512,
                w => {
                    let next = rel + w.trailing_zeros() as usize;
                    next_check = class_at + next.min(LAST_WINDOW + 1);
                    // Blocks to probe before the next look, or the loop
                    // would stand still.
                    debug_assert!(next_check > i);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::module::filter_probe;

    /// The scalar loop's answer for one position.
    fn scalar(p: &Probe<'_>, data: &[u8], i: usize) -> (bool, bool) {
        let w = u32::from_le_bytes([
            data[i],
            data[i + 1],
            data[i + 2],
            data[i + 3],
        ]);
        let (word, bits) = filter_probe(w, p.word_bits);
        let four = p.words[word] & bits == bits;
        let two = p.two.is_some_and(|t| {
            let v = usize::from(u16::from_le_bytes([data[i], data[i + 1]]));
            t[v >> 3] & (1 << (v & 7)) != 0
        });
        (four, two)
    }

    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    /// Every position the blocks pass over is reported exactly when the
    /// scalar probe passes it, and the rest is left to the scalar loop.
    #[test]
    fn blocks_agree_with_the_scalar_probe() {
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        for (word_bits, density, len) in
            [(10, 3, 5000), (12, 1, 4097), (18, 7, 20_000), (14, 0, 33)]
        {
            // Sparse filters (few candidates) and dense ones (many).
            let words: Vec<u64> = (0..1usize << word_bits)
                .map(|_| {
                    (0..density).fold(0, |a, _| a | rng.next()) & rng.next()
                        | if density == 7 { u64::MAX } else { 0 }
                })
                .collect();
            let two: Vec<u8> = (0..8192)
                .map(|_| (rng.next() & rng.next() & rng.next()) as u8)
                .collect();
            let data: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            for two in [None, Some(&two[..])] {
                let p = Probe::new(&words, word_bits, two, false);
                assert_eq!(p.avx2, has_avx2());
                let mut i = 0;
                let end = loop {
                    match p.next(&data, i) {
                        Next::Hits { at, four, two } => {
                            assert!(at >= i && at + 16 <= data.len());
                            for j in i..at {
                                assert_eq!(
                                    scalar(&p, &data, j),
                                    (false, false),
                                    "{j}"
                                );
                            }
                            for j in 0..8 {
                                let got =
                                    (four >> j & 1 == 1, two >> j & 1 == 1);
                                assert_eq!(got, scalar(&p, &data, at + j));
                            }
                            i = at + 8;
                        }
                        Next::End(at) => break at,
                    }
                };
                if p.avx2 {
                    assert!(end + 16 > data.len(), "blocks stopped early");
                }
                for j in i..end {
                    assert_eq!(scalar(&p, &data, j), (false, false), "{j}");
                }
            }
        }
    }

    #[test]
    fn a_filter_too_small_for_its_bits_is_never_gathered_from() {
        let words = vec![u64::MAX; 100];
        let p = Probe::new(&words, 10, None, true);
        assert!(!p.avx2);
        assert_eq!(p.next(&[0; 64], 0), Next::End(0));
        let p = Probe::new(&words, 6, Some(&[0xff; 100]), true);
        assert!(!p.avx2);
    }

    /// A filter of 2^`bits` words holding `anchors`.
    fn filter_of(anchors: &[u32], bits: u32) -> Vec<u64> {
        let mut words = vec![0u64; 1 << bits];
        for &a in anchors {
            let (w, b) = filter_probe(a, bits);
            words[w] |= b;
        }
        words
    }

    #[cfg(all(target_arch = "x86_64", nod32_vector))]
    #[test]
    fn text_bytes_are_classified_as_the_scalar_rule_says() {
        use crate::sigs::body::text_byte;
        if !has_avx2() {
            return;
        }
        for shift in 0..32 {
            for first in (0..=255u8).step_by(32) {
                let mut y = [0u8; 32];
                for (j, b) in y.iter_mut().enumerate() {
                    *b = first.wrapping_add(((j + shift) % 32) as u8);
                }
                // SAFETY: AVX2 was checked; y is 32 bytes.
                #[allow(unsafe_code)]
                let got = unsafe {
                    use std::arch::x86_64::*;
                    x86::not_text(_mm256_loadu_si256(
                        y.as_ptr().cast::<__m256i>(),
                    ))
                };
                for (j, &b) in y.iter().enumerate() {
                    assert_eq!(got >> j & 1 == 0, text_byte(b), "{b:#04x}");
                }
            }
        }
    }

    /// Runs of text bytes are stepped over when no anchor is text, and
    /// probed in full when some is, and no window equal to an anchor is
    /// ever passed over: base64 lines with anchors planted in them,
    /// binary between.
    #[test]
    fn text_runs_never_hide_an_anchor() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let b64 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        for round in 0..40 {
            let text_anchors = round % 2 == 0;
            let mut anchors: Vec<u32> = (0..200)
                .map(|k| {
                    // Other anchors have a byte outside the text set, at
                    // any place, the rest random or text: a text run may
                    // end inside one.
                    let mut a = (rng.next() as u32).to_le_bytes();
                    if k % 2 == 0 {
                        a = a.map(|b| b64[usize::from(b) % 64]);
                    }
                    a[(rng.next() % 4) as usize] = b"- \0\xe9"[k % 4];
                    u32::from_le_bytes(a)
                })
                .collect();
            let mut text: Vec<u32> = Vec::new();
            if text_anchors {
                for _ in 0..20 {
                    let t = u32::from_le_bytes(std::array::from_fn(|_| {
                        b64[(rng.next() % 64) as usize]
                    }));
                    text.push(t);
                    anchors.push(t);
                }
            }
            let words = filter_of(&anchors, 12);
            let data: Vec<u8> = (0..3000)
                .map(|j| match (j / 200) % 3 {
                    0 => b64[(rng.next() % 64) as usize],
                    1 if j % 77 == 76 => b'\n',
                    1 => b64[(rng.next() % 64) as usize],
                    _ => rng.next() as u8,
                })
                .collect();
            let mut data = data;
            for _ in 0..30 {
                let at = (rng.next() % 2990) as usize;
                let a = anchors[(rng.next() as usize) % anchors.len()];
                data[at..at + 4].copy_from_slice(&a.to_le_bytes());
            }
            let p = Probe::new(&words, 12, None, text.is_empty());
            let is_anchor = |i: usize| {
                let w = u32::from_le_bytes(data[i..i + 4].try_into().unwrap());
                anchors.contains(&w)
            };
            let mut i = 0;
            let end = loop {
                match p.next(&data, i) {
                    Next::Hits { at, four, .. } => {
                        for j in i..at {
                            assert!(
                                !is_anchor(j),
                                "round {round}: {j} hidden"
                            );
                        }
                        for j in 0..8 {
                            if is_anchor(at + j) {
                                assert!(
                                    four >> j & 1 == 1,
                                    "{round} {at}+{j}"
                                );
                            }
                        }
                        i = at + 8;
                    }
                    Next::End(at) => break at,
                }
            };
            for j in i..end {
                assert!(!is_anchor(j), "round {round}: {j} hidden");
            }
        }
    }

    /// A text run that ends inside an anchor ("ABC-"), at every offset
    /// against the blocks and the classified stretches: stepping over
    /// the run stops at the anchor.
    #[test]
    fn a_text_run_ending_in_an_anchor_stops_the_step() {
        let anchor = u32::from_le_bytes(*b"ABC-");
        let words = filter_of(&[anchor], 12);
        let p = Probe::new(&words, 12, None, true);
        for at in 0..200 {
            let mut data = vec![b'A'; 300];
            data[at..at + 4].copy_from_slice(b"ABC-");
            let mut i = 0;
            let found = loop {
                match p.next(&data, i) {
                    Next::Hits { at: h, four, .. } => {
                        if (h..h + 8).contains(&at) {
                            break four >> (at - h) & 1 == 1;
                        }
                        i = h + 8;
                    }
                    // The scalar loop goes on from `e`.
                    Next::End(e) => break e <= at,
                }
            };
            assert!(found, "anchor at {at} passed over");
        }
    }
}

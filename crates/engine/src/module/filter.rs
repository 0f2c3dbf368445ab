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
    avx2: bool,
}

impl<'a> Probe<'a> {
    pub(crate) fn new(
        words: &'a [u64],
        word_bits: u32,
        two: Option<&'a [u8]>,
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
            avx2: sized && has_avx2() && !scalar_only(),
        }
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
                x86::next(self.words, self.word_bits, self.two, data, from)
            };
        }
        let _ = (self.words, self.word_bits, self.two);
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

    /// # Safety
    /// The CPU has AVX2; `words` holds at least 2^`word_bits` words,
    /// `word_bits` is in 1..=26, and `two`, when given, 8,192 bytes.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn next(
        words: &[u64],
        word_bits: u32,
        two: Option<&[u8]>,
        data: &[u8],
        mut i: usize,
    ) -> Next {
        // Byte j of window k is byte k + j of the block: the low lane
        // makes windows 0-3, the high lane 4-7, from the same 16 bytes.
        let spread = _mm256_setr_epi8(
            0, 1, 2, 3, 1, 2, 3, 4, 2, 3, 4, 5, 3, 4, 5, 6, //
            4, 5, 6, 7, 5, 6, 7, 8, 6, 7, 8, 9, 7, 8, 9, 10,
        );
        let mul = _mm256_set1_epi32(MUL as i32);
        let mul2 = _mm256_set1_epi32(MUL2 as i32);
        let shift = _mm_cvtsi32_si128((32 - word_bits) as i32);
        let six = _mm256_set1_epi32(63);
        let one64 = _mm256_set1_epi64x(1);
        let one32 = _mm256_set1_epi32(1);
        let low16 = _mm256_set1_epi32(0xffff);
        let thirty1 = _mm256_set1_epi32(31);
        let base = words.as_ptr().cast::<i64>();
        while i.checked_add(16).is_some_and(|e| e <= data.len()) {
            // SAFETY: i + 16 <= data.len().
            let x = unsafe {
                _mm_loadu_si128(data.as_ptr().add(i).cast::<__m128i>())
            };
            let w =
                _mm256_shuffle_epi8(_mm256_broadcastsi128_si256(x), spread);
            // The word: the top `word_bits` bits of w * MUL, so below
            // 2^word_bits.
            let idx = _mm256_srl_epi32(_mm256_mullo_epi32(w, mul), shift);
            let h = _mm256_mullo_epi32(w, mul2);
            let bits = [
                _mm256_srli_epi32::<26>(h),
                _mm256_and_si256(_mm256_srli_epi32::<20>(h), six),
                _mm256_and_si256(_mm256_srli_epi32::<14>(h), six),
            ];
            let mut four = 0u32;
            for (half, ix) in [
                _mm256_castsi256_si128(idx),
                _mm256_extracti128_si256::<1>(idx),
            ]
            .into_iter()
            .enumerate()
            {
                // SAFETY: every index is below 2^word_bits <= words.len().
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
                let hit =
                    _mm256_cmpeq_epi64(_mm256_and_si256(word, want), want);
                let m = _mm256_movemask_pd(_mm256_castsi256_pd(hit)) as u32;
                four |= m << (4 * half);
            }
            let mut short = 0u32;
            if let Some(t) = two {
                // Bit v of the bitmap, v the window's first two bytes, is
                // bit v & 31 of its 32-bit word v >> 5 (little-endian).
                let v = _mm256_and_si256(w, low16);
                let ix = _mm256_srli_epi32::<5>(v);
                // SAFETY: v >> 5 < 2,048 words, and t holds 8,192 bytes.
                let word = unsafe {
                    _mm256_i32gather_epi32::<4>(t.as_ptr().cast::<i32>(), ix)
                };
                let bit = _mm256_and_si256(
                    _mm256_srlv_epi32(word, _mm256_and_si256(v, thirty1)),
                    one32,
                );
                let hit = _mm256_cmpeq_epi32(bit, one32);
                short = _mm256_movemask_ps(_mm256_castsi256_ps(hit)) as u32;
            }
            if four | short != 0 {
                return Next::Hits {
                    at: i,
                    four: four as u8,
                    two: short as u8,
                };
            }
            i += 8;
        }
        Next::End(i)
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
                let p = Probe::new(&words, word_bits, two);
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
        let p = Probe::new(&words, 10, None);
        assert!(!p.avx2);
        assert_eq!(p.next(&[0; 64], 0), Next::End(0));
        let p = Probe::new(&words, 6, Some(&[0xff; 100]));
        assert!(!p.avx2);
    }
}

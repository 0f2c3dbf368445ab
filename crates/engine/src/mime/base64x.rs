//! Base64 decoding 32 characters at a time with AVX2: a mail's
//! attachments are base64 lines of 76 characters, so most of a line goes
//! through here and only its last 12 characters and its line end through
//! the scalar decoder in `decode.rs`.
//!
//! Each byte is classified by range (A-Z, a-z, 0-9, `+`, `/`) and moved
//! to its 6-bit value by the offset of its range; two multiply-adds pack
//! four values into three bytes, and a shuffle puts them in order. A
//! block with any other byte (a line end, `=`, damage) is left to the
//! scalar decoder, which knows what to do with it.

/// Decodes `input[..32]` into `out` (24 bytes) when all 32 bytes are in
/// the alphabet. Otherwise nothing is written, and the error says how
/// many bytes on a block cannot start (the first byte out of the
/// alphabet is one of them; without AVX2, none can).
#[inline]
pub(crate) fn decode32(input: &[u8], out: &mut Vec<u8>) -> Result<(), usize> {
    if !available() {
        return Err(usize::MAX);
    }
    if input.len() < 32 {
        return Err(input.len());
    }
    block(input, out)
}

/// Only called once [`available`] said yes, with 32 bytes or more.
#[cfg(all(target_arch = "x86_64", nod32_vector))]
fn block(input: &[u8], out: &mut Vec<u8>) -> Result<(), usize> {
    // SAFETY: the CPU has AVX2 (`available`), and `input` holds 32 bytes.
    #[allow(unsafe_code)]
    unsafe {
        x86::decode32(input, out)
    }
}

#[cfg(not(all(target_arch = "x86_64", nod32_vector)))]
fn block(_: &[u8], _: &mut Vec<u8>) -> Result<(), usize> {
    Err(usize::MAX)
}

/// Whether blocks are decoded here: with AVX2, in an optimised build
/// (unoptimised ones keep the scalar decoder; `build.rs` says why).
fn available() -> bool {
    #[cfg(all(target_arch = "x86_64", nod32_vector))]
    {
        std::arch::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(all(target_arch = "x86_64", nod32_vector)))]
    {
        false
    }
}

#[cfg(all(target_arch = "x86_64", nod32_vector))]
#[allow(unsafe_code)]
mod x86 {
    use std::arch::x86_64::*;

    /// # Safety
    /// The CPU has AVX2 and `input` holds at least 32 bytes.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn decode32(
        input: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), usize> {
        // SAFETY: 32 bytes are there (the caller's promise).
        let x =
            unsafe { _mm256_loadu_si256(input.as_ptr().cast::<__m256i>()) };
        // Signed compares: bytes over 0x7f are negative and fall in no
        // range.
        let within = |lo: u8, hi: u8| {
            _mm256_and_si256(
                _mm256_cmpgt_epi8(x, _mm256_set1_epi8(lo as i8 - 1)),
                _mm256_cmpgt_epi8(_mm256_set1_epi8(hi as i8 + 1), x),
            )
        };
        let upper = within(b'A', b'Z');
        let lower = within(b'a', b'z');
        let digit = within(b'0', b'9');
        let plus = _mm256_cmpeq_epi8(x, _mm256_set1_epi8(b'+' as i8));
        let slash = _mm256_cmpeq_epi8(x, _mm256_set1_epi8(b'/' as i8));
        let valid = _mm256_or_si256(
            _mm256_or_si256(upper, lower),
            _mm256_or_si256(digit, _mm256_or_si256(plus, slash)),
        );
        let bad = !(_mm256_movemask_epi8(valid) as u32);
        if bad != 0 {
            return Err(bad.trailing_zeros() as usize + 1);
        }
        // 'A' is 0, 'a' 26, '0' 52, '+' 62, '/' 63.
        let shift =
            |m: __m256i, by: i8| _mm256_and_si256(m, _mm256_set1_epi8(by));
        let delta = _mm256_or_si256(
            _mm256_or_si256(shift(upper, -65), shift(lower, -71)),
            _mm256_or_si256(
                shift(digit, 4),
                _mm256_or_si256(shift(plus, 19), shift(slash, 16)),
            ),
        );
        let v = _mm256_add_epi8(x, delta);
        // Pairs of values to 12 bits (a * 64 + b), pairs of those to 24
        // (ab * 4096 + cd), one group of four characters per 32-bit lane.
        let ab = _mm256_maddubs_epi16(v, _mm256_set1_epi32(0x0140_0140));
        let w = _mm256_madd_epi16(ab, _mm256_set1_epi32(0x0001_1000));
        // Each lane's three bytes, most significant first, packed to the
        // front of each 128-bit half, then the halves joined.
        let order = _mm256_setr_epi8(
            2, 1, 0, 6, 5, 4, 10, 9, 8, 14, 13, 12, -1, -1, -1, -1, //
            2, 1, 0, 6, 5, 4, 10, 9, 8, 14, 13, 12, -1, -1, -1, -1,
        );
        let bytes = _mm256_shuffle_epi8(w, order);
        let joined = _mm256_permutevar8x32_epi32(
            bytes,
            _mm256_setr_epi32(0, 1, 2, 4, 5, 6, 3, 7),
        );
        let mut tmp = [0u8; 32];
        // SAFETY: `tmp` holds 32 bytes.
        unsafe {
            _mm256_storeu_si256(tmp.as_mut_ptr().cast::<__m256i>(), joined)
        };
        out.extend_from_slice(&tmp[..24]);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every alphabet character in every place, against a plain decoder.
    #[test]
    fn blocks_decode_as_four_characters_at_a_time_do() {
        const A: &[u8; 64] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let value = |c: u8| A.iter().position(|&a| a == c).unwrap() as u32;
        let mut s = 0x9e37_79b9_u32;
        for round in 0..200 {
            let block: Vec<u8> = (0..32)
                .map(|i| {
                    s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    A[if round < 64 {
                        (round + i) % 64
                    } else {
                        (s >> 26) as usize
                    }]
                })
                .collect();
            let mut want = Vec::new();
            for q in block.chunks(4) {
                let w = q.iter().fold(0, |w, &c| w << 6 | value(c));
                want.extend_from_slice(&[
                    (w >> 16) as u8,
                    (w >> 8) as u8,
                    w as u8,
                ]);
            }
            let mut got = vec![7u8];
            if decode32(&block, &mut got).is_ok() {
                assert_eq!(
                    &got[1..],
                    &want[..],
                    "{}",
                    String::from_utf8_lossy(&block)
                );
            } else {
                assert!(!available());
                assert_eq!(got, [7]);
            }
        }
    }

    #[test]
    fn any_other_byte_leaves_the_block_to_the_scalar_decoder() {
        let good = [b'Q'; 32];
        for bad in [
            b'\r', b'\n', b'=', b' ', b'-', 0, 0x80, 0xc1, b'@', b'[', b'`',
            b'{', b':',
        ] {
            for at in [0, 13, 31] {
                let mut b = good;
                b[at] = bad;
                let mut out = Vec::new();
                let skip = decode32(&b, &mut out).unwrap_err();
                if available() {
                    assert_eq!(skip, at + 1, "{bad:#x} at {at}");
                }
                assert!(out.is_empty());
            }
        }
        let mut out = Vec::new();
        assert!(decode32(&good[..31], &mut out).is_err());
    }
}

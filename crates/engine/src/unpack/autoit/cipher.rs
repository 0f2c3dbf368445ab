//! The two keystreams AutoIt hides its resources with: EA05 XORs with
//! the bytes of a Mersenne Twister (MT19937, each output shifted right
//! once and cut to a byte); EA06 with a RanRot-style lagged generator
//! over 17 words (each byte the top byte of every second output). Both
//! are symmetric: the same call encrypts and decrypts.

/// MT19937's state size, in words.
const MT_N: usize = 624;
/// MT19937's middle word distance.
const MT_M: usize = 397;

/// A standard MT19937.
struct Twister {
    state: [u32; MT_N],
    /// The next word of `state` to hand out; `MT_N` when a twist is due.
    next: usize,
}

impl Twister {
    fn new(seed: u32) -> Twister {
        let mut state = [0u32; MT_N];
        state[0] = seed;
        for i in 1..MT_N {
            let prev = state[i - 1];
            state[i] = 0x6c07_8965u32
                .wrapping_mul(prev ^ (prev >> 30))
                .wrapping_add(i as u32);
        }
        Twister { state, next: MT_N }
    }

    fn twist(&mut self) {
        for i in 0..MT_N {
            let y = (self.state[i] & 0x8000_0000)
                | (self.state[(i + 1) % MT_N] & 0x7fff_ffff);
            let mut v = self.state[(i + MT_M) % MT_N] ^ (y >> 1);
            if y & 1 != 0 {
                v ^= 0x9908_b0df;
            }
            self.state[i] = v;
        }
        self.next = 0;
    }

    fn word(&mut self) -> u32 {
        if self.next >= MT_N {
            self.twist();
        }
        let mut y = self.state[self.next];
        self.next += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }
}

/// EA05's cipher over `buf`, keyed by `seed`.
pub(super) fn ea05(buf: &mut [u8], seed: u32) {
    let mut mt = Twister::new(seed);
    for b in buf {
        *b ^= (mt.word() >> 1) as u8;
    }
}

/// The lagged generator of EA06.
struct RanRot {
    words: [u32; 17],
    a: usize,
    b: usize,
}

impl RanRot {
    fn new(seed: u16) -> RanRot {
        let mut words = [0u32; 17];
        let mut s = u32::from(seed);
        for w in &mut words {
            s = 1u32.wrapping_sub(s.wrapping_mul(0x53a9_b4fb));
            *w = s;
        }
        let mut r = RanRot { words, a: 0, b: 10 };
        for _ in 0..9 {
            r.step();
        }
        r
    }

    fn step(&mut self) -> u32 {
        let v = self.words[self.a]
            .rotate_left(9)
            .wrapping_add(self.words[self.b].rotate_left(13));
        self.words[self.a] = v;
        self.a = if self.a == 0 { 16 } else { self.a - 1 };
        self.b = if self.b == 0 { 16 } else { self.b - 1 };
        v
    }

    /// AutoIt turns an output into a double in [0, 1) (the word as the
    /// top of the mantissa) and takes 256 times it: the word's top byte.
    fn byte(&mut self) -> u8 {
        self.step();
        (self.step() >> 24) as u8
    }
}

/// EA06's cipher over `buf`, keyed by `seed` (16 bits: AutoIt passes a
/// 32-bit sum and keeps the low half).
pub(super) fn ea06(buf: &mut [u8], seed: u32) {
    let mut r = RanRot::new(seed as u16);
    for b in buf {
        *b ^= r.byte();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference MT19937 (Matsumoto and Nishimura's mt19937ar.c)
    /// seeded with 5489 begins 3499211612, 581869302, 3890346734.
    #[test]
    fn twister_is_mt19937() {
        let mut mt = Twister::new(5489);
        assert_eq!(
            [mt.word(), mt.word(), mt.word()],
            [3_499_211_612, 581_869_302, 3_890_346_734]
        );
    }

    /// Each version's "FILE" tag, as it stands in every AutoIt file.
    #[test]
    fn file_tags_encrypt_as_stored() {
        let mut tag = *b"FILE";
        ea05(&mut tag, 0x16fa);
        assert_eq!(u32::from_le_bytes(tag), 0xceb0_6dff);
        let mut tag = *b"FILE";
        ea06(&mut tag, 0x18ee);
        assert_eq!(u32::from_le_bytes(tag), 0x52ca_436b);
    }
}

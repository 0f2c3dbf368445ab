//! PESpin's polymorphic byte decryptor: a 0x24-byte run of x86 code,
//! ended by `stosb` (0xaa), that turns AL (the byte) with CL (the bytes
//! left, counting down) and constants. ClamAV emulates the handful of
//! instructions PESpin 1.1 generates (add, sub, xor with CL or an
//! immediate, inc, dec, rol, ror, and padding that does nothing); any
//! other opcode, or code not ending exactly at the `stosb`, fails.
//!
//! The path through the code depends on its bytes only, so it is read
//! once into a list of operations and then run for each byte.

/// The length of the code before its `stosb`.
pub(super) const CODE_LEN: usize = 0x24;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    AddCl,
    SubCl,
    XorCl,
    Add(u8),
    Sub(u8),
    Xor(u8),
    Inc,
    Dec,
    Rol(u8),
    Ror(u8),
}

/// The decryptor read from `code` (which starts at its first byte);
/// `None` for code ClamAV's emulator refuses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Poly(Vec<Op>);

impl Poly {
    pub(super) fn read(code: &[u8]) -> Option<Poly> {
        let at = |i: usize| code.get(i).copied();
        let mut ops = Vec::new();
        let mut i = 0;
        while i < CODE_LEN {
            let op = at(i)?;
            i += 1;
            match op {
                // Two-byte jumps, or-with-register and no-ops and flag
                // changes: they leave AL alone.
                0xeb => i += 2,
                0x0a => i += 1,
                0x90 | 0xf8 | 0xf9 => {}
                0x02 | 0x2a | 0x32 => {
                    ops.push(match op {
                        0x02 => Op::AddCl,
                        0x2a => Op::SubCl,
                        _ => Op::XorCl,
                    });
                    i += 1;
                }
                0x04 | 0x2c | 0x34 => {
                    let v = at(i)?;
                    ops.push(match op {
                        0x04 => Op::Add(v),
                        0x2c => Op::Sub(v),
                        _ => Op::Xor(v),
                    });
                    i += 1;
                }
                0xfe => {
                    ops.push(if at(i)? == 0xc0 { Op::Inc } else { Op::Dec });
                    i += 1;
                }
                0xc0 => {
                    let how = at(i)?;
                    let n = at(i + 1)? & 7;
                    ops.push(if how == 0xc0 {
                        Op::Rol(n)
                    } else {
                        Op::Ror(n)
                    });
                    i += 2;
                }
                _ => return None,
            }
        }
        (i == CODE_LEN && at(CODE_LEN)? == 0xaa).then_some(Poly(ops))
    }

    /// The decrypted byte `al` with `cl` the low byte of the count left.
    pub(super) fn run(&self, mut al: u8, cl: u8) -> u8 {
        for op in &self.0 {
            al = match *op {
                Op::AddCl => al.wrapping_add(cl),
                Op::SubCl => al.wrapping_sub(cl),
                Op::XorCl => al ^ cl,
                Op::Add(v) => al.wrapping_add(v),
                Op::Sub(v) => al.wrapping_sub(v),
                Op::Xor(v) => al ^ v,
                Op::Inc => al.wrapping_add(1),
                Op::Dec => al.wrapping_sub(1),
                Op::Rol(n) => al.rotate_left(u32::from(n)),
                Op::Ror(n) => al.rotate_right(u32::from(n)),
            };
        }
        al
    }
}

/// Decrypts `count` bytes of `buf` from `at` with the code at `code`
/// of the same buffer, as ClamAV does it: byte by byte, the code read
/// afresh for each (so bytes written over the code change it for the
/// ones after). `None` for refused code or bytes outside `buf`.
pub(super) fn decrypt(
    buf: &mut [u8],
    at: usize,
    count: u32,
    code: usize,
) -> Option<()> {
    if count == 0 {
        return Some(());
    }
    let code_bytes = code..code.checked_add(CODE_LEN + 2)?;
    let mut poly = Poly::read(buf.get(code..)?)?;
    for (i, left) in (1..=count).rev().enumerate() {
        let pos = at.checked_add(i)?;
        let b = buf.get_mut(pos)?;
        *b = poly.run(*b, left as u8);
        if code_bytes.contains(&pos) && left > 1 {
            poly = Poly::read(buf.get(code..)?)?;
        }
    }
    Some(())
}

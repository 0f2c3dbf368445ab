//! The certificate store: `.crb` trust and block rules and the
//! certificates that became trusted, newest first, with ClamAV's rules
//! for what covers what, which certificate signs which, and RSA.

use std::cell::Cell;

use num_bigint::BigUint;

use super::Cert;
use super::der::Hash;
use super::x509::Embedded;

/// What one signature check may spend on RSA. ClamAV sets no bound, but
/// a crafted signature could have it verify thousands of times with
/// 4096-bit exponents (tens of milliseconds each); a real one needs a
/// handful of verifications with exponent 65537.
#[derive(Debug)]
pub(crate) struct Budget {
    verifications: Cell<u32>,
    exponent_bits: Cell<u64>,
}

impl Default for Budget {
    fn default() -> Budget {
        Budget {
            verifications: Cell::new(64),
            exponent_bits: Cell::new(16 * 1024),
        }
    }
}

impl Budget {
    #[cfg(test)]
    pub(crate) fn verifications_left(&self) -> u32 {
        self.verifications.get()
    }

    /// Whether a verification with `key` is still affordable (and so
    /// counted); once spent, signatures no longer verify.
    fn spend(&self, key: &Cert) -> bool {
        let (n, bits) = (self.verifications.get(), self.exponent_bits.get());
        let cost = key.e.bits();
        if n == 0 || cost > bits {
            return false;
        }
        self.verifications.set(n - 1);
        self.exponent_bits.set(bits - cost);
        true
    }
}

/// Certificates, newest first.
#[derive(Clone, Debug, Default)]
pub(crate) struct Store {
    pub(crate) certs: Vec<Cert>,
}

fn flags_within(inner: &Cert, outer: &Cert) -> bool {
    (!inner.code || outer.code)
        && (!inner.time || outer.time)
        && (!inner.cert_sign || outer.cert_sign)
}

/// Whether trusted entry `i` covers `c`: with `rules_only`, as a `.crb`
/// rule (subject, key, serial unless the rule leaves it out, validity
/// and flags); otherwise as the same certificate or a wider one.
pub(crate) fn covers(i: &Cert, c: &Cert, rules_only: bool) -> bool {
    !i.blocked
        && if rules_only {
            i.hash.is_none()
        } else {
            c.hash == i.hash
                && c.issuer == i.issuer
                && c.ignore_serial == i.ignore_serial
                && c.e == i.e
        }
        && (i.ignore_serial || c.serial == i.serial)
        && c.not_before >= i.not_before
        && c.not_after <= i.not_after
        && flags_within(c, i)
        && c.subject == i.subject
        && c.n == i.n
}

impl Store {
    /// A trusted entry covering `c` (see [`covers`]).
    pub(crate) fn trusted(&self, c: &Cert, rules_only: bool) -> Option<&Cert> {
        self.certs.iter().find(|i| covers(i, c, rules_only))
    }

    /// A block rule for `c`: same subject and key, and the same serial
    /// unless the rule leaves it out.
    pub(crate) fn blocked(&self, c: &Cert) -> Option<&Cert> {
        self.certs.iter().find(|i| {
            i.blocked
                && i.subject == c.subject
                && i.n == c.n
                && (i.ignore_serial || i.serial == c.serial)
        })
    }

    /// Adds `c` unless an entry already covers it.
    pub(crate) fn add(&mut self, c: Cert) {
        let covered = if c.blocked {
            self.blocked(&c).is_some()
        } else {
            self.trusted(&c, false).is_some()
        };
        if !covered {
            self.certs.insert(0, c);
        }
    }

    /// The trusted entries, as a check starts from: copied one by one
    /// (so in reverse order), block rules left out.
    pub(crate) fn roots(&self) -> Store {
        let mut s = Store::default();
        for c in self.certs.iter().filter(|c| !c.blocked) {
            s.add(c.clone());
        }
        s
    }

    /// The entry that signed `e`: the first that may sign certificates
    /// and whose signature checks, if its code and time flags include
    /// `e`'s; else the one sharing most of them (none sharing none).
    pub(crate) fn parent(
        &self,
        e: &Embedded,
        budget: &Budget,
    ) -> Option<&Cert> {
        let (c, mut best, mut score) = (&e.cert, None, 0);
        let hash = c.hash?;
        for i in &self.certs {
            if !i.cert_sign
                || i.blocked
                || i.subject != c.issuer
                || !budget.spend(i)
                || !rsa_verify(i, &e.signature, hash, &e.tbs_hash)
            {
                continue;
            }
            if (!c.code || i.code) && (!c.time || i.time) {
                return Some(i);
            }
            let s = u8::from(c.code && i.code) + u8::from(c.time && i.time);
            if s > score {
                (best, score) = (Some(i), s);
            }
        }
        best
    }

    /// The entry whose key made `signature` over `digest`: of the issuer
    /// and serial (hashes) given, and allowed to sign code (or, with
    /// `time`, timestamps).
    pub(crate) fn signer(
        &self,
        (issuer, serial): &([u8; 20], [u8; 20]),
        signature: &[u8],
        hash: Hash,
        digest: &[u8],
        time: bool,
        budget: &Budget,
    ) -> Option<&Cert> {
        if !(128..=513).contains(&signature.len()) {
            return None;
        }
        let sig = BigUint::from_bytes_be(signature);
        self.certs.iter().find(|i| {
            (if time { i.time } else { i.code })
                && i.issuer == *issuer
                && i.serial == *serial
                && budget.spend(i)
                && rsa_verify(i, &sig, hash, digest)
        })
    }
}

/// PKCS#1 v1.5 verification as ClamAV does it: the DigestInfo exactly as
/// written with a NULL parameter, of the hash expected, and nothing
/// after the digest.
pub(crate) fn rsa_verify(
    key: &Cert,
    sig: &BigUint,
    hash: Hash,
    digest: &[u8],
) -> bool {
    let hash_len = hash.len();
    // An exponent of 1 (or 0) verifies whatever an attacker writes: a
    // copy of a trusted certificate with e = 1 would "sign" anything.
    // ClamAV takes it; nothing signed in earnest uses it.
    if hash_len == 0 || key.n.bits() == 0 || key.e.bits() < 2 {
        return false;
    }
    let key_len = key.n.bits().div_ceil(8) as usize;
    let sig_len = sig.bits().div_ceil(8) as usize;
    if key_len.abs_diff(sig_len) > 1 {
        return false;
    }
    let m = sig.modpow(&key.e, &key.n).to_bytes_be();
    // Minimal bytes: `01 FF.. 00 T`, one byte shorter than the key.
    if key_len < 11 || m.len() + 1 != key_len || m[0] != 1 {
        return false;
    }
    let Some(zero) = m[1..].iter().position(|&b| b != 0xff) else {
        return false;
    };
    if zero < 8 || m[1 + zero] != 0 {
        return false;
    }
    let t = &m[2 + zero..];
    let oid: &[u8] = match hash {
        Hash::Sha1 => b"\x06\x05\x2b\x0e\x03\x02\x1a\x05\x00",
        Hash::Md5 => b"\x06\x08\x2a\x86\x48\x86\xf7\x0d\x02\x05\x05\x00",
        Hash::Sha256 => {
            b"\x06\x09\x60\x86\x48\x01\x65\x03\x04\x02\x01\x05\x00"
        }
        Hash::Sha384 => {
            b"\x06\x09\x60\x86\x48\x01\x65\x03\x04\x02\x02\x05\x00"
        }
        Hash::Sha512 => {
            b"\x06\x09\x60\x86\x48\x01\x65\x03\x04\x02\x03\x05\x00"
        }
        Hash::Rsa | Hash::Md2 => return false,
    };
    let mut want = vec![0x30, 0, 0x30, oid.len() as u8];
    want.extend_from_slice(oid);
    want.extend([0x04, hash_len as u8]);
    want.extend_from_slice(digest);
    want[1] = (want.len() - 2) as u8;
    t.len() > hash_len && t == want.as_slice()
}

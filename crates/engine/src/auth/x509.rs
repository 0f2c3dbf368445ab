//! The parts of an X.509 certificate the check uses, read as ClamAV
//! reads them: RSA keys only, v1 or v3, the key usages that become the
//! code-, time- and certificate-signing flags.

use num_bigint::BigUint;

use super::Cert;
use super::der::{self, Reader, Tlv, inside, oid};

/// A certificate that was read: its store entry, and what checking its
/// own signature needs.
#[derive(Clone, Debug)]
pub(crate) struct Embedded {
    pub(crate) cert: Cert,
    pub(crate) signature: BigUint,
    pub(crate) tbs_hash: Vec<u8>,
}

/// Reads one certificate; `None` when it is not one the check can use
/// (ClamAV skips such a certificate and goes on with the next).
pub(crate) fn parse(crt: Tlv<'_>) -> Option<Embedded> {
    let mut outer = inside(crt);
    let tbs = outer.expect(der::SEQUENCE)?;
    let mut t = inside(tbs);
    let mut cert = Cert::default();
    let first = t.any()?;
    let (v3, serial) = match first.tag {
        der::CONTEXT_0 => {
            let mut v = inside(first);
            v.exact(der::INTEGER, b"\x02")?;
            if !v.is_empty() {
                return None;
            }
            (true, t.expect(der::INTEGER)?)
        }
        der::INTEGER => {
            // Too little to tell a v1 certificate's purpose: ClamAV has
            // seen them in time-stamping chains only.
            cert.cert_sign = true;
            cert.time = true;
            (false, first)
        }
        _ => return None,
    };
    cert.serial = der::sha1(serial.content);
    let inner_alg = der::rsa_algorithm(&mut t)?;
    let issuer = t.expect(der::SEQUENCE)?;
    let validity = t.expect(der::SEQUENCE)?;
    let mut v = inside(validity);
    cert.not_before = der::time(v.any()?)?;
    cert.not_after = der::time(v.any()?)?;
    if cert.not_before >= cert.not_after || !v.is_empty() {
        return None;
    }
    let subject = t.expect(der::SEQUENCE)?;
    cert.subject = der::sha1(subject.content);
    (cert.n, cert.e) = public_key(&mut t)?;
    if !v3 && !t.is_empty() {
        return None;
    }
    let mut last = 0u8;
    while !t.is_empty() {
        let o = t.any()?;
        // [1] [2] [3], each at most once and in that order.
        if o.tag <= der::CONTEXT_0 + last || o.tag > der::CONTEXT_3 {
            return None;
        }
        last = o.tag - der::CONTEXT_0;
        if o.tag == der::CONTEXT_3 {
            extensions(o, &mut cert)?;
        }
    }
    cert.issuer = der::sha1(issuer.content);
    let alg = der::rsa_algorithm(&mut outer)?;
    if alg != inner_alg {
        return None;
    }
    cert.hash = Some(alg);
    let sig = outer.expect(der::BIT_STRING)?;
    if sig.content.len() > 513 || !outer.is_empty() {
        return None;
    }
    let tbs_hash = alg.digest(&[tbs.whole])?;
    Some(Embedded {
        cert,
        signature: BigUint::from_bytes_be(sig.content),
        tbs_hash,
    })
}

/// `SubjectPublicKeyInfo` of an RSA key: (n, e).
fn public_key(t: &mut Reader<'_>) -> Option<(BigUint, BigUint)> {
    let spki = t.expect(der::SEQUENCE)?;
    let mut s = inside(spki);
    der::exact_algorithm(&mut s, oid::RSA)?;
    let bits = s.expect(der::BIT_STRING)?;
    if !s.is_empty() || bits.content.first() != Some(&0) {
        return None;
    }
    let mut b = Reader::new(&bits.content[1..]);
    let key = b.expect(der::SEQUENCE)?;
    if !b.is_empty() {
        return None;
    }
    let mut k = inside(key);
    let n = k.expect(der::INTEGER)?;
    if !(128..=513).contains(&n.content.len()) {
        return None;
    }
    let e = k.expect(der::INTEGER)?;
    if !k.is_empty()
        || e.content.is_empty()
        || e.content.len() > n.content.len()
    {
        return None;
    }
    Some((
        BigUint::from_bytes_be(n.content),
        BigUint::from_bytes_be(e.content),
    ))
}

/// The `[3]` extensions: key usage, extended key usage, basic
/// constraints, in file order (a later one overrides an earlier one's
/// certificate-signing flag).
fn extensions(o: Tlv<'_>, cert: &mut Cert) -> Option<()> {
    let mut r = inside(o);
    let seq = r.expect(der::SEQUENCE)?;
    if !r.is_empty() {
        // ClamAV stops reading the fields here and keeps the certificate,
        // without the defaults below.
        return Some(());
    }
    let (mut key_usage, mut ext_key_usage) = (false, false);
    let mut exts = inside(seq);
    while !exts.is_empty() {
        let ext = exts.expect(der::SEQUENCE)?;
        let mut e = inside(ext);
        let id = e.expect(der::OID)?;
        let mut value = e.any()?;
        if value.tag == der::BOOLEAN {
            if value.content.len() != 1 {
                return None;
            }
            value = e.any()?;
        }
        if value.tag != der::OCTET_STRING || !e.is_empty() {
            return None;
        }
        match id.content {
            b"\x55\x1d\x0f" => {
                key_usage = true;
                let v = value.content;
                if !(4..=5).contains(&v.len())
                    || v[0] != der::BIT_STRING
                    || usize::from(v[1]) != v.len() - 2
                    || v[2] > 7
                {
                    return None;
                }
                let mut usage = v[3];
                if v.len() == 4 {
                    usage &= !((1u8 << v[2]).wrapping_sub(1));
                }
                cert.cert_sign = usage & 4 != 0;
            }
            b"\x55\x1d\x25" => {
                ext_key_usage = true;
                let mut v = Reader::new(value.content);
                let purposes = v.expect(der::SEQUENCE)?;
                if !v.is_empty() {
                    return None;
                }
                let mut p = inside(purposes);
                while !p.is_empty() {
                    let id = p.expect(der::OID)?;
                    if id.content.len() != 8 && id.content.len() != 10 {
                        continue;
                    }
                    // ClamAV compares the first eight bytes.
                    if &id.content[..8] == oid::CODE_SIGNING {
                        cert.code = true;
                    } else if &id.content[..8] == oid::TIME_STAMPING {
                        cert.time = true;
                    }
                }
            }
            b"\x55\x1d\x13" => {
                let mut v = Reader::new(value.content);
                let c = v.expect(der::SEQUENCE)?;
                let mut c = inside(c);
                if c.is_empty() {
                    cert.cert_sign = false;
                } else {
                    let first = c.any()?;
                    match first.tag {
                        der::BOOLEAN if first.content.len() == 1 => {
                            cert.cert_sign = first.content[0] != 0;
                        }
                        der::INTEGER => cert.cert_sign = false,
                        _ => return None,
                    }
                }
            }
            _ => {}
        }
    }
    if !ext_key_usage {
        cert.code = true;
        cert.time = true;
    }
    if !key_usage {
        cert.cert_sign = true;
    }
    Some(())
}

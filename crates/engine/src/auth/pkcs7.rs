//! Authenticode `SignedData`, embedded in a PE or as a `.cat` catalog,
//! checked as ClamAV checks it: one signer, RSA, the certificates it
//! carries trusted through the store or blocked by it, and the signing
//! time vouched for by the signer's validity or by a PKCS#9
//! countersignature.

use super::Cert;
use super::der::{self, Hash, Reader, Tlv, inside, oid};
use super::store::{Budget, Store, covers};
use super::x509;

/// What a signature came to.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Signed<'a> {
    /// The signature is good and trusted; the signed content (the
    /// `SpcIndirectDataContent` or the catalog's list) is this.
    Trusted(&'a [u8]),
    /// A certificate it carries matches a block rule (named).
    Blocked(Option<String>),
    /// Anything else: not trusted.
    No,
}

/// Checks `SignedData` in `bytes` against `store`; `catalog` selects
/// the catalog content type. Certificates that become trusted are added
/// to `store` as they are found (for a catalog, the database's own store
/// keeps them, whatever the rest of the check says, as in ClamAV).
/// `allowed` says whether a block match is cleared (the file is on the
/// allow-list), in which case the check goes on.
pub(crate) fn check<'a>(
    bytes: &'a [u8],
    store: &mut Store,
    rules: &Store,
    catalog: bool,
    now: i64,
    allowed: &dyn Fn() -> bool,
) -> Signed<'a> {
    let mut blocked = None;
    match signed(bytes, store, rules, catalog, now, allowed, &mut blocked) {
        _ if blocked.is_some() => Signed::Blocked(blocked.flatten()),
        Some(content) => Signed::Trusted(content),
        None => Signed::No,
    }
}

const CONTENT_TYPE_CTL: &[u8] = oid::CTL;

/// The parts of `SignedData` before its signer: the digest algorithm,
/// the signed content (its value), the certificates, and a reader at
/// what follows them.
struct Head<'a> {
    hash: Hash,
    content: Tlv<'a>,
    certs: Tlv<'a>,
    rest: Reader<'a>,
}

fn head<'a>(bytes: &'a [u8], content_type: &[u8]) -> Option<Head<'a>> {
    // Bytes after the ContentInfo are padding, and allowed.
    let info = Reader::new(bytes).expect(der::SEQUENCE)?;
    let mut r = inside(info);
    r.exact(der::OID, oid::SIGNED_DATA)?;
    let explicit = r.expect(der::CONTEXT_0)?;
    if !r.is_empty() {
        return None;
    }
    let mut r = inside(explicit);
    let sd = r.expect(der::SEQUENCE)?;
    if !r.is_empty() {
        return None;
    }
    let mut sd = inside(sd);
    sd.exact(der::INTEGER, b"\x01")?;
    let algs = sd.expect(der::SET)?;
    let mut a = inside(algs);
    let hash = der::hash_algorithm(&mut a)?;
    if !a.is_empty() {
        return None;
    }
    let ci = sd.expect(der::SEQUENCE)?;
    let mut c = inside(ci);
    c.exact(der::OID, content_type)?;
    let wrapped = c.expect(der::CONTEXT_0)?;
    if !c.is_empty() {
        return None;
    }
    let mut w = inside(wrapped);
    let content = w.expect(der::SEQUENCE)?;
    if !w.is_empty() {
        return None;
    }
    let certs = sd.expect(der::CONTEXT_0)?;
    Some(Head { hash, content, certs, rest: sd })
}

/// The certificates an embedded signature carries that the check can
/// use (RSA, readable), in the order they are written.
pub(crate) fn embedded_certificates(bytes: &[u8]) -> Vec<x509::Embedded> {
    let Some(h) = head(bytes, oid::SPC_INDIRECT_DATA) else {
        return Vec::new();
    };
    let mut r = inside(h.certs);
    let mut out = Vec::new();
    while let Some(crt) = r.expect(der::SEQUENCE) {
        out.extend(x509::parse(crt));
    }
    out
}

fn signed<'a>(
    bytes: &'a [u8],
    store: &mut Store,
    rules: &Store,
    catalog: bool,
    now: i64,
    allowed: &dyn Fn() -> bool,
    blocked: &mut Option<Option<String>>,
) -> Option<&'a [u8]> {
    let content_type =
        if catalog { CONTENT_TYPE_CTL } else { oid::SPC_INDIRECT_DATA };
    let Head { hash, content, certs, rest: mut sd } =
        head(bytes, content_type)?;
    let budget = Budget::default();
    certificates(certs, catalog, store, rules, allowed, blocked, &budget)?;
    if blocked.is_some() {
        return None;
    }

    let mut si = sd.any()?;
    if si.tag == der::CONTEXT_1 {
        si = sd.any()?;
    }
    if si.tag != der::SET || !sd.is_empty() {
        return None;
    }
    let mut infos = inside(si);
    let info = infos.expect(der::SEQUENCE)?;
    if !infos.is_empty() {
        return None;
    }
    let mut s = inside(info);
    s.exact(der::INTEGER, b"\x01")?;
    let id = issuer_and_serial(&mut s)?;
    if der::hash_algorithm(&mut s)? != hash {
        return None;
    }
    let attrs = s.expect(der::CONTEXT_0)?;
    if s.is_empty() {
        return None;
    }
    let digest = signed_attributes(attrs, content_type, hash)?;
    der::exact_algorithm(&mut s, oid::RSA)?;
    let encrypted = s.expect(der::OCTET_STRING)?;
    if encrypted.content.len() > 513 {
        return None;
    }
    if hash.digest(&[content.content])? != digest {
        return None;
    }
    let signed = hash.digest(&[b"\x31", &attrs.whole[1..]])?;
    let signer = store
        .signer(&id, encrypted.content, hash, &signed, false, &budget)?
        .clone();
    let within = |t: i64| signer.not_before <= t && t <= signer.not_after;
    if s.is_empty() {
        return within(now).then_some(content.content);
    }
    let unsigned = s.expect(der::CONTEXT_1)?;
    if !s.is_empty() {
        return None;
    }
    let mut countersigned = false;
    let mut seen = 0u8;
    let mut u = inside(unsigned);
    while !u.is_empty() {
        let attr = u.expect(der::SEQUENCE)?;
        let mut a = inside(attr);
        let id = a.expect(der::OID)?;
        let which = match id.content {
            oid::COUNTER_SIGNATURE => 1,
            oid::NESTED_SIGNATURE => 2,
            oid::RFC3161_COUNTER_SIGNATURE => 4,
            _ => continue,
        };
        let set = a.expect(der::SET)?;
        if !a.is_empty() || seen & which != 0 {
            return None;
        }
        seen |= which;
        // Nested signatures and RFC 3161 timestamps are not read: only
        // the outer signature counts, and "now" must be in its validity.
        if which == 1 {
            let mut v = inside(set);
            countersignature(
                &mut v,
                store,
                encrypted.content,
                (signer.not_before, signer.not_after),
                &budget,
            )?;
            if !v.is_empty() {
                return None;
            }
            countersigned = true;
        }
    }
    (countersigned || within(now)).then_some(content.content)
}

/// At most this many certificates of a signature are used to build
/// trust (ClamAV sets no bound; a real signature carries a handful, and
/// each one costs comparisons with every other and with the store). All
/// of them are still checked against the block rules.
const MAX_CERTS: usize = 256;

/// The `certificates` of a signature: each read and checked against the
/// block rules; then trusted by a `.crb` rule directly, or through a
/// trusted certificate's signature, until no more can be.
fn certificates(
    certs: Tlv<'_>,
    catalog: bool,
    store: &mut Store,
    rules: &Store,
    allowed: &dyn Fn() -> bool,
    blocked: &mut Option<Option<String>>,
    budget: &Budget,
) -> Option<()> {
    let mut r = inside(certs);
    let (mut found, mut beyond) = (Vec::new(), Vec::new());
    while !r.is_empty() {
        // An element that is not a SEQUENCE leaves nothing to go on.
        let crt = r.expect(der::SEQUENCE)?;
        let Some(e) = x509::parse(crt) else { continue };
        if found.len() == MAX_CERTS {
            beyond.push(e);
        // The same certificate twice counts once.
        } else if !found
            .iter()
            .any(|f: &x509::Embedded| covers(&f.cert, &e.cert, false))
        {
            found.push(e);
        }
    }
    // ClamAV keeps them newest first.
    found.reverse();
    // The allow-list is looked up once, at the first block.
    let clears = std::cell::OnceCell::new();
    let mut block = |c: &Cert| match rules.blocked(c) {
        Some(rule) if !*clears.get_or_init(allowed) => {
            *blocked = Some(rule.name.clone());
            true
        }
        _ => false,
    };
    if !catalog && beyond.iter().rev().any(|e| block(&e.cert)) {
        return Some(());
    }
    let mut left = Vec::new();
    for e in found {
        // A catalog's certificates are trusted on (and kept) after a
        // block, until its load fails.
        if block(&e.cert) && !catalog {
            return Some(());
        }
        if store.trusted(&e.cert, true).is_some() {
            store.add(e.cert);
        } else {
            left.push(e);
        }
    }
    if catalog && beyond.iter().rev().any(|e| block(&e.cert)) {
        return Some(());
    }
    if blocked.is_some() {
        return Some(());
    }
    let mut i = 0;
    while i < left.len() {
        if store.trusted(&left[i].cert, false).is_some() {
            left.remove(i);
            continue;
        }
        if let Some(p) = store.parent(&left[i], budget) {
            let (code, time) = (p.code, p.time);
            let mut e = left.remove(i);
            e.cert.code &= code;
            e.cert.time &= time;
            store.add(e.cert);
            i = 0;
            continue;
        }
        i += 1;
    }
    Some(())
}

fn issuer_and_serial(s: &mut Reader<'_>) -> Option<([u8; 20], [u8; 20])> {
    let ias = s.expect(der::SEQUENCE)?;
    let mut i = inside(ias);
    let issuer = i.expect(der::SEQUENCE)?;
    let serial = i.expect(der::INTEGER)?;
    i.is_empty()
        .then(|| (der::sha1(issuer.content), der::sha1(serial.content)))
}

/// The authenticated attributes of the signer: its content type (which
/// must be `content_type`) and the message digest, returned.
fn signed_attributes(
    attrs: Tlv<'_>,
    content_type: &[u8],
    hash: Hash,
) -> Option<Vec<u8>> {
    let (mut ct, mut md) = (false, None);
    let mut r = inside(attrs);
    while !r.is_empty() {
        let attr = r.expect(der::SEQUENCE)?;
        let mut a = inside(attr);
        let id = a.expect(der::OID)?;
        let is_ct = match id.content {
            oid::CONTENT_TYPE => true,
            oid::MESSAGE_DIGEST => false,
            _ => continue,
        };
        let set = a.expect(der::SET)?;
        if !a.is_empty() || (is_ct && ct) || (!is_ct && md.is_some()) {
            return None;
        }
        let mut v = inside(set);
        if is_ct {
            v.exact(der::OID, content_type)?;
            ct = true;
        } else {
            let d = v.expect(der::OCTET_STRING)?;
            if d.content.len() != hash.len() {
                return None;
            }
            md = Some(d.content.to_vec());
        }
        if !v.is_empty() {
            return None;
        }
    }
    md.filter(|_| ct)
}

/// A PKCS#9 countersignature over `message` (the signer's encrypted
/// digest) by a trusted time-stamping certificate, at a time within the
/// signer's validity.
fn countersignature(
    r: &mut Reader<'_>,
    store: &Store,
    message: &[u8],
    (not_before, not_after): (i64, i64),
    budget: &Budget,
) -> Option<()> {
    let info = r.expect(der::SEQUENCE)?;
    let mut s = inside(info);
    let version = s.expect(der::INTEGER)?;
    if version.content != b"\x01" && version.content != b"\x00" {
        return None;
    }
    let id = issuer_and_serial(&mut s)?;
    let hash = der::hash_algorithm(&mut s)?;
    let md = hash.digest(&[message])?;
    let attrs = s.expect(der::CONTEXT_0)?;
    let mut seen = 0u8;
    let mut a = inside(attrs);
    while !a.is_empty() {
        let attr = a.expect(der::SEQUENCE)?;
        let mut at = inside(attr);
        let id = at.expect(der::OID)?;
        let which = match id.content {
            oid::CONTENT_TYPE => 1,
            oid::MESSAGE_DIGEST => 2,
            oid::SIGNING_TIME => 4,
            _ => continue,
        };
        if seen & which != 0 {
            return None;
        }
        seen |= which;
        let set = at.expect(der::SET)?;
        if !at.is_empty() {
            return None;
        }
        let mut v = inside(set);
        match which {
            1 => {
                let t = v.expect(der::OID)?;
                if t.content != oid::PKCS7_DATA
                    && t.content != oid::TIMESTAMP_TOKEN
                {
                    return None;
                }
            }
            2 => v.exact(der::OCTET_STRING, &md)?,
            _ => {
                let t = der::time(v.any()?)?;
                if !v.is_empty() || t < not_before || t > not_after {
                    return None;
                }
            }
        }
        if !v.is_empty() {
            return None;
        }
    }
    if seen != 7 {
        return None;
    }
    let alg = der::rsa_algorithm(&mut s)?;
    if alg != Hash::Rsa && alg != hash {
        return None;
    }
    let encrypted = s.expect(der::OCTET_STRING)?;
    if encrypted.content.len() > 513 || !s.is_empty() {
        return None;
    }
    let signed = hash.digest(&[b"\x31", &attrs.whole[1..]])?;
    store
        .signer(&id, encrypted.content, hash, &signed, true, budget)
        .map(|_| ())
}

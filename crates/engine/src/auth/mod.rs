//! Authenticode: signed Windows executables trusted or blocked by the
//! `.crb` certificate rules of a database, and executables listed in its
//! `.cat` catalogs trusted, as clamscan decides (the behaviour, checked
//! against clamscan 1.4.6, is written up in `docs/AUTHENTICODE.md`).
//!
//! A trusted executable is clean and nothing else in it is matched; a
//! blocked one is reported under the rule's name. Everything else about a
//! signature (unsigned, malformed, untrusted, expired, altered since
//! signing) leaves the file to the signatures.

use num_bigint::BigUint;

pub(crate) mod der;
mod pkcs7;
pub(crate) mod store;
mod x509;

pub(crate) use store::Store;

use der::{Hash, Reader, inside, oid};

/// A store entry: a `.crb` rule, or a certificate that became trusted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Cert {
    /// SHA-1 of the subject name's value.
    pub(crate) subject: [u8; 20],
    /// SHA-1 of the serial number's value.
    pub(crate) serial: [u8; 20],
    /// SHA-1 of the issuer name's value (20 × `0xCA` for a rule).
    pub(crate) issuer: [u8; 20],
    pub(crate) n: BigUint,
    pub(crate) e: BigUint,
    pub(crate) not_before: i64,
    pub(crate) not_after: i64,
    pub(crate) code: bool,
    pub(crate) time: bool,
    pub(crate) cert_sign: bool,
    /// The certificate's signature hash; `None` for a `.crb` rule.
    pub(crate) hash: Option<Hash>,
    pub(crate) blocked: bool,
    pub(crate) ignore_serial: bool,
    pub(crate) name: Option<String>,
}

/// What the check decided about a PE.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    Trusted,
    /// Blocked by the rule of this name (`None`: a rule without one).
    Blocked(Option<String>),
    Unknown,
}

/// What a catalog adds: Authenticode hashes of executables (`pe`) or
/// file hashes of cabinets, SHA-1 or SHA-256.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CatalogHash {
    pub(crate) pe: bool,
    pub(crate) digest: Vec<u8>,
}

/// The database side of the check.
pub(crate) trait Trust {
    /// The store: rules and trusted certificates, newest first.
    fn store(&self) -> &Store;
    /// What a check starts from: [`Store::roots`] of the store.
    fn roots(&self) -> &Store;
    /// Whether a catalog listed an executable hash of this kind (SHA-256
    /// or SHA-1).
    fn has_catalog_pe(&self, sha256: bool) -> bool;
    /// Whether a catalog listed this executable hash.
    fn catalog_pe(&self, digest: &[u8]) -> bool;
}

/// Checks a PE (`data` is the whole file) whose headers have been read.
/// `allowed` says whether the file is on the allow-list, which clears a
/// block.
pub(crate) fn check_pe(
    data: &[u8],
    db: &dyn Trust,
    now: i64,
    allowed: &dyn Fn() -> bool,
) -> Outcome {
    let Some(h) = Headers::read(data) else { return Outcome::Unknown };
    let catalogs = db.has_catalog_pe(false) || db.has_catalog_pe(true);
    if h.sec_size < 8 && !catalogs {
        return Outcome::Unknown;
    }
    // The Authenticode ranges: all but the checksum, the certificate
    // table's directory entry and the table itself. The positions are
    // the fixed ones of the optional header, whatever it says its size
    // is.
    let opt = h.e_lfanew as usize + 24;
    let dirs = opt + if h.pe32plus { 112 } else { 96 };
    let at = dirs + 40;
    if at as u64 > u64::from(h.header_size) {
        return Outcome::Unknown;
    }
    let mut ranges = vec![(0, opt + 64), (opt + 68, dirs + 32)];
    if h.sec_offset != 0 {
        let end = u64::from(h.sec_offset.wrapping_add(h.sec_size));
        let offset = h.sec_offset as usize;
        if data.len() as u64 != end || at > offset {
            return Outcome::Unknown;
        }
        ranges.push((at, offset));
        let Some(head) = data.get(offset..offset + 8) else {
            return Outcome::Unknown;
        };
        // WIN_CERTIFICATE revision 2, PKCS#7 signed data. A length other
        // than the directory's (MS13-098) is let through, as Windows and
        // ClamAV let it through.
        if head[4..6] != [0, 2] || head[6..8] != [2, 0] {
            return Outcome::Unknown;
        }
        let pkcs7 = &data[offset + 8..];
        let mut store = db.roots().clone();
        match pkcs7::check(pkcs7, &mut store, db.store(), false, now, allowed)
        {
            pkcs7::Signed::Blocked(name) => return Outcome::Blocked(name),
            pkcs7::Signed::Trusted(content) => {
                if indirect_data_matches(content, data, &ranges) == Some(true)
                {
                    return Outcome::Trusted;
                }
            }
            pkcs7::Signed::No => {}
        }
    } else if at < data.len() {
        ranges.push((at, data.len()));
    }
    for (sha256, hash) in [(false, Hash::Sha1), (true, Hash::Sha256)] {
        if !db.has_catalog_pe(sha256) {
            continue;
        }
        let Some(d) = authenticode_hash(data, &ranges, hash) else {
            return Outcome::Unknown;
        };
        if db.catalog_pe(&d) {
            return Outcome::Trusted;
        }
    }
    Outcome::Unknown
}

/// The certificates of a PE's embedded signature (wherever its
/// certificate table lies), in the order written.
pub(crate) fn certificates(data: &[u8]) -> Vec<Cert> {
    let Some(h) = Headers::read(data) else { return Vec::new() };
    let start = h.sec_offset as usize;
    let end = start.saturating_add(h.sec_size as usize).min(data.len());
    match data.get(start.saturating_add(8)..end) {
        Some(p7) if start != 0 => pkcs7::embedded_certificates(p7)
            .into_iter()
            .map(|e| e.cert)
            .collect(),
        _ => Vec::new(),
    }
}

fn authenticode_hash(
    data: &[u8],
    ranges: &[(usize, usize)],
    hash: Hash,
) -> Option<Vec<u8>> {
    let parts = ranges
        .iter()
        .filter(|(a, b)| b > a)
        .map(|&(a, b)| data.get(a..b))
        .collect::<Option<Vec<_>>>()?;
    hash.digest(&parts)
}

/// `SpcIndirectDataContent` naming the PE image data, with a digest that
/// is the file's Authenticode hash; `None` when malformed.
fn indirect_data_matches(
    content: &[u8],
    data: &[u8],
    ranges: &[(usize, usize)],
) -> Option<bool> {
    let mut r = Reader::new(content);
    let kind = r.expect(der::SEQUENCE)?;
    let mut k = inside(kind);
    k.exact(der::OID, oid::SPC_PE_IMAGE_DATA)?;
    let digest_info = r.expect(der::SEQUENCE)?;
    if !r.is_empty() {
        return None;
    }
    let mut d = inside(digest_info);
    let hash = der::hash_algorithm(&mut d)?;
    let computed = authenticode_hash(data, ranges, hash)?;
    let stored = d.expect(der::OCTET_STRING)?;
    if stored.content != computed.as_slice() {
        return Some(false);
    }
    d.is_empty().then_some(true)
}

/// The PE header fields the check reads.
struct Headers {
    e_lfanew: u32,
    pe32plus: bool,
    /// SizeOfHeaders rounded up to SectionAlignment.
    header_size: u32,
    sec_offset: u32,
    sec_size: u32,
}

impl Headers {
    fn read(data: &[u8]) -> Option<Headers> {
        let rd16 = |at: usize| {
            data.get(at..at + 2).map(|b| u16::from_le_bytes([b[0], b[1]]))
        };
        let rd32 = |at: usize| {
            data.get(at..at + 4)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        };
        let e_lfanew = rd32(0x3c)?;
        let opt = e_lfanew as usize + 24;
        let pe32plus = rd16(opt)? == 0x20b;
        let salign = rd32(opt + 32)?;
        let size = rd32(opt + 60)?;
        let header_size = if salign == 0 {
            size
        } else {
            size.div_ceil(salign).wrapping_mul(salign)
        };
        let (count_at, dirs) = if pe32plus {
            (opt + 108, opt + 112)
        } else {
            (opt + 92, opt + 96)
        };
        // Fewer than five directories: no certificate table.
        let (sec_offset, sec_size) = if rd32(count_at)? >= 5 {
            (rd32(dirs + 32)?, rd32(dirs + 36)?)
        } else {
            (0, 0)
        };
        Some(Headers { e_lfanew, pe32plus, header_size, sec_offset, sec_size })
    }
}

/// Reads a `.cat` catalog: when its signature is trusted by the store,
/// the hashes it lists (stopping at the first malformed member, those
/// before it kept); `None` when it is not trusted. Certificates trusted
/// on the way join the store.
pub(crate) fn load_catalog(
    bytes: &[u8],
    store: &mut Store,
    now: i64,
) -> Option<Vec<CatalogHash>> {
    let rules = store.clone();
    let mut out = Vec::new();
    let content =
        match pkcs7::check(bytes, store, &rules, true, now, &|| false) {
            pkcs7::Signed::Trusted(c) => c,
            _ => return None,
        };
    catalog_members(content, &mut out);
    Some(out)
}

/// The certificate trust list's members, into `out`.
fn catalog_members(content: &[u8], out: &mut Vec<CatalogHash>) -> Option<()> {
    let mut r = Reader::new(content);
    let usage = r.expect(der::SEQUENCE)?;
    let mut u = inside(usage);
    u.exact(der::OID, oid::CATALOG_LIST)?;
    if !u.is_empty() {
        return None;
    }
    r.expect(der::OCTET_STRING)?;
    r.expect(der::UTC_TIME)?;
    der::list_member(&mut r)?;
    let members = r.expect(der::SEQUENCE)?;
    let mut m = inside(members);
    while !m.is_empty() {
        let member = m.expect(der::SEQUENCE)?;
        let mut e = inside(member);
        e.expect(der::OCTET_STRING)?;
        let attrs = e.expect(der::SET)?;
        if !e.is_empty() {
            return None;
        }
        let mut a = inside(attrs);
        while !a.is_empty() {
            let attr = a.expect(der::SEQUENCE)?;
            let mut v = inside(attr);
            if v.expect(der::OID)?.content != oid::SPC_INDIRECT_DATA {
                continue;
            }
            let set = v.expect(der::SET)?;
            if !v.is_empty() {
                return None;
            }
            let mut s = inside(set);
            let spc = s.expect(der::SEQUENCE)?;
            if !s.is_empty() {
                return None;
            }
            let mut spc = inside(spc);
            let kind = spc.expect(der::SEQUENCE)?;
            let id = inside(kind).expect(der::OID)?;
            let pe = match id.content {
                oid::SPC_PE_IMAGE_DATA => true,
                oid::SPC_CAB_DATA => false,
                _ => return None,
            };
            let info = spc.expect(der::SEQUENCE)?;
            if !spc.is_empty() {
                return None;
            }
            let mut d = inside(info);
            let hash = der::hash_algorithm(&mut d)?;
            if hash != Hash::Sha1 && hash != Hash::Sha256 {
                return None;
            }
            let digest = d.expect(der::OCTET_STRING)?;
            if !d.is_empty() || digest.content.len() != hash.len() {
                return None;
            }
            out.push(CatalogHash { pe, digest: digest.content.to_vec() });
        }
    }
    Some(())
}

/// The store as the module keeps it: one record per entry, newest first.
pub(crate) fn write_store(store: &Store) -> Vec<u8> {
    let mut out = Vec::new();
    for c in &store.certs {
        let flags = u8::from(c.code)
            | u8::from(c.time) << 1
            | u8::from(c.cert_sign) << 2
            | u8::from(c.blocked) << 3
            | u8::from(c.ignore_serial) << 4
            | u8::from(c.name.is_some()) << 5;
        out.extend([flags, c.hash.map_or(0, Hash::code)]);
        out.extend(c.subject);
        out.extend(c.serial);
        out.extend(c.issuer);
        out.extend(c.not_before.to_le_bytes());
        out.extend(c.not_after.to_le_bytes());
        let name = c.name.as_deref().unwrap_or_default().as_bytes();
        for v in [&c.n.to_bytes_be()[..], &c.e.to_bytes_be()[..], name] {
            out.extend((v.len() as u32).to_le_bytes());
            out.extend_from_slice(v);
        }
    }
    out
}

fn take<'a>(b: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    let v = b.get(..n)?;
    *b = &b[n..];
    Some(v)
}

fn read_cert(b: &mut &[u8]) -> Option<Cert> {
    let head = take(b, 2 + 60 + 16)?;
    let (flags, hash) = (head[0], head[1]);
    let arr = |at: usize| -> [u8; 20] {
        head[at..at + 20].try_into().unwrap_or([0; 20])
    };
    let int = |at: usize| {
        i64::from_le_bytes(head[at..at + 8].try_into().unwrap_or([0; 8]))
    };
    let mut var = || -> Option<&[u8]> {
        let n = take(b, 4)?;
        let n = u32::from_le_bytes(n.try_into().ok()?) as usize;
        take(b, n)
    };
    let (n, e, name) = (var()?, var()?, var()?);
    Some(Cert {
        subject: arr(2),
        serial: arr(22),
        issuer: arr(42),
        not_before: int(62),
        not_after: int(70),
        n: BigUint::from_bytes_be(n),
        e: BigUint::from_bytes_be(e),
        code: flags & 1 != 0,
        time: flags & 2 != 0,
        cert_sign: flags & 4 != 0,
        blocked: flags & 8 != 0,
        ignore_serial: flags & 16 != 0,
        name: (flags & 32 != 0)
            .then(|| String::from_utf8_lossy(name).into_owned()),
        hash: Hash::from_code(hash),
    })
}

/// Reads [`write_store`]'s records; a damaged one ends the list.
pub(crate) fn read_store(mut b: &[u8]) -> Store {
    let mut certs = Vec::new();
    while let Some(c) = read_cert(&mut b) {
        certs.push(c);
    }
    Store { certs }
}

#[cfg(test)]
mod tests;

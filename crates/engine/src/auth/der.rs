//! The DER subset Authenticode signatures are read with, as leniently as
//! ClamAV reads them (so that a signature trusts or blocks exactly where
//! clamscan's does): one-byte tags, short lengths or long ones of one to
//! four octets (not necessarily minimal), no indefinite length; the
//! algorithm identifiers it knows, with its habit of taking an unknown one
//! for the last of its list; and its reading of times.

use md5::{Digest, Md5};

/// One element: its tag, its value bytes, and the whole encoding.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Tlv<'a> {
    pub(crate) tag: u8,
    pub(crate) content: &'a [u8],
    pub(crate) whole: &'a [u8],
}

pub(crate) const INTEGER: u8 = 0x02;
pub(crate) const BIT_STRING: u8 = 0x03;
pub(crate) const OCTET_STRING: u8 = 0x04;
pub(crate) const NULL: u8 = 0x05;
pub(crate) const OID: u8 = 0x06;
pub(crate) const BOOLEAN: u8 = 0x01;
pub(crate) const SEQUENCE: u8 = 0x30;
pub(crate) const SET: u8 = 0x31;
pub(crate) const UTC_TIME: u8 = 0x17;
pub(crate) const GENERALIZED_TIME: u8 = 0x18;
pub(crate) const CONTEXT_0: u8 = 0xa0;
pub(crate) const CONTEXT_1: u8 = 0xa1;
pub(crate) const CONTEXT_3: u8 = 0xa3;

/// Reads elements one after the other from a byte range.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { rest: bytes }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// The next element, `None` at the end or on a malformed header.
    pub(crate) fn any(&mut self) -> Option<Tlv<'a>> {
        let b = self.rest;
        if b.len() < 2 {
            return None;
        }
        let (len, head) = match b[1] {
            l if l & 0x80 == 0 => (l as usize, 2),
            0x80 => return None,
            l => {
                let n = (l & 0x7f) as usize;
                // ClamAV reads at most six header bytes.
                if n > 4 || n > b.len().min(6) - 2 {
                    return None;
                }
                let len = b[2..2 + n]
                    .iter()
                    .fold(0usize, |a, &x| (a << 8) | x as usize);
                (len, 2 + n)
            }
        };
        let end = head.checked_add(len).filter(|&e| e <= b.len())?;
        self.rest = &b[end..];
        Some(Tlv { tag: b[0], content: &b[head..end], whole: &b[..end] })
    }

    /// The next element, which must have tag `tag`.
    pub(crate) fn expect(&mut self, tag: u8) -> Option<Tlv<'a>> {
        self.any().filter(|t| t.tag == tag)
    }

    /// The next element, which must be exactly `tag` with `content`.
    pub(crate) fn exact(&mut self, tag: u8, content: &[u8]) -> Option<()> {
        self.expect(tag).filter(|t| t.content == content).map(|_| ())
    }
}

/// The element's value as a reader.
pub(crate) fn inside(t: Tlv<'_>) -> Reader<'_> {
    Reader::new(t.content)
}

pub(crate) mod oid {
    pub(crate) const SHA1: &[u8] = b"\x2b\x0e\x03\x02\x1a";
    pub(crate) const SHA1_WITH_RSA_OLD: &[u8] = b"\x2b\x0e\x03\x02\x1d";
    pub(crate) const RSA: &[u8] = b"\x2a\x86\x48\x86\xf7\x0d\x01\x01\x01";
    pub(crate) const MD2_RSA: &[u8] = b"\x2a\x86\x48\x86\xf7\x0d\x01\x01\x02";
    pub(crate) const MD5_RSA: &[u8] = b"\x2a\x86\x48\x86\xf7\x0d\x01\x01\x04";
    pub(crate) const SHA1_RSA: &[u8] = b"\x2a\x86\x48\x86\xf7\x0d\x01\x01\x05";
    pub(crate) const SHA256_RSA: &[u8] =
        b"\x2a\x86\x48\x86\xf7\x0d\x01\x01\x0b";
    pub(crate) const SHA384_RSA: &[u8] =
        b"\x2a\x86\x48\x86\xf7\x0d\x01\x01\x0c";
    pub(crate) const SHA512_RSA: &[u8] =
        b"\x2a\x86\x48\x86\xf7\x0d\x01\x01\x0d";
    pub(crate) const MD5: &[u8] = b"\x2a\x86\x48\x86\xf7\x0d\x02\x05";
    pub(crate) const SHA256: &[u8] = b"\x60\x86\x48\x01\x65\x03\x04\x02\x01";
    pub(crate) const SHA384: &[u8] = b"\x60\x86\x48\x01\x65\x03\x04\x02\x02";
    pub(crate) const SHA512: &[u8] = b"\x60\x86\x48\x01\x65\x03\x04\x02\x03";
    pub(crate) const PKCS7_DATA: &[u8] =
        b"\x2a\x86\x48\x86\xf7\x0d\x01\x07\x01";
    pub(crate) const SIGNED_DATA: &[u8] =
        b"\x2a\x86\x48\x86\xf7\x0d\x01\x07\x02";
    pub(crate) const CONTENT_TYPE: &[u8] =
        b"\x2a\x86\x48\x86\xf7\x0d\x01\x09\x03";
    pub(crate) const MESSAGE_DIGEST: &[u8] =
        b"\x2a\x86\x48\x86\xf7\x0d\x01\x09\x04";
    pub(crate) const SIGNING_TIME: &[u8] =
        b"\x2a\x86\x48\x86\xf7\x0d\x01\x09\x05";
    pub(crate) const COUNTER_SIGNATURE: &[u8] =
        b"\x2a\x86\x48\x86\xf7\x0d\x01\x09\x06";
    pub(crate) const TIMESTAMP_TOKEN: &[u8] =
        b"\x2a\x86\x48\x86\xf7\x0d\x01\x09\x10\x01\x04";
    pub(crate) const SPC_INDIRECT_DATA: &[u8] =
        b"\x2b\x06\x01\x04\x01\x82\x37\x02\x01\x04";
    pub(crate) const SPC_PE_IMAGE_DATA: &[u8] =
        b"\x2b\x06\x01\x04\x01\x82\x37\x02\x01\x0f";
    pub(crate) const SPC_CAB_DATA: &[u8] =
        b"\x2b\x06\x01\x04\x01\x82\x37\x02\x01\x19";
    pub(crate) const NESTED_SIGNATURE: &[u8] =
        b"\x2b\x06\x01\x04\x01\x82\x37\x02\x04\x01";
    pub(crate) const RFC3161_COUNTER_SIGNATURE: &[u8] =
        b"\x2b\x06\x01\x04\x01\x82\x37\x03\x03\x01";
    pub(crate) const CTL: &[u8] = b"\x2b\x06\x01\x04\x01\x82\x37\x0a\x01";
    pub(crate) const CATALOG_LIST: &[u8] =
        b"\x2b\x06\x01\x04\x01\x82\x37\x0c\x01\x01";
    pub(crate) const CATALOG_LIST_MEMBER: &[u8] =
        b"\x2b\x06\x01\x04\x01\x82\x37\x0c\x01\x02";
    pub(crate) const CATALOG_LIST_MEMBER2: &[u8] =
        b"\x2b\x06\x01\x04\x01\x82\x37\x0c\x01\x03";
    pub(crate) const CODE_SIGNING: &[u8] = b"\x2b\x06\x01\x05\x05\x07\x03\x03";
    pub(crate) const TIME_STAMPING: &[u8] =
        b"\x2b\x06\x01\x05\x05\x07\x03\x08";
}

/// A hash as signatures name it; `Rsa` and `Md2` are what a certificate's
/// algorithm may say without a hash this check computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Hash {
    Md5,
    Sha1,
    Sha256,
    Sha384,
    Sha512,
    Rsa,
    Md2,
}

impl Hash {
    pub(crate) fn len(self) -> usize {
        match self {
            Hash::Md5 => 16,
            Hash::Sha1 => 20,
            Hash::Sha256 => 32,
            Hash::Sha384 => 48,
            Hash::Sha512 => 64,
            Hash::Rsa | Hash::Md2 => 0,
        }
    }

    /// The digest of `parts` one after the other; `None` for an
    /// algorithm without a hash here.
    pub(crate) fn digest(self, parts: &[&[u8]]) -> Option<Vec<u8>> {
        fn run<D: Digest>(parts: &[&[u8]]) -> Vec<u8> {
            let mut d = D::new();
            for p in parts {
                d.update(p);
            }
            d.finalize().to_vec()
        }
        Some(match self {
            Hash::Md5 => run::<Md5>(parts),
            Hash::Sha1 => run::<sha1::Sha1>(parts),
            Hash::Sha256 => run::<sha2::Sha256>(parts),
            Hash::Sha384 => run::<sha2::Sha384>(parts),
            Hash::Sha512 => run::<sha2::Sha512>(parts),
            Hash::Rsa | Hash::Md2 => return None,
        })
    }

    pub(crate) fn code(self) -> u8 {
        self as u8 + 1
    }

    pub(crate) fn from_code(c: u8) -> Option<Hash> {
        [
            Hash::Md5,
            Hash::Sha1,
            Hash::Sha256,
            Hash::Sha384,
            Hash::Sha512,
            Hash::Rsa,
            Hash::Md2,
        ]
        .get(usize::from(c).checked_sub(1)?)
        .copied()
    }
}

/// Digest algorithms (digestAlgorithm fields, DigestInfo).
const HASHES: &[(&[u8], Hash)] = &[
    (oid::SHA1, Hash::Sha1),
    (oid::SHA1_RSA, Hash::Sha1),
    (oid::MD5, Hash::Md5),
    (oid::MD5_RSA, Hash::Md5),
    (oid::SHA256, Hash::Sha256),
    (oid::SHA256_RSA, Hash::Sha256),
    (oid::SHA384, Hash::Sha384),
    (oid::SHA384_RSA, Hash::Sha384),
    (oid::SHA512, Hash::Sha512),
    (oid::SHA512_RSA, Hash::Sha512),
];

/// Signature algorithms (certificates, countersignatures).
const RSA_ALGORITHMS: &[(&[u8], Hash)] = &[
    (oid::SHA1_WITH_RSA_OLD, Hash::Sha1),
    (oid::SHA1_RSA, Hash::Sha1),
    (oid::MD5_RSA, Hash::Md5),
    (oid::RSA, Hash::Rsa),
    (oid::MD2_RSA, Hash::Md2),
    (oid::SHA256_RSA, Hash::Sha256),
    (oid::SHA384_RSA, Hash::Sha384),
    (oid::SHA512_RSA, Hash::Sha512),
];

/// `SEQUENCE { OID [, NULL] }` whose OID is one of `list`. ClamAV takes
/// an OID it does not know for the last entry of the list, so a crafted
/// signature naming an unknown algorithm is read as SHA-512; so is it
/// here, or a file it trusts would be scanned.
fn algorithm<T: Copy>(r: &mut Reader<'_>, list: &[(&[u8], T)]) -> Option<T> {
    let seq = r.expect(SEQUENCE)?;
    let mut inner = inside(seq);
    let id = inner.expect(OID)?;
    if id.content.is_empty() {
        return None;
    }
    let found = list
        .iter()
        .find(|(o, _)| *o == id.content)
        .or(list.last())
        .map(|(_, t)| *t)?;
    if !inner.is_empty() {
        inner.exact(NULL, b"")?;
    }
    inner.is_empty().then_some(found)
}

pub(crate) fn hash_algorithm(r: &mut Reader<'_>) -> Option<Hash> {
    algorithm(r, HASHES)
}

pub(crate) fn rsa_algorithm(r: &mut Reader<'_>) -> Option<Hash> {
    algorithm(r, RSA_ALGORITHMS)
}

/// The catalog member algorithm: either of the two, or anything.
pub(crate) fn list_member(r: &mut Reader<'_>) -> Option<()> {
    let list: &[(&[u8], ())] =
        &[(oid::CATALOG_LIST_MEMBER, ()), (oid::CATALOG_LIST_MEMBER2, ())];
    algorithm(r, list)
}

/// `SEQUENCE { OID exactly `id` [, NULL] }`.
pub(crate) fn exact_algorithm(r: &mut Reader<'_>, id: &[u8]) -> Option<()> {
    let seq = r.expect(SEQUENCE)?;
    let mut inner = inside(seq);
    inner.exact(OID, id)?;
    if !inner.is_empty() {
        inner.exact(NULL, b"")?;
    }
    inner.is_empty().then_some(())
}

/// SHA-1 of a DER value, the form names and serials are compared in.
pub(crate) fn sha1(bytes: &[u8]) -> [u8; 20] {
    sha1::Sha1::digest(bytes).into()
}

/// A UTCTime or GeneralizedTime as Unix seconds (UTC). As ClamAV reads
/// it: seconds may be left out before the `Z`; a GeneralizedTime's year
/// is its century written twice (2051 reads as 2020), which puts a
/// certificate valid past 2049 out of use, in clamscan and so here.
pub(crate) fn time(t: Tlv<'_>) -> Option<i64> {
    let s = t.content;
    let num = |i: usize| -> Option<i64> {
        let d = s.get(i..i + 2)?;
        (d[0].is_ascii_digit() && d[1].is_ascii_digit())
            .then(|| i64::from(d[0] - b'0') * 10 + i64::from(d[1] - b'0'))
    };
    let (year, mut at) = match t.tag {
        UTC_TIME => {
            let y = num(0)?;
            (if y >= 50 { 1900 + y } else { 2000 + y }, 2)
        }
        GENERALIZED_TIME => {
            let c = num(0)?;
            (c * 100 + c, 4)
        }
        _ => return None,
    };
    let [month, day, hour, minute] =
        [(1, 12), (1, 31), (0, 23), (0, 59)].map(|(lo, hi)| {
            let v = num(at).filter(|v| (lo..=hi).contains(v));
            at += 2;
            v
        });
    let (month, day, hour, minute) = (month?, day?, hour?, minute?);
    // Seconds may be left out before the `Z`.
    let second = if s.get(at) == Some(&b'Z') {
        0
    } else {
        let v = num(at).filter(|v| (0..=59).contains(v))?;
        if s.get(at + 2) != Some(&b'Z') {
            return None;
        }
        v
    };
    // Days since 1970 by the civil calendar; a day past the month's end
    // runs on into the next, as mktime would have it.
    let (y, m) =
        if month <= 2 { (year - 1, month + 9) } else { (year, month - 3) };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468 + (day - 1);
    Some(days * 86_400 + hour * 3600 + minute * 60 + second)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_as_clamav_reads_them() {
        let t = |tag, s: &str| {
            time(Tlv { tag, content: s.as_bytes(), whole: &[] })
        };
        assert_eq!(t(UTC_TIME, "700101000000Z"), Some(0));
        assert_eq!(t(UTC_TIME, "260101000000Z"), Some(1_767_225_600));
        assert_eq!(t(UTC_TIME, "2601010000Z"), Some(1_767_225_600));
        assert_eq!(t(UTC_TIME, "491231235959Z"), Some(2_524_607_999));
        // The century written twice: 2051 and 2099 read as 2020.
        assert_eq!(
            t(GENERALIZED_TIME, "20510601000000Z"),
            t(UTC_TIME, "200601000000Z")
        );
        assert_eq!(t(UTC_TIME, "261301000000Z"), None);
        assert_eq!(t(UTC_TIME, "260101000000"), None);
        assert_eq!(t(OCTET_STRING, "260101000000Z"), None);
    }

    #[test]
    fn lengths_as_clamav_takes_them() {
        // Non-minimal long form accepted; indefinite and 5-octet refused.
        let mut r = Reader::new(b"\x04\x81\x01x\x04\x80");
        assert_eq!(r.any().map(|t| t.content), Some(&b"x"[..]));
        assert!(r.any().is_none());
        assert!(Reader::new(b"\x04\x85\x00\x00\x00\x00\x01x").any().is_none());
        assert!(Reader::new(b"\x04\x02x").any().is_none());
    }

    #[test]
    fn an_unknown_algorithm_is_the_last_of_the_list() {
        let unknown = b"\x30\x0b\x06\x09\x60\x86\x48\x01\x65\x03\x04\x02\x08";
        assert_eq!(
            hash_algorithm(&mut Reader::new(unknown)),
            Some(Hash::Sha512)
        );
        let sha1 = b"\x30\x09\x06\x05\x2b\x0e\x03\x02\x1a\x05\x00";
        assert_eq!(hash_algorithm(&mut Reader::new(sha1)), Some(Hash::Sha1));
        let junk = b"\x30\x0a\x06\x05\x2b\x0e\x03\x02\x1a\x04\x01x";
        assert_eq!(hash_algorithm(&mut Reader::new(junk)), None);
    }
}

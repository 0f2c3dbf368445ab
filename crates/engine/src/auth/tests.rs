use super::*;
use crate::pe::tests::tiny_pe;

const N: &str = "ae15acf4b04154522d3a9379f8a5d9e40ecd44a58ed2cf3a7b4aff2b18fb2f50e84352e5aacdc2f1601656fd8a2e90b1a6f80641366a39d5d25330a04d2f432c13d30f3e58bb5e4a9cb9297f0d0d63face91d9d2a76ce4ce004a04dbb3d89b6df969533e91d06496703334929ed4ce7a13ada03f7ffd5108faba53f7f9a1945f";
const D: &str = "723189c8e0ad9a1065d6dcd2cfc68b8dcc1fde7df3985993753916f54067d4fbefbfe9eafa060b70a6a540df03fbd3b295627147e9d7f8a4485985b641ab5515c9dc09273ce2346aa1855bc2b6297130f313c57f8d5c75d9f78a774cf03eae17ae82da4b8dfa76f59dfff29b02aed08c61186a5902560373fa54b7eba183b5b1";

fn big(hex: &str) -> BigUint {
    BigUint::parse_bytes(hex.as_bytes(), 16).unwrap()
}

fn key() -> Cert {
    Cert { n: big(N), e: BigUint::from(65_537u32), ..Cert::default() }
}

/// A PKCS#1 v1.5 signature over `digest_info`, `pad` bytes of 0xff.
fn sign(digest_info: &[u8], pad: usize) -> BigUint {
    let mut em = vec![0, 1];
    em.extend(std::iter::repeat_n(0xff, pad));
    em.push(0);
    em.extend_from_slice(digest_info);
    big_from(&em).modpow(&big(D), &big(N))
}

fn big_from(b: &[u8]) -> BigUint {
    BigUint::from_bytes_be(b)
}

fn sha256_info(digest: &[u8]) -> Vec<u8> {
    let mut v = b"\x30\x31\x30\x0d\x06\x09\x60\x86\x48\x01\x65\x03\x04\x02\x01\x05\x00\x04\x20".to_vec();
    v.extend_from_slice(digest);
    v
}

#[test]
fn rsa_signatures_are_checked_as_clamav_checks_them() {
    let digest = [7u8; 32];
    let info = sha256_info(&digest);
    let pad = 128 - 3 - info.len();
    let k = key();
    assert!(store::rsa_verify(&k, &sign(&info, pad), Hash::Sha256, &digest));
    // Another digest, another hash named, fewer than eight 0xff bytes.
    assert!(!store::rsa_verify(&k, &sign(&info, pad), Hash::Sha256, &[8; 32]));
    assert!(!store::rsa_verify(
        &k,
        &sign(&info, pad),
        Hash::Sha1,
        &digest[..20]
    ));
    // With an exponent of 1 the signature would be the padded digest
    // itself, which anyone can write: refused, whatever ClamAV does.
    let one = Cert { e: BigUint::from(1u8), ..key() };
    let mut em = vec![0, 1];
    em.extend(std::iter::repeat_n(0xff, pad));
    em.push(0);
    em.extend_from_slice(&info);
    assert!(!store::rsa_verify(&one, &big_from(&em), Hash::Sha256, &digest));
    // A padding byte other than 0xff.
    let mut em = vec![0, 1];
    em.extend(std::iter::repeat_n(0xff, pad));
    em[40] = 0xfe;
    em.push(0);
    em.extend_from_slice(&info);
    let odd = big_from(&em).modpow(&big(D), &big(N));
    assert!(!store::rsa_verify(&k, &odd, Hash::Sha256, &digest));
    // The NULL parameter is required.
    let mut no_null = b"\x30\x2f\x30\x0b\x06\x09\x60\x86\x48\x01\x65\x03\x04\x02\x01\x04\x20".to_vec();
    no_null.extend_from_slice(&digest);
    let pad = 128 - 3 - no_null.len();
    assert!(!store::rsa_verify(
        &k,
        &sign(&no_null, pad),
        Hash::Sha256,
        &digest
    ));
}

#[test]
fn the_store_survives_the_module() {
    let mut s = Store::default();
    s.add(Cert {
        subject: [1; 20],
        serial: [2; 20],
        issuer: [0xca; 20],
        n: big(N),
        e: BigUint::from(65_537u32),
        not_before: -5,
        not_after: i64::MAX,
        code: true,
        cert_sign: true,
        name: Some("Trust.Me".into()),
        ..Cert::default()
    });
    s.add(Cert {
        blocked: true,
        ignore_serial: true,
        hash: Some(Hash::Sha384),
        n: BigUint::from(3u8),
        ..Cert::default()
    });
    let back = read_store(&write_store(&s));
    assert_eq!(back.certs, s.certs);
    // A damaged tail ends the list rather than misreading it.
    let bytes = write_store(&s);
    assert_eq!(read_store(&bytes[..bytes.len() - 1]).certs.len(), 1);
}

#[test]
fn rules_cover_as_clamav_compares_them() {
    let rule = Cert {
        subject: [1; 20],
        n: big(N),
        not_after: i64::MAX,
        code: true,
        ignore_serial: true,
        ..Cert::default()
    };
    let mut s = Store::default();
    s.add(rule.clone());
    let leaf = Cert {
        subject: [1; 20],
        serial: [9; 20],
        n: big(N),
        not_before: 10,
        not_after: 20,
        code: true,
        hash: Some(Hash::Sha256),
        ..Cert::default()
    };
    assert!(s.trusted(&leaf, true).is_some());
    // A flag the rule lacks, or a rule not yet valid then.
    assert!(s.trusted(&Cert { time: true, ..leaf.clone() }, true).is_none());
    let late = Store { certs: vec![Cert { not_before: 11, ..rule.clone() }] };
    assert!(late.trusted(&leaf, true).is_none());
    // Block rules ignore flags and dates.
    let block = Store { certs: vec![Cert { blocked: true, ..rule }] };
    assert!(block.blocked(&Cert { time: true, ..leaf }).is_some());
}

struct Catalog(Vec<Vec<u8>>);

impl Trust for Catalog {
    fn store(&self) -> &Store {
        static EMPTY: Store = Store { certs: Vec::new() };
        &EMPTY
    }
    fn roots(&self) -> &Store {
        self.store()
    }
    fn has_catalog_pe(&self, sha256: bool) -> bool {
        self.0.iter().any(|d| (d.len() == 32) == sha256)
    }
    fn catalog_pe(&self, digest: &[u8]) -> bool {
        self.0.iter().any(|d| d == digest)
    }
}

/// The Authenticode hash of an unsigned PE32: all but the checksum and
/// the certificate table's directory entry.
fn hash_of(pe: &[u8]) -> Vec<u8> {
    let opt = 0x98;
    Hash::Sha256
        .digest(&[&pe[..opt + 64], &pe[opt + 68..opt + 128], &pe[opt + 136..]])
        .unwrap()
}

#[test]
fn catalogs_trust_an_unsigned_executable_by_its_authenticode_hash() {
    let pe = tiny_pe();
    let db = Catalog(vec![hash_of(&pe)]);
    let check = |pe: &[u8]| check_pe(pe, &db, 0, &|| false);
    assert_eq!(check(&pe), Outcome::Trusted);
    let mut sum = pe.clone();
    sum[0x98 + 64] ^= 1;
    assert_eq!(check(&sum), Outcome::Trusted, "the checksum is not hashed");
    let mut changed = pe.clone();
    changed[0x300] ^= 1;
    assert_eq!(check(&changed), Outcome::Unknown);
    let mut longer = pe.clone();
    longer.extend([0; 8]);
    assert_eq!(check(&longer), Outcome::Unknown);
    // A certificate table that is not at the end of the file: nothing
    // is trusted, not even by the catalog.
    let mut table = pe.clone();
    table[0x98 + 128..0x98 + 132].copy_from_slice(&0x300u32.to_le_bytes());
    table[0x98 + 132..0x98 + 136].copy_from_slice(&0x10u32.to_le_bytes());
    assert_eq!(check(&table), Outcome::Unknown);
    assert_eq!(
        check_pe(&pe, &Catalog(Vec::new()), 0, &|| false),
        Outcome::Unknown
    );
}

/// A crafted signature can make the store hold many keys a certificate
/// could chain to (copies of a trusted one with other exponents): the
/// RSA spent on it is bounded.
#[test]
fn chain_building_spends_a_bounded_amount_of_rsa() {
    let parent = |i: u32| Cert {
        subject: [3; 20],
        n: big(N),
        e: (BigUint::from(1u8) << 1023u32) + BigUint::from(2 * i + 1),
        cert_sign: true,
        code: true,
        time: true,
        hash: Some(Hash::Sha256),
        ..Cert::default()
    };
    let store = Store { certs: (0..1000).map(parent).collect() };
    let child = x509::Embedded {
        cert: Cert {
            issuer: [3; 20],
            hash: Some(Hash::Sha256),
            ..Cert::default()
        },
        signature: big(N) - BigUint::from(5u8),
        tbs_hash: vec![0; 32],
    };
    let budget = store::Budget::default();
    assert!(store.parent(&child, &budget).is_none());
    // 16 verifications with 1024-bit exponents spend all its exponent
    // bits; a cheap one is then still refused.
    assert_eq!(budget.verifications_left(), 64 - 16);
    let cheap =
        Store { certs: vec![Cert { e: BigUint::from(3u8), ..parent(0) }] };
    assert!(cheap.parent(&child, &budget).is_none());
    assert_eq!(budget.verifications_left(), 64 - 16);
}

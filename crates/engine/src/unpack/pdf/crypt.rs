//! PDF's standard security handler, for documents whose user password is
//! empty: anyone may open them, so mail carries them as any other PDF,
//! and their streams and strings are RC4 or AES encrypted all the same,
//! out of every byte signature's sight. The file key is found as a
//! reader finds it (revisions 2 to 4: MD5 over the padding string, /O,
//! /P and the first /ID; 5 and 6: SHA-256, and ISO 32000-2's hash
//! rounds, then /UE), proved against /U, and each object's strings and
//! streams decrypted with it (RC4 or AES-128 with a key per object, or
//! AES-256 with the file key). A document whose user password is not
//! empty stays encrypted: not scanned, as before.

use aes::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use md5::{Digest, Md5};

use super::text::{self, ends_name};

/// The 32 bytes an empty password is padded with (ISO 32000-1, 7.6.3.3).
const PAD: [u8; 32] = [
    0x28, 0xbf, 0x4e, 0x5e, 0x4e, 0x75, 0x8a, 0x41, 0x64, 0x00, 0x4e, 0x56,
    0xff, 0xfa, 0x01, 0x08, 0x2e, 0x2e, 0x00, 0xb6, 0xd0, 0x68, 0x3e, 0x80,
    0x2f, 0x0c, 0xa9, 0xfe, 0x64, 0x53, 0x69, 0x7a,
];

/// How far an encryption dictionary is read.
const MAX_DICT: usize = 64 << 10;

/// How one kind of object (strings or streams) is encrypted.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Method {
    /// Not at all (`/Identity`, or a crypt filter's `/None`).
    Identity,
    /// RC4 with a key per object.
    Rc4,
    /// AES-128-CBC with a key per object, the IV first.
    Aes128,
    /// AES-256-CBC with the file key, the IV first.
    Aes256,
}

/// The file key and how strings and streams are encrypted with it.
#[derive(Debug)]
pub(super) struct Decryptor {
    key: Vec<u8>,
    strings: Method,
    streams: Method,
    /// Whether XMP metadata streams are encrypted too.
    metadata: bool,
}

impl Decryptor {
    /// The document's decryptor when its user password is empty; `None`
    /// when it has another one, another security handler, or an
    /// encryption dictionary that cannot be read.
    pub(super) fn open(data: &[u8]) -> Option<Decryptor> {
        let dict = encryption_dictionary(data)?;
        let d = Dict(&dict);
        if d.name(b"/Filter").is_some_and(|f| f != b"Standard") {
            return None;
        }
        let v = d.int(b"/V").unwrap_or(0);
        let r = d.int(b"/R")?;
        let o = d.string(b"/O")?;
        let u = d.string(b"/U")?;
        let metadata = d.name(b"/EncryptMetadata") != Some(b"false");
        let (strings, streams) = match v {
            1 | 2 => (Method::Rc4, Method::Rc4),
            4 | 5 => (d.crypt_filter(b"/StrF"), d.crypt_filter(b"/StmF")),
            _ => return None,
        };
        let key = match r {
            2..=4 => {
                // /Length sizes the key of V 2 and 3 only; V 4's crypt
                // filters use 128 bits, as ClamAV and readers take it.
                let bits = match (r, v) {
                    (2, _) => 40,
                    (_, 4) => 128,
                    _ => d.int(b"/Length").unwrap_or(40),
                };
                let n = usize::try_from(bits / 8).ok()?.clamp(5, 16);
                let p = d.int(b"/P")?;
                let id = first_id(data).unwrap_or_default();
                let key = legacy_key(r, n, &o, p as i32, &id, metadata);
                legacy_user_ok(r, &key, &u, &id).then_some(key)?
            }
            5 | 6 => modern_key(r, &u, &o, &d)?,
            _ => return None,
        };
        Some(Decryptor { key, strings, streams, metadata })
    }

    /// A string of object `id` (number, generation), decrypted.
    pub(super) fn string(&self, id: (u32, u16), s: &[u8]) -> Vec<u8> {
        self.apply(self.strings, id, s)
    }

    /// A stream's bytes as they are in the file, decrypted, `dict` being
    /// its dictionary (names unescaped). Cross-reference streams are
    /// never encrypted, nor metadata when /EncryptMetadata is false.
    pub(super) fn stream(
        &self,
        id: (u32, u16),
        dict: &[u8],
        s: &[u8],
    ) -> Vec<u8> {
        let d = Dict(dict);
        match d.name(b"/Type") {
            Some(b"XRef") => return s.to_vec(),
            Some(b"Metadata") if !self.metadata => return s.to_vec(),
            _ => {}
        }
        self.apply(self.streams, id, s)
    }

    fn apply(&self, m: Method, (num, gen_): (u32, u16), s: &[u8]) -> Vec<u8> {
        let object_key = || {
            let mut h = Md5::new();
            h.update(&self.key);
            h.update(&num.to_le_bytes()[..3]);
            h.update(gen_.to_le_bytes());
            if m == Method::Aes128 {
                h.update(b"sAlT");
            }
            let k = h.finalize();
            k[..(self.key.len() + 5).min(16)].to_vec()
        };
        match m {
            Method::Identity => s.to_vec(),
            Method::Rc4 => rc4(&object_key(), s),
            Method::Aes128 => aes_cbc_unpad(&object_key(), s),
            Method::Aes256 => aes_cbc_unpad(&self.key, s),
        }
    }
}

/// The encryption dictionary's bytes: `/Encrypt N G R` in the last
/// trailer that names one, resolved to its object, or written inline.
fn encryption_dictionary(data: &[u8]) -> Option<Vec<u8>> {
    let at = memchr::memmem::rfind_iter(data, b"/Encrypt").find(|&i| {
        data.get(i + 8).is_none_or(|c| !c.is_ascii_alphanumeric())
    })?;
    let rest = data[at + 8..].trim_ascii_start();
    if rest.starts_with(b"<<") {
        return Some(text::unescape_names(balanced_dict(rest)?).into_owned());
    }
    let (num, rest) = number(rest)?;
    let (gen_, rest) = number(rest)?;
    if !rest.trim_ascii_start().starts_with(b"R") {
        return None;
    }
    let header = format!("{num} {gen_} obj");
    // The last definition wins, as in an incrementally updated file; only
    // it is read, so that copies of a header cost one search.
    let p = memchr::memmem::rfind_iter(data, header.as_bytes())
        .find(|&p| p == 0 || !data[p - 1].is_ascii_digit())?;
    let body = balanced_dict(data[p + header.len()..].trim_ascii_start())?;
    Some(text::unescape_names(body).into_owned())
}

/// The `<< … >>` at the start of `d`, nested ones and strings skipped;
/// an encryption dictionary is a few hundred bytes, so the search ends
/// after [`MAX_DICT`].
fn balanced_dict(d: &[u8]) -> Option<&[u8]> {
    if !d.starts_with(b"<<") {
        return None;
    }
    let d = &d[..d.len().min(MAX_DICT)];
    let (mut depth, mut i) = (0usize, 0);
    while i < d.len() {
        match d[i] {
            b'<' if d.get(i + 1) == Some(&b'<') => {
                depth += 1;
                i += 2;
            }
            b'>' if d.get(i + 1) == Some(&b'>') => {
                depth -= 1;
                i += 2;
                if depth == 0 {
                    return Some(&d[..i]);
                }
            }
            b'(' => i += 1 + text::literal(&d[i + 1..]).1,
            b'<' => i += 1 + text::hex_string(&d[i + 1..]).1,
            _ => i += 1,
        }
    }
    None
}

/// A non-negative integer at the start of `d` (after white space).
fn number(d: &[u8]) -> Option<(u64, &[u8])> {
    let d = d.trim_ascii_start();
    let n = d.iter().take_while(|b| b.is_ascii_digit()).count();
    let v = std::str::from_utf8(&d[..n]).ok()?.parse().ok()?;
    Some((v, &d[n..]))
}

/// The first string of the last `/ID [ … ]` array.
fn first_id(data: &[u8]) -> Option<Vec<u8>> {
    let at = memchr::memmem::rfind_iter(data, b"/ID")
        .find(|&i| data[i + 3..].trim_ascii_start().starts_with(b"["))?;
    let rest = data[at + 3..].trim_ascii_start();
    string_at(rest[1..].trim_ascii_start())
}

/// The string (literal or hex) at the start of `d`.
fn string_at(d: &[u8]) -> Option<Vec<u8>> {
    match d {
        [b'(', rest @ ..] => Some(text::literal(rest).0),
        [b'<', b'<', ..] => None,
        [b'<', rest @ ..] => Some(text::hex_string(rest).0),
        _ => None,
    }
}

/// A dictionary's bytes, looked up by key: a key of this dictionary
/// itself, as a whole name, never one of a dictionary nested in it
/// (qpdf writes /CF, whose crypt filter has a /Length of its own, before
/// the document's /Length).
struct Dict<'a>(&'a [u8]);

impl<'a> Dict<'a> {
    /// The value of `key` in this dictionary itself, not in one nested
    /// in it (a crypt filter's /Length is not the document's).
    fn value(&self, key: &[u8]) -> Option<&'a [u8]> {
        let d = self.0;
        let (mut depth, mut i) = (0usize, 0);
        if d.starts_with(b"<<") {
            i = 2;
        }
        while i < d.len() {
            match d[i] {
                b'<' if d.get(i + 1) == Some(&b'<') => {
                    depth += 1;
                    i += 2;
                }
                b'>' if d.get(i + 1) == Some(&b'>') => {
                    if depth == 0 {
                        return None;
                    }
                    depth -= 1;
                    i += 2;
                }
                b'(' => i += 1 + text::literal(&d[i + 1..]).1,
                b'<' => i += 1 + text::hex_string(&d[i + 1..]).1,
                b'/' if depth == 0
                    && d[i..].starts_with(key)
                    && d.get(i + key.len()).is_none_or(|&b| ends_name(b)) =>
                {
                    return Some(d[i + key.len()..].trim_ascii_start());
                }
                _ => i += 1,
            }
        }
        None
    }

    fn int(&self, key: &[u8]) -> Option<i64> {
        let v = self.value(key)?;
        let n = v
            .iter()
            .enumerate()
            .take_while(|&(i, b)| b.is_ascii_digit() || (i == 0 && *b == b'-'))
            .count();
        std::str::from_utf8(&v[..n]).ok()?.parse().ok()
    }

    fn name(&self, key: &[u8]) -> Option<&'a [u8]> {
        let v = self.value(key)?;
        let v = match v.strip_prefix(b"/") {
            Some(n) => n,
            // true/false are keywords, not names.
            None if v.starts_with(b"true") || v.starts_with(b"false") => v,
            None => return None,
        };
        Some(&v[..v.iter().position(|&b| ends_name(b)).unwrap_or(v.len())])
    }

    fn string(&self, key: &[u8]) -> Option<Vec<u8>> {
        string_at(self.value(key)?)
    }

    /// The method of the crypt filter named by `/StrF` or `/StmF`: its
    /// `/CFM` in `/CF`, `/Identity` when unnamed (ISO 32000-1, 7.6.5).
    fn crypt_filter(&self, which: &[u8]) -> Method {
        let Some(name) = self.name(which) else {
            return Method::Identity;
        };
        if name == b"Identity" {
            return Method::Identity;
        }
        let Some(cf) = self.value(b"/CF").and_then(balanced_dict) else {
            return Method::Identity;
        };
        let key = [b"/".as_slice(), name].concat();
        let filter = Dict(cf).value(&key).and_then(balanced_dict);
        match filter.and_then(|f| Dict(f).name(b"/CFM")) {
            Some(b"V2") => Method::Rc4,
            Some(b"AESV2") => Method::Aes128,
            Some(b"AESV3") => Method::Aes256,
            _ => Method::Identity,
        }
    }
}

/// The file key of revisions 2 to 4 for the empty password
/// (ISO 32000-1, 7.6.3.3, algorithm 2).
fn legacy_key(
    r: i64,
    n: usize,
    o: &[u8],
    p: i32,
    id: &[u8],
    metadata: bool,
) -> Vec<u8> {
    let mut h = Md5::new();
    h.update(PAD);
    h.update(&o[..o.len().min(32)]);
    h.update(p.to_le_bytes());
    h.update(id);
    if r >= 4 && !metadata {
        h.update([0xff; 4]);
    }
    let mut k = h.finalize();
    if r >= 3 {
        for _ in 0..50 {
            k = Md5::digest(&k[..n]);
        }
    }
    k[..n].to_vec()
}

/// Whether `key` is the empty password's: /U recomputed (algorithms 4
/// and 5).
fn legacy_user_ok(r: i64, key: &[u8], u: &[u8], id: &[u8]) -> bool {
    if r == 2 {
        return u.len() >= 32 && rc4(key, &PAD) == u[..32];
    }
    let mut h = Md5::new();
    h.update(PAD);
    h.update(id);
    let mut x = rc4(key, &h.finalize());
    for i in 1..=19u8 {
        let k: Vec<u8> = key.iter().map(|b| b ^ i).collect();
        x = rc4(&k, &x);
    }
    u.len() >= 16 && x[..16] == u[..16]
}

/// The file key of revisions 5 and 6 for the empty password: /U's hash
/// proves the password, and the key is /UE decrypted with a hash of the
/// key salt (ISO 32000-2, 7.6.4.3.3).
fn modern_key(r: i64, u: &[u8], o: &[u8], d: &Dict<'_>) -> Option<Vec<u8>> {
    let (u, o) = (u.get(..48)?, o.get(..48)?);
    // The user password, or else the owner's: a document whose owner
    // password is empty opens without a prompt too.
    let (salt, udata, encrypted) =
        if hash_r56(r, &u[32..40], &[])[..] == u[..32] {
            (&u[40..48], &[][..], d.string(b"/UE")?)
        } else if hash_r56(r, &o[32..40], u)[..] == o[..32] {
            (&o[40..48], u, d.string(b"/OE")?)
        } else {
            return None;
        };
    let k = hash_r56(r, salt, udata);
    let mut key = encrypted.get(..32)?.to_vec();
    let (blocks, _) = aes::Block::slice_as_chunks_mut(&mut key);
    cbc::Decryptor::<aes::Aes256>::new(&k.into(), &[0; 16].into())
        .decrypt_blocks(blocks);
    Some(key)
}

/// The hash of the empty password with `salt` (and, for the owner's,
/// the 48 bytes of /U as `udata`): SHA-256 in revision 5, ISO 32000-2's
/// algorithm 2.B in revision 6 (at least 64 rounds of AES-128 and SHA-2,
/// until the last byte of a round's output allows stopping).
fn hash_r56(r: i64, salt: &[u8], udata: &[u8]) -> [u8; 32] {
    let mut k: Vec<u8> = sha2::Sha256::new()
        .chain_update(salt)
        .chain_update(udata)
        .finalize()
        .to_vec();
    if r == 6 {
        let mut round = 0u32;
        loop {
            // The password is empty: K1 is K and the user data, 64 times.
            let mut e = [&k[..], udata].concat().repeat(64);
            let (key, iv) = (&k[..16], &k[16..32]);
            let (blocks, _) = aes::Block::slice_as_chunks_mut(&mut e);
            if let Ok(mut c) =
                cbc::Encryptor::<aes::Aes128>::new_from_slices(key, iv)
            {
                c.encrypt_blocks(blocks);
            }
            let sum: u32 = e[..16].iter().map(|&b| u32::from(b)).sum();
            k = match sum % 3 {
                0 => sha2::Sha256::digest(&e).to_vec(),
                1 => sha2::Sha384::digest(&e).to_vec(),
                _ => sha2::Sha512::digest(&e).to_vec(),
            };
            round += 1;
            let last = u32::from(*e.last().unwrap_or(&0));
            if round >= 64 && last + 32 <= round {
                break;
            }
        }
    }
    let mut out = [0; 32];
    out.copy_from_slice(&k[..32]);
    out
}

/// RC4 (a page of arithmetic; the `rc4` crate fixes the key length in
/// the type, where PDF's vary from 5 to 16 bytes per document).
fn rc4(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut s: [u8; 256] = std::array::from_fn(|i| i as u8);
    let mut j = 0u8;
    for i in 0..256 {
        j = j.wrapping_add(s[i]).wrapping_add(key[i % key.len()]);
        s.swap(i, usize::from(j));
    }
    let (mut i, mut j) = (0u8, 0u8);
    data.iter()
        .map(|&b| {
            i = i.wrapping_add(1);
            j = j.wrapping_add(s[usize::from(i)]);
            s.swap(usize::from(i), usize::from(j));
            b ^ s[usize::from(
                s[usize::from(i)].wrapping_add(s[usize::from(j)]),
            )]
        })
        .collect()
}

/// AES-CBC with the IV first and PKCS#7 padding, as PDF writes it. A
/// damaged tail (not a whole block, bad padding) is decrypted as far as
/// whole blocks go and kept: a scanner reads what a lenient reader shows.
fn aes_cbc_unpad(key: &[u8], s: &[u8]) -> Vec<u8> {
    let Some((iv, body)) = s.split_at_checked(16) else {
        return Vec::new();
    };
    let mut out = body[..body.len() / 16 * 16].to_vec();
    let (blocks, _) = aes::Block::slice_as_chunks_mut(&mut out);
    let (aes128, aes256) = (
        cbc::Decryptor::<aes::Aes128>::new_from_slices(key, iv),
        cbc::Decryptor::<aes::Aes256>::new_from_slices(key, iv),
    );
    match (aes128, aes256) {
        (Ok(mut c), _) => c.decrypt_blocks(blocks),
        (_, Ok(mut c)) => c.decrypt_blocks(blocks),
        // A short key with AES (a /Length below 128 bits beside AESV2)
        // decrypts nothing a reader could show.
        _ => return s.to_vec(),
    }
    if let Some(&pad) = out.last() {
        let n = usize::from(pad);
        if (1..=16).contains(&n)
            && n <= out.len()
            && out[out.len() - n..].iter().all(|&b| b == pad)
        {
            out.truncate(out.len() - n);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const JS: &[u8] = b"app.alert(\"nod32-pdf-js-marker\");";

    /// The encryption dictionary, /ID and the encrypted /JS string of
    /// object 2, as qpdf 11 wrote them (`--encrypt "" own BITS`).
    fn document(dict: &str, id: &str, js: &str) -> Vec<u8> {
        format!(
            "%PDF-1.4\n2 0 obj\n<< /JS <{js}> /S /JavaScript >>\nendobj\n\
             6 0 obj\n{dict}\nendobj\ntrailer << /Root 1 0 R /Size 7 \
             /ID [<{id}><{id}>] /Encrypt 6 0 R >>\n%%EOF\n"
        )
        .into_bytes()
    }

    fn hex(s: &str) -> Vec<u8> {
        text::hex_string(s.as_bytes()).0
    }

    fn js_of(doc: &[u8], js: &str) -> Option<Vec<u8>> {
        Decryptor::open(doc).map(|d| d.string((2, 0), &hex(js)))
    }

    #[test]
    fn rc4_40_bits_revision_2() {
        let js = "6a1c8a36b64d59deb8dd81dd7312edfdfd7bb9f55c3aee3c5cb530182b6fc98b9c";
        let doc = document(
            "<< /Filter /Standard /Length 40 /O <59aebc0b228d02a1dd1afd7be52ad249afdc6fd71ef9234a49bfa56eb72c801a> \
             /P -4 /R 2 /U <59c9d9492cc4caadd52c6b50f17f3f8402814f3839eaca13781bb71c92173649> /V 1 >>",
            "dc1958df95f840a4538a6cb5a2a96cb0",
            js,
        );
        assert_eq!(js_of(&doc, js).as_deref(), Some(JS));
    }

    #[test]
    fn aes_128_revision_4_with_a_nested_length() {
        let js = "d12de034c26cc8de5a7b264ae7d3646d03566b1784e1171ad8cf5115b94be774\
                  04c656dbe4214e58823f01e7f9f0b2c6919387f81451435f744dfbe47c6925ac";
        let doc = document(
            "<< /CF << /StdCF << /AuthEvent /DocOpen /CFM /AESV2 /Length 16 >> >> /Filter /Standard \
             /Length 128 /O <65fbeeb76e4691b7dc4babe5b911ce87196f39d0cfda0f00920838327413a714> /P -4 \
             /R 4 /StmF /StdCF /StrF /StdCF /U <5d7fc5cf36d92797c9079192456e78bf0122456a91bae5134273a6db134c87c4> /V 4 >>",
            "986317cf543f252d86c66cb89c6a87e3",
            js,
        );
        assert_eq!(js_of(&doc, js).as_deref(), Some(JS));
        // Another /ID: the key is another, /U refutes it.
        let text = String::from_utf8(doc).unwrap();
        let other = text.replace("9863", "9864");
        assert!(Decryptor::open(other.as_bytes()).is_none());
        // No /Length at the top: V 4's key is 128 bits all the same.
        let no_length =
            text.replace("/Filter /Standard /Length 128", "/Filter /Standard");
        assert_eq!(js_of(no_length.as_bytes(), js).as_deref(), Some(JS));
    }

    #[test]
    fn aes_256_revision_6_and_a_real_password() {
        let js = "6e372fdee352ec5fed800e0f211a93b43a4f73bae3cd64de8b909ca0d3852834\
                  3326f45f1fa0e6087ecdc7b7acdda7173d1116cfa7666ea13af58e0b4e81c704";
        let doc = document(
            "<< /CF << /StdCF << /AuthEvent /DocOpen /CFM /AESV3 /Length 32 >> >> /Filter /Standard \
             /Length 256 /O <c42ad59337d0f6b5d921863c8b3fcc28e0e09be274b763b8dae2e3945ecdb7901c1a3e0e8fdb758ff5c2efa2dbe8dd67> \
             /OE <05f8d2fb73a87d06248c91bc9b6bede79a229f42258a90719932dc20a4a99db4> /P -4 \
             /Perms <0f2e13bd541c2acbcc96ce8d632a8e9e> /R 6 /StmF /StdCF /StrF /StdCF \
             /U <6379ca204c5a2ad54c3a94f2f63c1585a097d2b49e4991836b961f09acfeadb31d8bd6312b7e67053833a579a955b522> \
             /UE <8c00fed42c58c081c87ad41fc5c7adfa82fc91b3095d6ea7b5984ad4fbf53512> /V 5 >>",
            "ce7b2c9a388f5a69f2f9ff4526d09132",
            js,
        );
        assert_eq!(js_of(&doc, js).as_deref(), Some(JS));
        // User password "secret": not ours to open.
        let doc = document(
            "<< /CF << /StdCF << /AuthEvent /DocOpen /CFM /AESV3 /Length 32 >> >> /Filter /Standard \
             /Length 256 /O <4e1ad80b89ed02fc1ec0c03e3ff161b9a8258f74f43f6ce9ca763bf2b9b7b47d61dd582c6367ef55aa1f19af70f41be2> \
             /OE <dfd96e75854d2ddb3a62083e7330e7b1d27a65a7be58ee45be959cbd8cd0d887> /P -4 \
             /Perms <367e3be144f8e6266e8d916ef95be033> /R 6 /StmF /StdCF /StrF /StdCF \
             /U <6c5b20dad933d2fbee9021c307300d89cddca624d4dd62668de8555791e23236e133012cfdc8f3c51281facbcaaa6981> \
             /UE <3417a7b782eb4b023bb2e6bc9856a4a01dc78eecf444fdd253bea8986dd01c62> /V 5 >>",
            "56da7e1083e07cf043f7e8b19f39bb13",
            "00",
        );
        assert!(Decryptor::open(&doc).is_none());
    }

    #[test]
    fn aes_256_with_an_empty_owner_password() {
        // `qpdf --encrypt secret "" 256 --allow-insecure`: the user needs
        // a password, the owner none, so any reader opens it.
        let js = "315eb204cb480c337b1d60485b03fd7e675fee08baa03334dae9a4bcb9396beb\
                  ea3a5c637c7eb3aed4dbf48bc01bd70306965bc2c9314757774b40c78776bbb9";
        let doc = document(
            "<< /CF << /StdCF << /AuthEvent /DocOpen /CFM /AESV3 /Length 32 >> >> /Filter /Standard \
             /Length 256 /O <d98708944bc9773ebf4ad977f9d256b4e8bbc8bb5dcded678c1045aec872a94f7cc90e8415de7b9ab79ac8c5e16b1125> \
             /OE <80db42e87577a4908433410fc26fddb4a3c88ea74d48c11131673e75d7b265f1> /P -4 \
             /Perms <31182893d97ec03d90e61950f6e972b1> /R 6 /StmF /StdCF /StrF /StdCF \
             /U <bff031fe5374451bb3fbaa92bb7624e0a905bcb139b676bef9afac0767952e20d0f66d7daac43b8ef27f1514f96afd5c> \
             /UE <283426fed884b0d79c4331a0221504649d83bf8bb1fad9396f291ecf5c17382a> /V 5 >>",
            "bef522bb0463876bdc785004b88a802f",
            js,
        );
        assert_eq!(js_of(&doc, js).as_deref(), Some(JS));
    }

    #[test]
    fn rc4_and_aes_primitives() {
        // RC4's published test vector.
        assert_eq!(rc4(b"Key", b"Plaintext"), hex("bbf316e8d940af0ad3"));
        // A damaged AES string: no IV, a cut block, bad padding.
        assert!(aes_cbc_unpad(&[0; 16], &[1; 10]).is_empty());
        assert_eq!(aes_cbc_unpad(&[0; 16], &[1; 16 + 20]).len(), 16);
        assert_eq!(
            aes_cbc_unpad(&[0; 5], b"0123456789abcdefXY"),
            b"0123456789abcdefXY"
        );
    }

    #[test]
    fn unreadable_dictionaries_are_refused() {
        for dict in [
            "<< /Filter /Adobe.PubSec /R 2 /V 1 >>",
            "<< /Filter /Standard /R 2 /V 1 /O <00> /U <00> /P -4 >>",
            "<< /Filter /Standard /R 9 /V 1 /O <00> /U <00> /P -4 >>",
            "<< /Filter /Standard /R 6 /V 5 /O <00> /U <00> /UE <00> /P -4 >>",
            "<< /Filter /Standard /V 1 /O <00> /U <00>",
        ] {
            assert!(
                Decryptor::open(&document(dict, "00", "00")).is_none(),
                "{dict}"
            );
        }
        // /Encrypt naming an object that is not there.
        assert!(Decryptor::open(b"trailer << /Encrypt 9 0 R >>").is_none());
        assert!(Decryptor::open(b"trailer << /Encrypt").is_none());
    }
}

//! Office documents encrypted with the password Excel uses when the user
//! gave none, `VelvetSweatshop`: the workbook opens without a prompt, so
//! malware is sent so, and the encryption hides the macros from a byte
//! search. ECMA-376 Standard Encryption (MS-OFFCRYPTO 2.3.4.5): the
//! OOXML package is the `EncryptedPackage` stream, AES in ECB mode with a
//! key derived from the password (SHA-1, 50,000 rounds), proved by the
//! verifier in `EncryptionInfo`. ClamAV decrypts AES-128 only; AES-192
//! and -256 are the same arithmetic, so they are read too. Agile
//! Encryption (version 4.4, an XML descriptor) and RC4 are not.

use aes::cipher::{BlockCipherDecrypt, KeyInit};
use sha1::{Digest, Sha1};

const PASSWORD: &str = "VelvetSweatshop";

/// The key of `EncryptionInfo` when the password is the default one.
pub(super) fn key(info: &[u8]) -> Option<Vec<u8>> {
    let u32_at = |at: usize| -> Option<u32> {
        Some(u32::from_le_bytes(info.get(at..at + 4)?.try_into().ok()?))
    };
    // Version 2, 3 or 4 with minor 2: Standard Encryption.
    let (major, minor) = (info.get(0..2)?, info.get(2..4)?);
    if !matches!(major, [2..=4, 0]) || minor != [2, 0] {
        return None;
    }
    let header_size = usize::try_from(u32_at(8)?).ok()?;
    let header = info.get(12..12usize.checked_add(header_size)?)?;
    let field = |i: usize| -> Option<u32> {
        Some(u32::from_le_bytes(
            header.get(i * 4..i * 4 + 4)?.try_into().ok()?,
        ))
    };
    let (alg, alg_hash, key_bits) = (field(2)?, field(3)?, field(4)?);
    let key_len = match (alg, key_bits) {
        (0x660e, 128) => 16,
        (0x660f, 192) => 24,
        (0x6610, 256) => 32,
        _ => return None,
    };
    // SHA-1, or 0 meaning SHA-1 (MS-OFFCRYPTO 2.3.2).
    if alg_hash != 0x8004 && alg_hash != 0 {
        return None;
    }
    let verifier = &info[12 + header_size..];
    let salt_size = usize::try_from(u32::from_le_bytes(
        verifier.get(..4)?.try_into().ok()?,
    ))
    .ok()?;
    if salt_size != 16 {
        return None;
    }
    let salt = verifier.get(4..20)?;
    let encrypted_verifier = verifier.get(20..36)?;
    let hash_size = u32::from_le_bytes(verifier.get(36..40)?.try_into().ok()?);
    let encrypted_hash = verifier.get(40..72)?;
    if hash_size != 20 {
        return None;
    }
    let key = derive(salt, key_len);
    let plain_verifier = ecb(&key, encrypted_verifier)?;
    let plain_hash = ecb(&key, encrypted_hash)?;
    (Sha1::digest(&plain_verifier)[..] == plain_hash[..20]).then_some(key)
}

/// The package: its size first, then AES-ECB blocks; at most `cap`
/// bytes of it.
pub(super) fn package(key: &[u8], stream: &[u8], cap: u64) -> Option<Vec<u8>> {
    let size = u64::from_le_bytes(stream.get(..8)?.try_into().ok()?);
    let body = &stream[8..];
    let take =
        body.len().min(usize::try_from(cap).unwrap_or(usize::MAX)) / 16 * 16;
    let mut out = ecb(key, &body[..take])?;
    out.truncate(usize::try_from(size).unwrap_or(usize::MAX));
    Some(out)
}

/// MS-OFFCRYPTO 2.3.4.7: the password hash, 50,000 rounds, the block
/// number 0, then the two pads.
fn derive(salt: &[u8], key_len: usize) -> Vec<u8> {
    let password: Vec<u8> =
        PASSWORD.encode_utf16().flat_map(u16::to_le_bytes).collect();
    let mut h =
        Sha1::new().chain_update(salt).chain_update(&password).finalize();
    for i in 0..50_000u32 {
        h = Sha1::new()
            .chain_update(i.to_le_bytes())
            .chain_update(h)
            .finalize();
    }
    let h = Sha1::new()
        .chain_update(h)
        .chain_update(0u32.to_le_bytes())
        .finalize();
    let pad = |byte: u8| {
        let mut b = [byte; 64];
        for (x, y) in b.iter_mut().zip(h.iter()) {
            *x ^= y;
        }
        Sha1::digest(b)
    };
    let mut key = pad(0x36).to_vec();
    key.extend_from_slice(&pad(0x5c));
    key.truncate(key_len);
    key
}

/// AES-ECB over whole blocks (a tail that is not one is dropped).
fn ecb(key: &[u8], data: &[u8]) -> Option<Vec<u8>> {
    let mut out = data[..data.len() / 16 * 16].to_vec();
    let (blocks, _) = aes::Block::slice_as_chunks_mut(&mut out);
    match key.len() {
        16 => aes::Aes128::new_from_slice(key).ok()?.decrypt_blocks(blocks),
        24 => aes::Aes192::new_from_slice(key).ok()?.decrypt_blocks(blocks),
        32 => aes::Aes256::new_from_slice(key).ok()?.decrypt_blocks(blocks),
        _ => return None,
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aes::cipher::BlockCipherEncrypt;

    fn ecb_encrypt(key: &[u8], data: &[u8]) -> Vec<u8> {
        let mut out = data.to_vec();
        let (blocks, _) = aes::Block::slice_as_chunks_mut(&mut out);
        aes::Aes128::new_from_slice(key).unwrap().encrypt_blocks(blocks);
        out
    }

    /// An EncryptionInfo for AES-128 with the default password.
    fn info(salt: [u8; 16], verifier: [u8; 16]) -> Vec<u8> {
        let key = derive(&salt, 16);
        let mut hash = Sha1::digest(verifier).to_vec();
        hash.resize(32, 0);
        let csp: Vec<u8> =
            "Microsoft Enhanced RSA and AES Cryptographic Provider\0"
                .encode_utf16()
                .flat_map(u16::to_le_bytes)
                .collect();
        let mut header = Vec::new();
        for v in [0x24u32, 0, 0x660e, 0x8004, 128, 0x18, 0, 0] {
            header.extend(v.to_le_bytes());
        }
        header.extend(csp);
        let mut out = vec![3, 0, 2, 0];
        out.extend(0x24u32.to_le_bytes());
        out.extend((header.len() as u32).to_le_bytes());
        out.extend(header);
        out.extend(16u32.to_le_bytes());
        out.extend(salt);
        out.extend(ecb_encrypt(&key, &verifier));
        out.extend(20u32.to_le_bytes());
        out.extend(ecb_encrypt(&key, &hash));
        out
    }

    #[test]
    fn the_default_password_opens_the_package() {
        let info = info([7; 16], [9; 16]);
        let key = key(&info).expect("default password");
        let plain = b"PK\x03\x04 the package, 29 bytes";
        let mut padded = plain.to_vec();
        padded.resize(32, 0);
        let mut stream = (plain.len() as u64).to_le_bytes().to_vec();
        stream.extend(ecb_encrypt(&key, &padded));
        assert_eq!(package(&key, &stream, 1 << 20).unwrap(), plain);
        // The cap holds.
        assert_eq!(package(&key, &stream, 16).unwrap().len(), 16);
    }

    #[test]
    fn another_password_or_a_damaged_info_is_refused() {
        let mut bad = info([7; 16], [9; 16]);
        // The encrypted verifier hash, damaged: the proof fails.
        let n = bad.len();
        bad[n - 1] ^= 1;
        bad[n - 20] ^= 1;
        assert!(key(&bad).is_none());
        let good = info([7; 16], [9; 16]);
        for cut in [0, 3, 12, 40, good.len() - 1] {
            assert!(key(&good[..cut]).is_none(), "{cut}");
        }
        // Agile encryption (4.4) is another format.
        let mut agile = good.clone();
        agile[..4].copy_from_slice(&[4, 0, 4, 0]);
        assert!(key(&agile).is_none());
    }
}

//! The hash lookups of an object: hash signatures, PE section hashes,
//! and the allow-list.

use md5::{Digest, Md5};

use super::{Layer, Scanner};
use crate::pe::PeInfo;

impl Scanner<'_> {
    pub(super) fn hash_match(&self, data: &[u8]) -> Option<u32> {
        let size = data.len() as u64;
        (0..3).find_map(|k| {
            if !self.db.hash_wanted(k, size, false) {
                return None;
            }
            self.db.hash_lookup(k, size, &digest(k, data), false)
        })
    }

    /// A `.mdb` section hash matching one of the PE's sections.
    pub(super) fn section_match(
        &self,
        data: &[u8],
        pe: &PeInfo,
    ) -> Option<u32> {
        pe.sections.iter().find_map(|s| {
            let size = s.size;
            let bytes = data.get(s.raw as usize..(s.raw + size) as usize)?;
            (0..3).find_map(|k| {
                if size == 0 || !self.db.section_hash_wanted(k, size) {
                    return None;
                }
                self.db.section_hash_lookup(k, size, &digest(k, bytes))
            })
        })
    }

    /// An allow-list entry for this object or any object containing it
    /// clears a detection, as ClamAV's `.fp` check walks the whole chain.
    pub(super) fn allowed(&self, layer: &Layer<'_>) -> bool {
        let mut l = Some(layer);
        while let Some(x) = l {
            let size = x.data.len() as u64;
            for k in 0..3 {
                // `.cat` catalogs file cabinet hashes under size 1: SHA-1
                // ones are always looked for, SHA-256 ones only beside
                // other SHA-256 entries, as in clamscan.
                let cabinets =
                    k == 1 && self.options.certs && self.db.fp_has_size(1, 1);
                if !self.db.hash_wanted(k, size, true) && !cabinets {
                    continue;
                }
                let d = digest(k, x.data);
                if self.db.hash_lookup(k, size, &d, true).is_some()
                    || (k > 0
                        && self.options.certs
                        && self.db.fp_exact(k, 1, &d))
                {
                    return true;
                }
            }
            l = x.parent;
        }
        false
    }
}

fn digest(kind: usize, data: &[u8]) -> Vec<u8> {
    match kind {
        0 => Md5::digest(data).to_vec(),
        1 => sha1::Sha1::digest(data).to_vec(),
        _ => sha2::Sha256::digest(data).to_vec(),
    }
}

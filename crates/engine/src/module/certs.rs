//! The module's side of the Authenticode check: the certificate store
//! and the executable hashes `.cat` catalogs listed, which live in the
//! allow-list under the sizes clamscan files them under (2 for an
//! executable, 1 for a cabinet).

use super::{Database, lower_bound, rd32, sec};
use crate::auth::{self, Store, Trust};

/// The allow-list size catalogs file executable hashes under.
const CATALOG_PE: u32 = 2;

impl Database {
    /// The store and its roots, read on first use.
    fn stores(&self) -> &(Store, Store) {
        self.certs.get_or_init(|| {
            let store = auth::read_store(self.sec(sec::CERTS));
            let roots = store.roots();
            (store, roots)
        })
    }

    /// Whether the Authenticode check can decide anything: rules, or
    /// catalog hashes.
    pub(crate) fn certs_wanted(&self) -> bool {
        !self.sec(sec::CERTS).is_empty()
            || self.has_catalog_pe(false)
            || self.has_catalog_pe(true)
    }

    /// Whether the allow-list of `kind` has an entry of exactly `size`
    /// (not one for any size).
    pub(crate) fn fp_has_size(&self, kind: usize, size: u32) -> bool {
        let (tab, rec) = (self.sec(sec::FP[kind]), super::hash_rec(kind));
        let n = tab.len() / rec;
        let i = lower_bound(n, |i| rd32(tab, i * rec) < size);
        i < n && rd32(tab, i * rec) == size
    }

    /// An allow-list entry of exactly `size` with this digest.
    pub(crate) fn fp_exact(
        &self,
        kind: usize,
        size: u32,
        digest: &[u8],
    ) -> bool {
        let (tab, rec) = (self.sec(sec::FP[kind]), super::hash_rec(kind));
        let n = tab.len() / rec;
        let key = |i: usize| {
            (
                rd32(tab, i * rec),
                tab.get(i * rec + 8..(i + 1) * rec).unwrap_or_default(),
            )
        };
        let i = lower_bound(n, |i| key(i) < (size, digest));
        i < n && key(i) == (size, digest)
    }
}

impl Trust for Database {
    fn store(&self) -> &Store {
        &self.stores().0
    }

    fn roots(&self) -> &Store {
        &self.stores().1
    }

    fn has_catalog_pe(&self, sha256: bool) -> bool {
        self.fp_has_size(if sha256 { 2 } else { 1 }, CATALOG_PE)
    }

    fn catalog_pe(&self, digest: &[u8]) -> bool {
        let kind = if digest.len() == 32 { 2 } else { 1 };
        self.fp_exact(kind, CATALOG_PE, digest)
    }
}

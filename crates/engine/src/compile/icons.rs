//! Icon signatures written into the module (see `module::icons` for the
//! records): every `.idb` entry, and each logical signature's two icon
//! groups resolved to indices into the `.idb` group lists.

use crate::module::IDB_REC;
use crate::module::icons::{ANY, NONE};
use crate::sigs::{LdbSig, SignatureSet};

pub(super) fn write(set: &SignatureSet) -> Vec<u8> {
    let mut out = Vec::with_capacity(set.icons.len() * IDB_REC);
    for e in &set.icons {
        let m = &e.metrics;
        out.extend([m.bucket() as u8, e.groups[0], e.groups[1], m.side as u8]);
        for group in
            [&m.color, &m.gray, &m.bright, &m.dark, &m.edge, &m.noedge]
        {
            for a in group {
                out.extend((a.avg as u16).to_le_bytes());
                out.extend([a.x as u8, a.y as u8]);
            }
        }
        out.extend([m.rsum, m.gsum, m.bsum, m.ccount].map(|v| v as u8));
    }
    out
}

/// The `LDB_ICON` record of logical signature `lid`, if it has icon
/// groups.
pub(super) fn ldb_record(
    set: &SignatureSet,
    l: &LdbSig,
    lid: u32,
) -> Option<Vec<u8>> {
    let names = l.icon.as_ref()?;
    let mut r = lid.to_le_bytes().to_vec();
    for (k, name) in names.iter().enumerate() {
        let g = if name == "*" {
            ANY
        } else {
            set.icon_groups[k]
                .iter()
                .position(|g| g == name)
                .map_or(NONE, |i| i as u32)
        };
        r.extend(g.to_le_bytes());
    }
    Some(r)
}

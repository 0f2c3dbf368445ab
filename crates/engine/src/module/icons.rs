//! Icon signatures in the module: every `.idb` entry as a fixed record,
//! and each logical signature's two icon groups as indices into the
//! `.idb` group lists, resolved when the module is written.
//!
//! `IDB` record (80 bytes): size class u8, group indices u8 u8, side u8,
//! then the eighteen areas (colour, grey, bright, dark, edge, no edge;
//! three each) as average u16, x u8, y u8, then the red, green and blue
//! spread and the coloured share u8 each. `LDB_ICON` record (12 bytes):
//! the logical signature's index u32 and its two groups u32 ([`ANY`],
//! [`NONE`] or an index), sorted by the index.

use super::{Database, IDB_REC, LDB_ICON_REC, lower_bound, rd32, sec};
use crate::pe::icon::{self, Area, Metrics};

/// `*`: any group.
pub(crate) const ANY: u32 = u32::MAX;
/// A name no `.idb` line gives: no entry is of that group.
pub(crate) const NONE: u32 = u32::MAX - 1;

fn entry(r: &[u8]) -> Metrics {
    let area = |i: usize| {
        let at = 4 + 4 * i;
        Area {
            avg: u32::from(u16::from_le_bytes([r[at], r[at + 1]])),
            x: u32::from(r[at + 2]),
            y: u32::from(r[at + 3]),
        }
    };
    let three = |g: usize| [area(3 * g), area(3 * g + 1), area(3 * g + 2)];
    Metrics {
        side: u32::from(r[3]),
        color: three(0),
        gray: three(1),
        bright: three(2),
        dark: three(3),
        edge: three(4),
        noedge: three(5),
        rsum: u32::from(r[76]),
        gsum: u32::from(r[77]),
        bsum: u32::from(r[78]),
        ccount: u32::from(r[79]),
    }
}

impl Database {
    /// Whether one of `icons` (an executable's, in the order ClamAV
    /// compares them) matches an `.idb` entry of logical signature `lid`'s
    /// groups: the first icon to match an entry of its size class decides.
    pub(crate) fn icon_matches(&self, lid: u32, icons: &[Metrics]) -> bool {
        let t = self.sec(sec::LDB_ICON);
        let n = t.len() / LDB_ICON_REC;
        let i = lower_bound(n, |i| rd32(t, i * LDB_ICON_REC) < lid);
        if i >= n || rd32(t, i * LDB_ICON_REC) != lid {
            return false;
        }
        let r = &t[i * LDB_ICON_REC..(i + 1) * LDB_ICON_REC];
        let want = [rd32(r, 4), rd32(r, 8)];
        let wanted = |g: u8, w: u32| w == ANY || w == u32::from(g);
        let entries = self.sec(sec::IDB);
        icons.iter().any(|m| {
            entries.chunks_exact(IDB_REC).any(|e| {
                usize::from(e[0]) == m.bucket()
                    && wanted(e[1], want[0])
                    && wanted(e[2], want[1])
                    && icon::matches(m, &entry(e))
            })
        })
    }
}

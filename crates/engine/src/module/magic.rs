//! File-type magic from the database (`.ftm` mode 0) in the module: the
//! line loaded last first, as ClamAV tries them, each record pointing at
//! its bytes; read in place for every object typed.

use super::{Database, FTM_REC, rd32, sec};
use crate::filetype::{CLAMAV_TYPES, FileType, Magic};

impl Database {
    /// The type the database's magic gives an object whose first KiB is
    /// `head`, if any line matches.
    pub(crate) fn magic_type(&self, head: &[u8]) -> Option<Magic> {
        let data = self.sec(sec::FTM_DATA);
        self.sec(sec::FTM).chunks_exact(FTM_REC).find_map(|r| {
            let at = rd32(r, 0) as usize;
            let (off, len) = (rd32(r, 4) as usize, rd32(r, 8) as usize);
            let magic = data.get(off..off.checked_add(len)?)?;
            (head.get(at..at.checked_add(len)?)? == magic).then(|| {
                CLAMAV_TYPES
                    .get(rd32(r, 12) as usize)
                    .and_then(|n| FileType::from_clamav_name(n))
                    .map_or(Magic::Unopened, Magic::Typed)
            })
        })
    }
}

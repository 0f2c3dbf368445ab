//! A database's file-type magic (`.ftm` mode 0) written into the module:
//! the line loaded last first, as ClamAV tries them.

use crate::sigs::SignatureSet;

pub(super) fn write(set: &SignatureSet) -> (Vec<u8>, Vec<u8>) {
    let (mut recs, mut data) = (Vec::new(), Vec::new());
    for m in set.magics.iter().rev() {
        let kind = u32::from(m.kind);
        for v in [m.offset, data.len() as u32, m.magic.len() as u32, kind] {
            recs.extend(v.to_le_bytes());
        }
        data.extend(&m.magic);
    }
    (recs, data)
}

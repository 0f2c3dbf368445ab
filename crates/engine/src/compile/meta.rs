//! Container metadata rules (`.cdb`) written into the module, in the
//! order ClamAV tries them: the last one loaded first, so that the same
//! rule names a hit.

use super::{CompileStats, Names};
use crate::module::meta::ANY;
use crate::sigs::SignatureSet;

pub(super) fn write(
    set: &SignatureSet,
    names: &mut Names,
    stats: &mut CompileStats,
) -> (Vec<u8>, Vec<u8>) {
    let (mut recs, mut data) = (Vec::new(), Vec::new());
    for c in set.cdbs.iter().rev() {
        if set.is_ignored(&c.name, &c.line_md5) {
            stats.ignored += 1;
            continue;
        }
        recs.extend(names.sig_id(&c.name, c.official).to_le_bytes());
        recs.extend(c.container.unwrap_or(u16::MAX).to_le_bytes());
        recs.push(c.encrypted.map_or(2, u8::from));
        recs.push(u8::from(c.name_regex.is_some()));
        for r in
            [c.container_size, c.size_in_container, c.size_real, c.position]
        {
            let (lo, hi) = r.unwrap_or((ANY, ANY));
            recs.extend(lo.to_le_bytes());
            recs.extend(hi.to_le_bytes());
        }
        let re = c.name_regex.as_deref().unwrap_or_default();
        recs.extend((data.len() as u32).to_le_bytes());
        recs.extend((re.len() as u32).to_le_bytes());
        data.extend(re.as_bytes());
    }
    (recs, data)
}

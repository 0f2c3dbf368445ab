//! The executable phase: after a PE's raw pass and its embedded files,
//! what ClamAV's `cli_scanpe` opens in it, in its order: the
//! InstallShield setup in the overlay, then the unpackers of executable
//! packers. Each reader takes the whole file, decides itself whether it
//! applies, and hands what it rebuilt or extracted on as children (a
//! rebuilt executable is scanned as a new file, as ClamAV scans it).
//! What a reader could not read says nothing: ClamAV then just scans
//! the packed file. The first unpacker that hands on a rebuilt file
//! ends the phase, as `cli_scanpe` returns after scanning it.

use super::*;

/// The readers, in ClamAV's order.
const READERS: &[Unpacker] = &[
    unpack::ishield_pe,
    unpack::mew,
    unpack::upack,
    unpack::fsg,
    unpack::upx,
    unpack::petite,
    unpack::pespin,
    unpack::yc,
    unpack::wwpack,
    unpack::aspack,
];

impl Scanner<'_> {
    pub(super) fn executable(
        &self,
        ctx: &mut Ctx,
        layer: &Layer<'_>,
        depth: u32,
    ) -> Option<Found> {
        if !self.options.archives {
            return None;
        }
        let mut found = None;
        for (i, unpack) in READERS.iter().enumerate() {
            let before = ctx.objects;
            ctx.ends_executable = false;
            found = self.walk(ctx, layer, FileType::Pe, depth, *unpack, false);
            // The InstallShield setup (first) is no unpacker.
            if found.is_some()
                || ctx.ends_executable
                || (i > 0 && ctx.objects != before)
            {
                break;
            }
        }
        // Not to be seen by the executable phase of a file above.
        ctx.ends_executable = false;
        found
    }
}

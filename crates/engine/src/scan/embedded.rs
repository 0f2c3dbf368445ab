//! Files inside files: after an object's raw pass, what its embedded-type
//! patterns found past the first byte is handed to its reader, as
//! ClamAV's raw scan with type recognition does (`scanraw`). Each one is
//! a layer of its own holding the object's bytes from the match on,
//! walked as the archive or installer it is; an executable is scanned
//! as a whole new file (ClamAV's `cli_scanembpe`), which ends the pass:
//! what follows it is found again inside it.

use super::*;
use crate::filetype::embedded::{self, Embedded};

/// ClamAV's MaxEmbeddedPE: an executable found with more than this after
/// its start is not scanned on its own.
const MAX_EMBEDDED_PE: usize = 40 << 20;

impl Scanner<'_> {
    /// Whether the raw pass of an object of type `kind` looks for
    /// embedded types, and which: ClamAV leaves out the formats whose
    /// raw bytes hold copies of their own members (gzip, zip, tar, old
    /// cpio), and objects that are no file of their own (partitions,
    /// slices of their parent, buffers a parser filled).
    pub(super) fn embedded_mask(kind: FileType, place: Place) -> u16 {
        let skip = place != Place::Whole
            || matches!(
                kind,
                FileType::Gzip
                    | FileType::Zip
                    | FileType::PosixTar
                    | FileType::OldTar
                    | FileType::CpioOld
            );
        match kind {
            _ if skip => 0,
            // Only inside executables and OLE2 files does ClamAV look for
            // executables.
            FileType::Pe | FileType::Ole2 => T_EMBEDDED | T_EMBEDDED_EXE,
            _ => T_EMBEDDED,
        }
    }

    /// Walks what the raw pass of `layer` found (`types`, as the pass
    /// recorded them).
    pub(super) fn embedded(
        &self,
        ctx: &mut Ctx,
        layer: &Layer<'_>,
        types: Vec<(u32, usize)>,
        depth: u32,
    ) -> Option<Found> {
        let data = layer.data;
        let archives = self.options.archives;
        let own = layer.kind;
        // Counted as ClamAV's matcher counts them: ten, zip entries apart,
        // the object's own header included.
        let mut found: Vec<(Embedded, usize)> = Vec::new();
        let mut ring = embedded::ExeRing::default();
        for (code, at) in types {
            let Some(e) = Embedded::from_code(code) else { continue };
            let room = |found: &Vec<_>| found.len() < embedded::MAX_EMBEDDED;
            if e == Embedded::Exe {
                if room(&found) {
                    for m in ring.at(data, at) {
                        if !room(&found) {
                            break;
                        }
                        found.push((e, m));
                    }
                }
            } else if e == Embedded::ZipSfx || room(&found) {
                found.push((e, at));
            }
        }
        if matches!(layer.kind, FileType::Pe | FileType::Elf | FileType::MachO)
            && self.options.archives
            && self.db.has_embedded()
        {
            found.extend(
                embedded::arj_starts(data)
                    .take(embedded::MAX_EMBEDDED)
                    .map(|s| (Embedded::ArjSfx, s)),
            );
            // In the order of the file, as ClamAV's matcher reports them,
            // and ten again with the ARJ headers among them.
            found.sort_by_key(|&(_, at)| at);
            let mut kept = 0;
            found.retain(|&(e, _)| {
                let keep =
                    e == Embedded::ZipSfx || kept < embedded::MAX_EMBEDDED;
                kept += usize::from(keep);
                keep
            });
        }
        found.sort_by_key(|&(_, at)| at);
        // An Office Open XML file's entries are walked already: ClamAV
        // extracts each a second time from its local header, to the same
        // verdict; only headers its directory does not list are new.
        let listed = if matches!(
            own,
            FileType::OoxmlWord
                | FileType::OoxmlXl
                | FileType::OoxmlPpt
                | FileType::OoxmlHwp
        ) {
            unpack::zip_listed(data)
        } else {
            Vec::new()
        };
        for (e, at) in found {
            // The object's own header is no embedded file.
            if at == 0 {
                continue;
            }
            if Instant::now() > ctx.deadline {
                ctx.skipped.get_or_insert(Reason::Timeout);
                return None;
            }
            let (kind, unpack, from): (FileType, Unpacker, usize) = match e {
                Embedded::ZipSfx if listed.binary_search(&at).is_ok() => {
                    continue;
                }
                Embedded::ZipSfx if archives => {
                    (FileType::Zip, unpack::zip_entry, at)
                }
                Embedded::RarSfx if archives && own != FileType::Rar => {
                    (FileType::Rar, unpack::rar, at)
                }
                Embedded::SevenZSfx if archives && own != FileType::SevenZ => {
                    (FileType::SevenZ, unpack::sevenz, at)
                }
                Embedded::CabSfx if archives && own != FileType::Cab => {
                    (FileType::Cab, unpack::cab, at)
                }
                Embedded::ArjSfx if archives && own != FileType::Arj => {
                    (FileType::Arj, unpack::arj, at)
                }
                Embedded::Exe => {
                    if data.len() - at > MAX_EMBEDDED_PE
                        || !matches!(pe::parse(&data[at..]), Pe::Valid(_))
                    {
                        continue;
                    }
                    // Two layers in ClamAV: the executable's place in the
                    // object, then the file it is written to.
                    if depth + 1 >= ctx.max_recursion {
                        ctx.skipped.get_or_insert(Reason::DepthLimit);
                        continue;
                    }
                    let mut f = self.object(
                        ctx,
                        &data[at..],
                        Some(layer),
                        depth + 2,
                        0,
                        Place::Whole,
                    );
                    if let Some(f) = f.as_mut() {
                        f.path.insert(0, format!("executable at byte {at}"));
                    }
                    // The rest of the object was scanned as part of it.
                    return f;
                }
                Embedded::IshieldMsi if archives && own == FileType::Pe => {
                    (FileType::IshieldMsi, unpack::ishield_msi, at)
                }
                // ClamAV reads AutoIt resources only in an executable.
                Embedded::AutoIt if archives && own == FileType::Pe => {
                    (FileType::AutoIt, unpack::autoit, at)
                }
                // An NSIS installer starts with the flags word, 4 bytes
                // before the signature; ClamAV opens it in executables
                // only, and only past those 4 bytes. The installer is
                // no type of its own here: its layer is plain data.
                Embedded::NulSft
                    if archives && own == FileType::Pe && at > 4 =>
                {
                    (FileType::Binary, unpack::nsis, at - 4)
                }
                _ => continue,
            };
            let inner =
                Layer { data: &data[from..], kind, parent: Some(layer) };
            if let Some(mut f) =
                self.walk(ctx, &inner, kind, depth + 1, unpack, false)
            {
                f.path.insert(0, format!("{} at byte {at}", label(e)));
                return Some(f);
            }
        }
        None
    }
}

/// How a location names an embedded object.
fn label(e: Embedded) -> &'static str {
    match e {
        Embedded::ZipSfx => "zip entry",
        Embedded::RarSfx => "RAR archive",
        Embedded::SevenZSfx => "7z archive",
        Embedded::CabSfx => "cabinet",
        Embedded::ArjSfx => "ARJ archive",
        Embedded::NulSft => "NSIS installer",
        Embedded::AutoIt => "AutoIt script",
        Embedded::IshieldMsi => "InstallShield setup",
        Embedded::Exe => "executable",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SignatureSet;

    fn marker_db(marker: &[u8]) -> Database {
        use md5::{Digest, Md5};
        let hex: String =
            Md5::digest(marker).iter().map(|b| format!("{b:02x}")).collect();
        let line = format!("{hex}:{}:Marker\n", marker.len());
        let mut s = SignatureSet::new();
        s.load_bytes("m.hdb", line.as_bytes()).unwrap();
        Database::from_signatures(&s).unwrap()
    }

    fn zip_of(name: &str, data: &[u8]) -> Vec<u8> {
        let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        z.start_file(name, zip::write::SimpleFileOptions::default()).unwrap();
        std::io::Write::write_all(&mut z, data).unwrap();
        z.finish().unwrap().into_inner()
    }

    const MARKER: &[u8] = b"an embedded marker, long enough to hash";

    #[test]
    fn a_zip_after_text_is_found_and_located() {
        let db = marker_db(MARKER);
        let mut data = b"a few lines of text first\n".repeat(3);
        let at = data.len();
        data.extend(zip_of("m.txt", MARKER));
        match Scanner::new(&db).scan_bytes(&data).verdict {
            Verdict::Infected { name, location } => {
                assert_eq!(name, "Marker");
                assert_eq!(location, format!("zip entry at byte {at}/m.txt"));
            }
            v => panic!("{v:?}"),
        }
    }

    #[test]
    fn patterns_met_by_chance_leave_the_object_clean_and_scanned() {
        let db = marker_db(MARKER);
        let mut data = vec![0u8; 20_000];
        for (i, b) in data.iter_mut().enumerate() {
            *b = (i.wrapping_mul(2_654_435_761) >> 13) as u8;
        }
        for (i, p) in [
            &b"PK\x03\x04"[..],
            b"Rar!\x1a\x07\x00",
            b"7z\xbc\xaf\x27\x1c",
            b"MSCF\0\0\0\0",
            b"\xef\xbe\xad\xdeNullsoftInst",
        ]
        .iter()
        .enumerate()
        {
            data[100 + i * 3000..][..p.len()].copy_from_slice(p);
        }
        data[0] = 0;
        assert_eq!(
            Scanner::new(&db).scan_bytes(&data).verdict,
            Verdict::Clean
        );
    }

    /// ClamAV records ten embedded objects, zip entries apart: past ten
    /// other headers, a zip is still found.
    #[test]
    fn zip_entries_pass_the_cap_of_ten() {
        let db = marker_db(MARKER);
        let mut data = b"text\n".to_vec();
        for _ in 0..12 {
            data.extend(b"Rar!\x1a\x07\x00 not an archive\n");
        }
        data.extend(zip_of("m.txt", MARKER));
        assert!(matches!(
            Scanner::new(&db).scan_bytes(&data).verdict,
            Verdict::Infected { .. }
        ));
    }

    /// Beside a database's `.ftm`, only the embedded types its lines
    /// name are looked for, as clamscan then has no table of its own.
    #[test]
    fn a_database_ftm_names_the_embedded_types_looked_for() {
        let mut data = b"a few lines of text first\n".repeat(3);
        data.extend(zip_of("m.txt", MARKER));
        use md5::Digest;
        let hash: String = md5::Md5::digest(MARKER)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let hdb = format!("{hash}:{}:Marker\n", MARKER.len());
        for (ftm, found) in [
            ("0:0:cafecafe:X:CL_TYPE_ANY:CL_TYPE_ZIP\n", false),
            (
                "0:0:cafecafe:X:CL_TYPE_ANY:CL_TYPE_ZIP\n\
                 1:*:504b0304:ZIP-SFX:CL_TYPE_ANY:CL_TYPE_ZIPSFX\n",
                true,
            ),
        ] {
            let mut s = SignatureSet::new();
            s.load_bytes("m.hdb", hdb.as_bytes()).unwrap();
            s.load_bytes("x.ftm", ftm.as_bytes()).unwrap();
            let db = Database::from_signatures(&s).unwrap();
            let v = Scanner::new(&db).scan_bytes(&data).verdict;
            assert_eq!(matches!(v, Verdict::Infected { .. }), found, "{ftm}");
        }
    }

    /// A zip's own bytes are not searched: its entries are walked.
    #[test]
    fn formats_holding_their_members_raw_are_not_searched() {
        for kind in [FileType::Zip, FileType::Gzip, FileType::PosixTar] {
            assert_eq!(Scanner::embedded_mask(kind, Place::Whole), 0);
        }
        for place in [Place::Partition, Place::Slice] {
            assert_eq!(Scanner::embedded_mask(FileType::Binary, place), 0);
        }
        assert_eq!(
            Scanner::embedded_mask(FileType::Pe, Place::Whole),
            T_EMBEDDED | T_EMBEDDED_EXE
        );
        assert_eq!(
            Scanner::embedded_mask(FileType::Text, Place::Whole),
            T_EMBEDDED
        );
    }
}

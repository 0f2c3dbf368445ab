//! Files inside files, as ClamAV's raw scan finds them: its built-in
//! file-type patterns of self-extracting archives, installers and
//! executables match anywhere in an object, and what starts past the
//! object's first byte is handed to its reader (ClamAV's `scanraw` with
//! type recognition). The patterns go into every module's anchor filter
//! beside the signatures, so finding them costs no pass of its own.

/// What an embedded-type pattern found. The numbers are stored in
/// modules (a pattern record's owner field): never renumber.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Embedded {
    /// A zip local header: ClamAV extracts that one entry.
    ZipSfx = 1,
    RarSfx = 2,
    SevenZSfx = 3,
    CabSfx = 4,
    /// Found by [`arj_starts`], not by a module pattern.
    ArjSfx = 5,
    /// A Nullsoft installer; its data starts 4 bytes before the match.
    NulSft = 6,
    AutoIt = 7,
    IshieldMsi = 8,
    /// A PE header, at its `MZ`.
    Exe = 9,
}

impl Embedded {
    /// ClamAV's name for the type.
    pub(crate) fn clamav_name(self) -> &'static str {
        match self {
            Embedded::ZipSfx => "CL_TYPE_ZIPSFX",
            Embedded::RarSfx => "CL_TYPE_RARSFX",
            Embedded::SevenZSfx => "CL_TYPE_7ZSFX",
            Embedded::CabSfx => "CL_TYPE_CABSFX",
            Embedded::ArjSfx => "CL_TYPE_ARJSFX",
            Embedded::NulSft => "CL_TYPE_NULSFT",
            Embedded::AutoIt => "CL_TYPE_AUTOIT",
            Embedded::IshieldMsi => "CL_TYPE_ISHIELD_MSI",
            Embedded::Exe => "CL_TYPE_MSEXE",
        }
    }

    pub(crate) fn from_code(c: u32) -> Option<Embedded> {
        use Embedded::*;
        [
            ZipSfx, RarSfx, SevenZSfx, CabSfx, ArjSfx, NulSft, AutoIt,
            IshieldMsi, Exe,
        ]
        .into_iter()
        .find(|e| *e as u32 == c)
    }
}

/// The patterns compiled into every module, in ClamAV's body syntax and
/// as its built-in types write them. The executable's is only its PE
/// signature: the `MZ` 60 to 300 bytes before it (ClamAV's
/// `4d5a{60-300}50450000`) would anchor on two bytes, which would slow
/// every pass; the pass looks back for it instead (`PassHits::exe_at`).
pub(crate) const PATTERNS: &[(Embedded, &str)] = &[
    (Embedded::ZipSfx, "504b0304"),
    (Embedded::RarSfx, "526172211a0700"),
    (Embedded::SevenZSfx, "377abcaf271c"),
    (Embedded::CabSfx, "4d53434600000000"),
    (Embedded::NulSft, "efbeadde4e756c6c736f6674496e7374"),
    (
        Embedded::AutoIt,
        "a3484bbe986c4aa9994c530a86d6487d41553321454130(35|36)",
    ),
    (
        Embedded::IshieldMsi,
        "496e7374616c6c536869656c6400{292}0600000000000000\
         ????????????????0000000001",
    ),
    (Embedded::Exe, "50450000"),
];

/// ClamAV records at most this many embedded objects per object, zip
/// entries apart (those up to MaxFiles).
pub(crate) const MAX_EMBEDDED: usize = 10;

/// The `MZ`s seen since an executable was last recorded, as ClamAV's
/// matcher tracks the first part of its two-part pattern
/// `4d5a{60-300}50450000`: the first kept, the other eight slots reused
/// in turn; at a PE signature with one of them within reach, all are
/// recorded, in slot order, and forgotten.
#[derive(Default)]
pub(crate) struct ExeRing {
    mz: [Option<usize>; 9],
    next: usize,
    /// How far the data was searched for `MZ`.
    searched: usize,
}

impl ExeRing {
    /// The executables recorded at a PE signature at `pe` (signatures
    /// come in the order of the data).
    pub(crate) fn at(&mut self, data: &[u8], pe: usize) -> Vec<usize> {
        if pe < self.searched || pe > data.len() {
            return Vec::new();
        }
        for at in memchr::memmem::find_iter(&data[self.searched..pe], b"MZ") {
            let at = self.searched + at;
            if self.mz[0].is_none() {
                self.mz[0] = Some(at);
                self.next = 1;
            } else {
                self.mz[self.next] = Some(at);
                self.next = if self.next == 8 { 1 } else { self.next + 1 };
            }
        }
        self.searched = pe;
        let reach = |m: usize| pe >= m + 62 && pe <= m + 302;
        if !self.mz.iter().flatten().any(|&m| reach(m)) {
            return Vec::new();
        }
        self.next = 0;
        std::mem::take(&mut self.mz).into_iter().flatten().collect()
    }
}

/// ARJ main headers (ClamAV's `60ea{7}(00|01|02)02`). Having no four
/// fixed bytes, the pattern cannot join the module's filter; it is
/// looked for in executables only (a pass of its own), where
/// self-extracting ARJ archives are.
pub(crate) fn arj_starts(data: &[u8]) -> impl Iterator<Item = usize> + '_ {
    memchr::memmem::find_iter(data, b"\x60\xea").filter(move |&i| {
        data.get(i + 9..i + 11).is_some_and(|h| h[0] <= 2 && h[1] == 2)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_patterns_parse() {
        for (e, p) in PATTERNS {
            assert_eq!(Embedded::from_code(*e as u32), Some(*e));
            let elems = crate::sigs::body::parse_signature(p, false).unwrap();
            assert!(
                crate::sigs::body::choose_anchor(&elems, false)
                    .is_some_and(|a| a.width == 4),
                "{p} needs a four-byte anchor"
            );
        }
        assert_eq!(Embedded::from_code(0), None);
        assert_eq!(Embedded::from_code(5), Some(Embedded::ArjSfx));
    }

    #[test]
    fn each_mz_is_recorded_once_with_those_remembered() {
        let mut d = vec![0u8; 3000];
        // One MZ, then nine PE signatures within reach: one executable.
        d[100..102].copy_from_slice(b"MZ");
        let mut r = ExeRing::default();
        assert_eq!(r.at(&d, 200), [100]);
        assert!(r.at(&d, 220).is_empty());
        // Ten MZs far away, then one within reach: nine recorded, the
        // first and the last eight, in slot order.
        let mut d = vec![0u8; 3000];
        for k in 0..10 {
            d[k * 100..][..2].copy_from_slice(b"MZ");
        }
        d[1500..1502].copy_from_slice(b"MZ");
        let mut r = ExeRing::default();
        // Too near (under 60 bytes between): nothing, all remembered.
        assert!(r.at(&d, 1520).is_empty());
        let got = r.at(&d, 1600);
        assert_eq!(got, [0, 900, 1500, 300, 400, 500, 600, 700, 800]);
    }

    #[test]
    fn arj_headers_need_their_type_byte() {
        let mut d = vec![0u8; 64];
        d[5..7].copy_from_slice(&[0x60, 0xea]);
        d[15] = 2;
        d[30..32].copy_from_slice(&[0x60, 0xea]);
        d[40] = 3;
        assert_eq!(arj_starts(&d).collect::<Vec<_>>(), [5]);
    }
}

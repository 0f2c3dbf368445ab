//! Scanning objects: typing, the container walk, the matcher passes and
//! the verdict.
//!
//! The order follows ClamAV, because it decides which name is reported
//! when several signatures match: a container's children are scanned
//! before the container's own bytes; within one object, body signatures
//! come first, then hashes, then logical signatures; text is scanned raw
//! and then normalised.

use std::path::Path;
use std::time::{Duration, Instant};

use md5::{Digest, Md5};

use crate::filetype::{self, FileType};
use crate::heur::{self, Heur, Heuristics};
use crate::module::{
    Eof, ObjectInfo, T_ANY, T_ELF, T_GRAPHICS, T_HTML, T_JAVA, T_MACHO,
    T_MAIL, T_OLE2, T_PDF, T_PE, T_SWF, T_TEXT,
};
use crate::pe::{self, Pe, PeInfo};
use crate::sigs::cdb::Member;
use crate::unpack::{self, Budget, Sink};
use crate::verdict::Reason;
use crate::{Database, ScanError};

/// Scan limits, with ClamAV's names and defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// MaxScanSize: bytes scanned per input, extracted data included.
    pub max_scan_size: u64,
    /// MaxFileSize: the largest object or extracted member scanned.
    pub max_file_size: u64,
    /// MaxRecursion: container nesting depth.
    pub max_recursion: u32,
    /// MaxFiles: members extracted per input.
    pub max_files: u32,
    /// MaxScanTime: wall time per input.
    pub max_scan_time: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_scan_size: 400 << 20,
            max_file_size: 100 << 20,
            max_recursion: 17,
            max_files: 10_000,
            max_scan_time: Duration::from_secs(120),
        }
    }
}

/// What the scanner opens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// Open archives (zip, gzip, tar).
    pub archives: bool,
    /// Parse mail and mbox files into their parts.
    pub mail: bool,
    /// Which heuristic alerts are raised.
    pub heuristics: Heuristics,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            archives: true,
            mail: true,
            heuristics: Heuristics::default(),
        }
    }
}

/// The result of scanning one input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing found and everything scanned.
    Clean,
    /// A signature matched.
    Infected {
        /// The signature name, as in the database.
        name: String,
        /// Where: the chain of objects from the input to the match, e.g.
        /// `part 2 "invoice.zip"/payload.exe`. Empty for the input itself.
        location: String,
    },
    /// Nothing found, but some content could not be scanned.
    Uncheckable {
        /// The first reason.
        reason: Reason,
    },
}

impl Verdict {
    /// True for [`Verdict::Infected`].
    pub fn is_infected(&self) -> bool {
        matches!(self, Verdict::Infected { .. })
    }
}

/// One thing found by a scan, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Infection {
    /// The signature or heuristic name.
    pub name: String,
    /// Where, as in [`Verdict::Infected`]: in a mailbox of several
    /// messages, `message 3 <id@example.org>, part 1 "e.com"`.
    pub location: String,
    /// The mailbox message it was found in, when the input is an mbox of
    /// several messages scanned with [`Scanner::each_message`].
    pub message: Option<MailboxMessage>,
}

/// A message of a mailbox, as a report names it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct MailboxMessage {
    /// Its place in the mailbox, from 1.
    pub number: usize,
    /// Its Message-ID as `<id>`, printable ASCII only (any other byte,
    /// `"` and `\` show as `?`); `None` without one.
    pub id: Option<String>,
}

impl std::fmt::Display for MailboxMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "message {}", self.number)?;
        match &self.id {
            Some(id) => write!(f, " {id}"),
            None => Ok(()),
        }
    }
}

/// The outcome of one scan with its counters.
#[derive(Clone, Debug)]
pub struct Report {
    /// The verdict.
    pub verdict: Verdict,
    /// What was found: with [`Scanner::each_message`], one entry per
    /// infected message of a mailbox of several messages, in mailbox
    /// order (after the verdict's, should the mailbox's own bytes have
    /// matched); otherwise the verdict's alone. Empty when not infected.
    pub infections: Vec<Infection>,
    /// Objects scanned (the input and every extracted member).
    pub objects: u64,
    /// Bytes scanned, extracted data included.
    pub bytes: u64,
}

/// Scans objects against a [`Database`]; cheap to make, one per thread.
#[derive(Clone, Debug)]
pub struct Scanner<'db> {
    db: &'db Database,
    limits: Limits,
    options: Options,
    each_message: bool,
    unofficial_suffix: bool,
}

struct Ctx {
    deadline: Instant,
    budget: Budget,
    max_recursion: u32,
    skipped: Option<Reason>,
    /// The first heuristic alert, reported when no signature matches.
    alert: Option<String>,
    objects: u64,
    bytes: u64,
    /// With `each_message`, the infected messages of the input mailbox.
    infections: Vec<Infection>,
}

/// A container walk: the object's bytes, and the scan its children go to.
type Unpacker = for<'s> fn(&[u8], &'s mut dyn Sink) -> unpack::Unpacked<'s>;

/// One object on the path from the input to the object being scanned.
struct Layer<'a> {
    data: &'a [u8],
    kind: FileType,
    parent: Option<&'a Layer<'a>>,
}

struct Found {
    name: String,
    path: Vec<String>,
}

impl<'db> Scanner<'db> {
    /// A scanner with default limits and options.
    pub fn new(db: &'db Database) -> Scanner<'db> {
        Scanner {
            db,
            limits: Limits::default(),
            options: Options::default(),
            each_message: false,
            unofficial_suffix: false,
        }
    }

    /// Sets the limits.
    pub fn limits(mut self, limits: Limits) -> Scanner<'db> {
        self.limits = limits;
        self
    }

    /// Sets what is opened.
    pub fn options(mut self, options: Options) -> Scanner<'db> {
        self.options = options;
        self
    }

    /// When the input is a mailbox of several messages, scans on after an
    /// infected message and lists each in [`Report::infections`], rather
    /// than stopping at the first (an agent refusing a message needs no
    /// more). The verdict is the same either way; the limits still count
    /// over the whole input.
    pub fn each_message(mut self, yes: bool) -> Scanner<'db> {
        self.each_message = yes;
        self
    }

    /// Names a signature of a database other than an official ClamAV
    /// container `NAME.UNOFFICIAL`, as clamscan and clamd do.
    pub fn unofficial_suffix(mut self, yes: bool) -> Scanner<'db> {
        self.unofficial_suffix = yes;
        self
    }

    /// A signature's name as reported.
    fn sig_name(&self, id: u32) -> String {
        let name = self.db.name(id);
        if self.unofficial_suffix && self.db.unofficial(id) {
            format!("{name}.UNOFFICIAL")
        } else {
            name.to_string()
        }
    }

    /// Reads and scans a file.
    ///
    /// # Errors
    /// Only when the file cannot be read.
    pub fn scan_path(&self, path: &Path) -> Result<Report, ScanError> {
        let io = |source| ScanError::Io { path: path.to_path_buf(), source };
        let file = std::fs::File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        if len > self.limits.max_file_size {
            return Ok(self.too_big());
        }
        let mut data = Vec::with_capacity(len as usize);
        use std::io::Read;
        (&file)
            .take(self.limits.max_file_size + 1)
            .read_to_end(&mut data)
            .map_err(io)?;
        Ok(self.scan_bytes(&data))
    }

    /// Scans bytes in memory.
    pub fn scan_bytes(&self, data: &[u8]) -> Report {
        let mut ctx = Ctx {
            deadline: Instant::now() + self.limits.max_scan_time,
            budget: Budget {
                max_file: self.limits.max_file_size,
                bytes_left: self
                    .limits
                    .max_scan_size
                    .saturating_sub(data.len() as u64),
                files_left: self.limits.max_files,
            },
            max_recursion: self.limits.max_recursion,
            skipped: None,
            alert: None,
            objects: 0,
            bytes: 0,
            infections: Vec::new(),
        };
        if data.len() as u64 > self.limits.max_file_size {
            return self.too_big();
        }
        let found = self.object(&mut ctx, data, None, 0, 0);
        let h = &self.options.heuristics;
        let mut infections = ctx.infections;
        let verdict = match (found, ctx.alert, ctx.skipped) {
            (Some(f), _, _) => {
                Verdict::Infected { name: f.name, location: f.path.join("/") }
            }
            (None, Some(name), _) => {
                // Raised in a message listed on its own: named there.
                let location = infections
                    .iter()
                    .find(|i| i.name == name)
                    .map_or_else(String::new, |i| i.location.clone());
                Verdict::Infected { name, location }
            }
            (None, None, Some(reason)) => match heur::exceeded(reason, h) {
                Some(name) => {
                    Verdict::Infected { name, location: String::new() }
                }
                None => Verdict::Uncheckable { reason },
            },
            (None, None, None) => Verdict::Clean,
        };
        if let Verdict::Infected { name, location } = &verdict
            && !infections
                .iter()
                .any(|i| &i.name == name && &i.location == location)
        {
            // Found in the mailbox's own bytes, or not in a mailbox.
            infections.insert(
                0,
                Infection {
                    name: name.clone(),
                    location: location.clone(),
                    message: None,
                },
            );
        }
        Report { verdict, infections, objects: ctx.objects, bytes: ctx.bytes }
    }

    /// An input over MaxFileSize: not read at all.
    fn too_big(&self) -> Report {
        let reason = Reason::FileSizeLimit;
        let verdict = match heur::exceeded(reason, &self.options.heuristics) {
            Some(name) => Verdict::Infected { name, location: String::new() },
            None => Verdict::Uncheckable { reason },
        };
        let infections = match &verdict {
            Verdict::Infected { name, location } => vec![Infection {
                name: name.clone(),
                location: location.clone(),
                message: None,
            }],
            _ => Vec::new(),
        };
        Report { verdict, infections, objects: 1, bytes: 0 }
    }

    /// Scans one object; `targets` adds target types its own bytes are
    /// matched with (a VBA module is OLE2's, whatever it looks like).
    fn object(
        &self,
        ctx: &mut Ctx,
        data: &[u8],
        parent: Option<&Layer<'_>>,
        depth: u32,
        targets: u16,
    ) -> Option<Found> {
        // ClamAV ignores every object of five bytes or less, children
        // included; so do we, so that verdicts agree.
        if data.len() <= 5 {
            return None;
        }
        if Instant::now() > ctx.deadline {
            ctx.skipped.get_or_insert(Reason::Timeout);
            return None;
        }
        ctx.objects += 1;
        ctx.bytes += data.len() as u64;
        let kind = filetype::detect_with(
            data,
            self.db.magic_type(&data[..data.len().min(1024)]),
        );
        let layer = Layer { data, kind, parent };

        // Children first.
        let unpacker = self.unpacker(kind, depth).filter(|_| {
            // Only pages that carry a data: URI, so that plain HTML never
            // counts as a container (nor meets MaxRecursion).
            (kind != FileType::Html
                || memchr::memmem::find_iter(data, b"ata:")
                    .any(|i| i > 0 && data[i - 1].eq_ignore_ascii_case(&b'd')))
                // An uncompressed Flash file holds nothing to take out.
                && !(kind == FileType::Swf
                    && data.starts_with(b"FWS"))
        });
        if let Some(unpack) = unpacker
            && let Some(f) = self.children(ctx, &layer, kind, depth, unpack)
        {
            return Some(f);
        }

        // Then the object's own bytes.
        if kind == FileType::Html {
            // ClamAV never scans HTML raw (its HTMLSKIPRAW default), only
            // its normalised forms, where HTML (target 3) signatures run
            // beside the generic ones.
            return self.html_passes(ctx, data, &layer);
        }
        let mut mask = targets
            | match kind {
                FileType::Mail => T_ANY | T_MAIL,
                // ClamAV runs OLE2 (target 2) signatures over the whole
                // compound file as well as over its VBA modules.
                FileType::Ole2 => T_ANY | T_OLE2,
                FileType::Graphics
                | FileType::Gif
                | FileType::Png
                | FileType::Jpeg
                | FileType::Tiff => T_ANY | T_GRAPHICS,
                FileType::Elf => T_ANY | T_ELF,
                FileType::MachO | FileType::MachOUniversal => T_ANY | T_MACHO,
                FileType::Pdf => T_ANY | T_PDF,
                FileType::Swf => T_ANY | T_SWF,
                FileType::Java => T_ANY | T_JAVA,
                _ => T_ANY,
            };
        let heur = &self.options.heuristics;
        let pe = if kind == FileType::Pe
            && (self.db.pe_needed || (heur.enabled && heur.broken))
        {
            match pe::parse(data) {
                Pe::Valid(info) => {
                    mask |= T_PE;
                    Some(info)
                }
                Pe::Broken => {
                    let h = Heur::BrokenExecutable;
                    if ctx.alert.is_none() && h.wanted(heur) {
                        ctx.alert = Some(h.name());
                    }
                    None
                }
                Pe::Absent => None,
            }
        } else if kind == FileType::Elf {
            crate::exe::elf(data)
        } else if kind == FileType::MachO {
            crate::exe::macho(data)
        } else {
            None
        };
        // ClamAV resolves no `EOF-n` offset in an executable whose
        // headers it cannot read (an `MZ` file without a PE header).
        let unreadable = match kind {
            FileType::Pe => pe::pe_offset(data).is_none(),
            FileType::Elf | FileType::MachO => pe.is_none(),
            _ => false,
        };
        let eof = if unreadable { Eof::Unresolved } else { Eof::Data };
        if let Some(f) =
            self.raw_pe(ctx, data, mask, eof, &layer, true, pe.as_ref())
        {
            return Some(f);
        }
        // ClamAV looks for HTML in a GIF too (script hidden in an image)
        // and scans what it finds as HTML.
        if kind == FileType::Gif && filetype::has_html_markers(data) {
            return self.html_passes(ctx, data, &layer);
        }
        if kind == FileType::Text {
            const MAX_SCRIPT_NORMALIZE: usize = 20 << 20;
            // Skipped when no signature of the module could match there.
            if data.len() <= MAX_SCRIPT_NORMALIZE && self.db.text_pass {
                let norm = filetype::normalize_text(data);
                if let Some(f) = self.raw(
                    ctx,
                    &norm,
                    T_ANY | T_TEXT,
                    Eof::Normalized(data.len() as u64),
                    &layer,
                    false,
                ) {
                    return Some(f);
                }
            }
            if self.db.mail_target
                && parent.is_some_and(|p| {
                    matches!(p.kind, FileType::Mail | FileType::Mhtml)
                })
                && let Some(f) = self.raw(
                    ctx,
                    data,
                    T_ANY | T_MAIL,
                    Eof::Data,
                    &layer,
                    // The same bytes were hashed in the first pass.
                    false,
                )
            {
                return Some(f);
            }
            // A MIME-Version line followed by a Content-Type line past the
            // first KiB: ClamAV's raw scan of the text finds them and
            // scans the text as mail (its MHTML type) too.
            if self.options.mail
                && filetype::has_mhtml_marker(data)
                && let Some(f) = self.children(
                    ctx,
                    &layer,
                    FileType::Mhtml,
                    depth,
                    unpack::mail_within,
                )
            {
                return Some(f);
            }
            // HTML markers past the first KiB: ClamAV's raw scan of the
            // text finds them and scans the page as HTML too.
            if filetype::has_html_markers(data) {
                return self.html_passes(ctx, data, &layer);
            }
        }
        None
    }

    /// Walks `layer` as a container of type `kind`: each child is
    /// scanned as it comes.
    fn children(
        &self,
        ctx: &mut Ctx,
        layer: &Layer<'_>,
        kind: FileType,
        depth: u32,
        unpack: Unpacker,
    ) -> Option<Found> {
        if depth >= ctx.max_recursion {
            ctx.skipped.get_or_insert(Reason::DepthLimit);
            return None;
        }
        let mut sink = ChildScan {
            scanner: self,
            ctx,
            parent: layer,
            kind,
            depth,
            next: 0,
            found: None,
            message: 0,
            in_message: None,
            // Only the input's own messages: a mailbox inside an archive
            // or a message is one object of its container.
            each_message: self.each_message && depth == 0,
            first_alert: None,
        };
        let skipped = unpack(layer.data, &mut sink).skipped;
        let found = sink.found.take();
        if let Some(a) = sink.first_alert.take() {
            // The first alert of all stands for the input, as without
            // `each_message`.
            sink.ctx.alert = Some(a);
        }
        if let Some(r) = skipped {
            ctx.skipped.get_or_insert(r);
        }
        found
    }

    /// ClamAV's normalised forms of an HTML page, where HTML (target 3)
    /// signatures run beside the generic ones.
    fn html_passes(
        &self,
        ctx: &mut Ctx,
        data: &[u8],
        layer: &Layer<'_>,
    ) -> Option<Found> {
        let norm = crate::html::normalize(data);
        for form in [&norm.nocomment, &norm.notags] {
            if let Some(f) = self.raw(
                ctx,
                form,
                T_ANY | T_HTML,
                Eof::Normalized(data.len() as u64),
                layer,
                false,
            ) {
                return Some(f);
            }
        }
        None
    }

    /// The container walk for a type, if the options open it.
    fn unpacker(&self, kind: FileType, depth: u32) -> Option<Unpacker> {
        let (archives, mail) = (self.options.archives, self.options.mail);
        let (open, f): (bool, Unpacker) = match kind {
            // The repair alert is about the message being delivered, not
            // about mail found inside it.
            FileType::Mail | FileType::Mhtml if depth > 0 => {
                (mail, unpack::mail_within)
            }
            FileType::Mail | FileType::Mhtml => (mail, unpack::mail),
            FileType::Zip => (archives, unpack::zip),
            FileType::Gzip => (archives, unpack::gzip),
            FileType::Bzip2 => (archives, unpack::bzip2),
            FileType::PosixTar | FileType::OldTar => (archives, unpack::tar),
            FileType::Uuencoded => (true, unpack::uuencoded),
            FileType::Html => (true, unpack::html_data_uris),
            FileType::Szdd => (archives, unpack::szdd),
            FileType::CpioNewc
            | FileType::CpioCrc
            | FileType::CpioOdc
            | FileType::CpioOld => (archives, unpack::cpio),
            // Office Open XML and HWP documents are zips to ClamAV too,
            // under their own type names.
            FileType::OoxmlWord
            | FileType::OoxmlXl
            | FileType::OoxmlPpt
            | FileType::OoxmlHwp => (archives, unpack::zip),
            FileType::SevenZ => (archives, unpack::sevenz),
            FileType::Xz => (archives, unpack::xz),
            FileType::Cab => (archives, unpack::cab),
            FileType::Rar => (archives, unpack::rar),
            FileType::Arj => (archives, unpack::arj),
            FileType::Ole2 => (archives, unpack::ole2),
            FileType::Rtf => (archives, unpack::rtf),
            FileType::Pdf => (archives, unpack::pdf),
            FileType::Tnef => (mail, unpack::tnef),
            FileType::BinHex => (true, unpack::binhex),
            FileType::MachOUniversal => (true, unpack::macho_fat),
            // ClamAV writes out an uncompressed copy whatever its archive
            // settings.
            FileType::Swf => (true, unpack::swf),
            // Typed (for target types and container rules), not opened.
            FileType::Text
            | FileType::Binary
            | FileType::Pe
            | FileType::Elf
            | FileType::MachO
            | FileType::Java
            | FileType::Chm
            | FileType::Png
            | FileType::Gif
            | FileType::Jpeg
            | FileType::Tiff
            | FileType::Graphics => return None,
        };
        open.then_some(f)
    }

    /// One matcher pass; with `hashes`, also the hash signatures.
    fn raw(
        &self,
        ctx: &mut Ctx,
        data: &[u8],
        mask: u16,
        eof: Eof,
        layer: &Layer<'_>,
        hashes: bool,
    ) -> Option<Found> {
        self.raw_pe(ctx, data, mask, eof, layer, hashes, None)
    }

    /// [`Scanner::raw`] over a PE: its headers resolve PE-relative
    /// offsets, and its sections are looked up in the `.mdb` hashes.
    #[allow(clippy::too_many_arguments)]
    fn raw_pe(
        &self,
        ctx: &mut Ctx,
        data: &[u8],
        mask: u16,
        eof: Eof,
        layer: &Layer<'_>,
        hashes: bool,
        pe: Option<&PeInfo>,
    ) -> Option<Found> {
        let db = self.db;
        let mut hits = db.pass_pe(data, mask, eof, pe.cloned());
        if hits.steps_left == 0 {
            // The pass gave up on crafted input rather than run long.
            ctx.skipped.get_or_insert(Reason::Timeout);
        }
        if let Some(n) = hits.ndb
            && let Some(f) = self.hit(ctx, n, layer)
        {
            return Some(f);
        }
        // Looked up one after the other: a section hash costs digests.
        // Section hashes are a PE's only (ELF and Mach-O sections too
        // resolve offsets, but ClamAV hashes none of them).
        let is_pe = layer.kind == FileType::Pe;
        let lookups: [&dyn Fn() -> Option<u32>; 2] =
            [&|| self.hash_match(data), &|| {
                pe.filter(|_| is_pe)
                    .and_then(|pe| self.section_match(data, pe))
            }];
        for n in lookups.iter().filter(|_| hashes).filter_map(|f| f()) {
            if let Some(f) = self.hit(ctx, n, layer) {
                return Some(f);
            }
        }
        let container =
            layer.parent.map_or("CL_TYPE_ANY", |p| p.kind.clamav_name());
        // The types above, parent first, as far as Intermediates look.
        let mut above = ["CL_TYPE_ANY"; 16];
        let mut depth = 0;
        let mut l = layer.parent;
        while let Some(p) = l.filter(|_| depth < above.len()) {
            above[depth] = p.kind.clamav_name();
            depth += 1;
            l = p.parent;
        }
        let obj = ObjectInfo {
            size: layer.data.len() as u64,
            container,
            ancestors: &above[..depth],
        };
        if let Some(n) = db.eval_logical(&mut hits, mask, &obj, data)
            && let Some(f) = self.hit(ctx, n, layer)
        {
            return Some(f);
        }
        // A potentially unwanted logical signature ClamAV also noted on
        // its way.
        if let Some(n) = hits.unwanted {
            self.hit(ctx, n, layer);
        }
        None
    }

    /// What signature `n` matching `layer` means: `None` when the
    /// allow-list clears it, or when its name marks it potentially
    /// unwanted (`PUA.`, `Heuristics.`): ClamAV reports such a one only
    /// if nothing else is found, so it is kept as an alert and the
    /// object's other checks go on.
    fn hit(&self, ctx: &mut Ctx, n: u32, layer: &Layer<'_>) -> Option<Found> {
        if self.allowed(layer) {
            return None;
        }
        if self.db.potentially_unwanted(n) {
            ctx.alert.get_or_insert_with(|| self.sig_name(n));
            return None;
        }
        Some(Found { name: self.sig_name(n), path: Vec::new() })
    }

    fn hash_match(&self, data: &[u8]) -> Option<u32> {
        let size = data.len() as u64;
        (0..3).find_map(|k| {
            if !self.db.hash_wanted(k, size, false) {
                return None;
            }
            self.db.hash_lookup(k, size, &digest(k, data), false)
        })
    }

    /// A `.mdb` section hash matching one of the PE's sections.
    fn section_match(&self, data: &[u8], pe: &PeInfo) -> Option<u32> {
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
    fn allowed(&self, layer: &Layer<'_>) -> bool {
        let mut l = Some(layer);
        while let Some(x) = l {
            let size = x.data.len() as u64;
            for k in 0..3 {
                if self.db.hash_wanted(k, size, true)
                    && self
                        .db
                        .hash_lookup(k, size, &digest(k, x.data), true)
                        .is_some()
                {
                    return true;
                }
            }
            l = x.parent;
        }
        false
    }
}

/// Scans each child of a container as the unpacker decodes it.
struct ChildScan<'a, 'db, 'l> {
    scanner: &'a Scanner<'db>,
    ctx: &'a mut Ctx,
    parent: &'a Layer<'l>,
    kind: FileType,
    depth: u32,
    /// Children handed over so far (in the current mailbox message).
    next: usize,
    /// The first finding; with `each_message`, of the first infected
    /// message.
    found: Option<Found>,
    /// The mailbox message being walked, from 1; 0 outside one.
    message: usize,
    /// A finding in that message, named by it when it ends.
    in_message: Option<Found>,
    /// Scan on after an infected message and list each in
    /// `ctx.infections`.
    each_message: bool,
    /// With `each_message`, the first alert of all, while each message
    /// gets its own chance to alert in `ctx.alert`.
    first_alert: Option<String>,
}

impl Sink for ChildScan<'_, '_, '_> {
    fn budget(&mut self) -> &mut Budget {
        &mut self.ctx.budget
    }

    fn alert(&mut self, h: Heur) {
        if self.wants(h) {
            self.ctx.alert = Some(h.name());
        }
    }

    fn wants(&self, h: Heur) -> bool {
        self.ctx.alert.is_none() && h.wanted(&self.scanner.options.heuristics)
    }

    fn wants_members(&self) -> bool {
        self.scanner.db.has_container_rules()
    }

    fn wants_links(&self) -> bool {
        let h = &self.scanner.options.heuristics;
        self.ctx.alert.is_none()
            && h.phishing_scan_urls
            && (h.phishing_ssl
                || h.phishing_cloak
                || self.scanner.db.has_phishing_lists())
    }

    fn links(&mut self, text: &[u8]) {
        let lists = self.scanner.db.phish_lists();
        // ClamAV keeps a part as lines, each with its line end: a tag
        // that ends the part is still read.
        let links = if text.ends_with(b"\n") {
            crate::html::links(text)
        } else {
            crate::html::links(&[text, b"\n"].concat())
        };
        if links.is_empty() {
            return;
        }
        if let Some(p) = crate::phish::check(
            lists,
            &links,
            &self.scanner.options.heuristics,
        ) && self.ctx.alert.is_none()
        {
            self.ctx.alert = Some(p.name().to_string());
        }
    }

    fn member(&mut self, m: &Member<'_>) -> bool {
        let db = self.scanner.db;
        let mut unwanted = None;
        let strong = db.container_rule(
            self.kind.clamav_name(),
            self.parent.data.len() as u64,
            m,
            &mut unwanted,
        );
        let Some(n) = strong.or(unwanted) else { return false };
        // An allow-listed container clears the rule's hit, as any other.
        if self.scanner.allowed(self.parent) {
            return false;
        }
        if let Some(u) = unwanted
            && self.ctx.alert.is_none()
        {
            self.ctx.alert = Some(self.scanner.sig_name(u));
        }
        if strong.is_none() {
            return false;
        }
        let name = String::from_utf8_lossy(m.name.unwrap_or_default());
        let f = Found {
            name: self.scanner.sig_name(n),
            path: vec![child_label(self.kind, self.next, &name)],
        };
        if self.message > 0 {
            self.in_message = Some(f);
        } else {
            self.found = Some(f);
        }
        true
    }

    fn child(&mut self, name: String, data: Vec<u8>) -> bool {
        let index = self.next;
        self.next += 1;
        // ClamAV matches OLE2 (target 2) signatures in each VBA module
        // it decompresses, one module at a time.
        let targets = if self.kind == FileType::Ole2
            && name.starts_with("VBA module ")
        {
            T_OLE2
        } else {
            0
        };
        let f = self.scanner.object(
            self.ctx,
            &data,
            Some(self.parent),
            self.depth + 1,
            targets,
        );
        match f {
            Some(mut f) => {
                // Labelled only when something is found: a clean part
                // costs no string.
                f.path.insert(0, child_label(self.kind, index, &name));
                if self.message > 0 {
                    self.in_message = Some(f);
                } else {
                    self.found = Some(f);
                }
                true
            }
            None => false,
        }
    }

    fn message_start(&mut self, number: usize) {
        self.message = number;
        self.next = 0;
        if self.each_message
            && let Some(a) = self.ctx.alert.take()
        {
            self.first_alert.get_or_insert(a);
        }
    }

    fn message_end(&mut self, message: &[u8], stopped: bool) -> bool {
        let number = std::mem::take(&mut self.message);
        let alert =
            if self.each_message { self.ctx.alert.take() } else { None };
        let found = self.in_message.take();
        if found.is_none() && alert.is_none() {
            return stopped && !self.each_message;
        }
        // Only now is the message's header read, for its Message-ID.
        let m =
            MailboxMessage { number, id: crate::mime::message_id(message) };
        let label = m.to_string();
        match found {
            Some(mut f) => {
                f.path[0] = format!("{label}, {}", f.path[0]);
                if self.each_message {
                    self.ctx.infections.push(Infection {
                        name: f.name.clone(),
                        location: f.path.join("/"),
                        message: Some(m),
                    });
                }
                self.found.get_or_insert(f);
            }
            // A heuristic alert (no signature): the message is listed
            // with it, as the input would be.
            None => {
                if let Some(a) = &alert {
                    self.ctx.infections.push(Infection {
                        name: a.clone(),
                        location: label,
                        message: Some(m),
                    });
                }
            }
        }
        if let Some(a) = alert {
            self.first_alert.get_or_insert(a);
        }
        stopped && !self.each_message
    }
}

fn digest(kind: usize, data: &[u8]) -> Vec<u8> {
    match kind {
        0 => Md5::digest(data).to_vec(),
        1 => sha1::Sha1::digest(data).to_vec(),
        _ => sha2::Sha256::digest(data).to_vec(),
    }
}

fn child_label(kind: FileType, i: usize, name: &str) -> String {
    match kind {
        FileType::Mail | FileType::Mhtml => {
            format!("part {} \"{}\"", i + 1, name)
        }
        _ => name.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SignatureSet;

    const EICAR: &[u8] = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

    fn db(files: &[(&str, &str)]) -> Database {
        let mut s = SignatureSet::new();
        for (n, t) in files {
            s.load_bytes(n, t.as_bytes()).unwrap();
        }
        Database::from_signatures(&s).unwrap()
    }

    fn verdict(d: &Database, data: &[u8]) -> Verdict {
        Scanner::new(d).scan_bytes(data).verdict
    }

    /// `Intermediates`: the layers above, the parent last; `CL_TYPE_ANY`
    /// takes none of them (ClamAV passes over it).
    #[test]
    fn intermediates_name_the_layers_above() {
        let mut tar = tar::Builder::new(Vec::new());
        let text = b"inter-marker-xyz here\n";
        let mut h = tar::Header::new_ustar();
        h.set_size(text.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        tar.append_data(&mut h, "m.txt", &text[..]).unwrap();
        let mut gz = flate2::write::GzEncoder::new(
            Vec::new(),
            flate2::Compression::default(),
        );
        std::io::Write::write_all(&mut gz, &tar.into_inner().unwrap())
            .unwrap();
        let tgz = gz.finish().unwrap();
        let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        z.start_file("a.tgz", zip::write::SimpleFileOptions::default())
            .unwrap();
        std::io::Write::write_all(&mut z, &tgz).unwrap();
        let zipped = z.finish().unwrap().into_inner();
        let hit = |inter: &str, data: &[u8]| {
            let line = format!(
                "I;Engine:81-255,Target:0,Intermediates:{inter};0;696e7465722d6d61726b65722d78797a\n"
            );
            verdict(&db(&[("i.ldb", line.as_str())]), data).is_infected()
        };
        assert!(hit("CL_TYPE_GZ>CL_TYPE_POSIX_TAR", &tgz));
        assert!(hit("CL_TYPE_ZIP>CL_TYPE_GZ>CL_TYPE_POSIX_TAR", &zipped));
        // The tar's own bytes hold the text too, one layer up.
        assert!(hit("CL_TYPE_ZIP>CL_TYPE_GZ", &zipped));
        assert!(!hit("CL_TYPE_ZIP>CL_TYPE_GZ", &tgz));
        assert!(!hit("CL_TYPE_ZIP>CL_TYPE_ANY>CL_TYPE_POSIX_TAR", &zipped));
        // Three layers are needed, even if one is any.
        assert!(!hit("CL_TYPE_ANY>CL_TYPE_GZ>CL_TYPE_POSIX_TAR", &tgz));
        // Any is passed over: the zip would have to be a parent.
        assert!(!hit("CL_TYPE_ZIP>CL_TYPE_ANY", &zipped));
        // The tar is two layers down: three are asked for.
        assert!(!hit("CL_TYPE_ANY>CL_TYPE_ZIP>CL_TYPE_GZ", &zipped));
        assert!(!hit("CL_TYPE_RAR", &zipped));
    }

    /// Signatures of an official container keep their names; those of a
    /// plain file (or a `.cud`) are `NAME.UNOFFICIAL` when asked, as
    /// clamscan names them, the same name in both kept apart.
    #[test]
    fn unofficial_signatures_are_named_as_clamscan_names_them() {
        use crate::sigs::cvd::tests::build_version;
        let mut s = SignatureSet::new();
        for (file, official) in [("daily.cvd", true), ("x.cud", false)] {
            let text: &[u8] = if official {
                b"Both:0:*:4f4646494349414c\n"
            } else {
                b"Cud:0:*:43554443554443\n"
            };
            s.load_bytes(file, &build_version(&[("d.ndb", text)], true, 5))
                .unwrap();
        }
        s.load_bytes("local.ndb", b"Both:0:*:4c4f43414c4c4f43\n").unwrap();
        let d = Database::from_signatures(&s).unwrap();
        let named = |data: &[u8], suffix: bool| match Scanner::new(&d)
            .unofficial_suffix(suffix)
            .scan_bytes(data)
            .verdict
        {
            Verdict::Infected { name, .. } => name,
            v => panic!("{v:?}"),
        };
        assert_eq!(named(b"..OFFICIAL..", true), "Both");
        assert_eq!(named(b"..LOCALLOC..", true), "Both.UNOFFICIAL");
        assert_eq!(named(b"..CUDCUDC..", true), "Cud.UNOFFICIAL");
        assert_eq!(named(b"..LOCALLOC..", false), "Both");
    }

    /// A container metadata rule names the member it matched, before any
    /// member is scanned; an allow-listed container or an ignored rule
    /// clears it.
    #[test]
    fn container_rules_name_the_member_before_its_content_is_scanned() {
        let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for (name, data) in
            [("eicar.com", EICAR), ("dir/Invoice.JS", b"var x = 1;\n")]
        {
            z.start_file(name, zip::write::SimpleFileOptions::default())
                .unwrap();
            std::io::Write::write_all(&mut z, data).unwrap();
        }
        let zipped = z.finish().unwrap().into_inner();
        let eicar = ("e.hdb", "44d88612fea8a8f36de82e1278abb02f:68:Eicar\n");
        let rule = ("r.cdb", "Zip.Js:CL_TYPE_ZIP:*:(?i)\\.js$:*:11:0:2:*:*\n");
        match verdict(&db(&[eicar, rule]), &zipped) {
            Verdict::Infected { name, location } => {
                assert_eq!(
                    (name.as_str(), location.as_str()),
                    ("Zip.Js", "dir/Invoice.JS")
                );
            }
            v => panic!("{v:?}"),
        }
        // The rule's other columns must hold too: the member is 11 bytes
        // long and second, not third.
        let third =
            ("r.cdb", "Zip.Js:CL_TYPE_ZIP:*:(?i)\\.js$:*:11:0:3:*:*\n");
        assert!(matches!(
            verdict(&db(&[eicar, third]), &zipped),
            Verdict::Infected { name, .. } if name == "Eicar"
        ));
        let tar = ("r.cdb", "Zip.Js:CL_TYPE_POSIX_TAR:*:\\.JS$:*:*:*:*:*:*\n");
        assert!(matches!(
            verdict(&db(&[eicar, tar]), &zipped),
            Verdict::Infected { name, .. } if name == "Eicar"
        ));
        let ignored = ("i.ign2", "Zip.Js\n");
        assert!(matches!(
            verdict(&db(&[eicar, rule, ignored]), &zipped),
            Verdict::Infected { name, .. } if name == "Eicar"
        ));
        let fp = format!("{:x}:{}:Allowed\n", HexMd5(&zipped), zipped.len());
        assert_eq!(
            verdict(&db(&[rule, ("a.fp", fp.as_str())]), &zipped),
            Verdict::Clean
        );
    }

    /// The description of a zip's entries stops at MaxFiles, as ClamAV's
    /// index of the central directory does: a crafted archive of a million
    /// entries costs no more than MaxFiles checks.
    #[test]
    fn container_rules_read_at_most_max_files_entries() {
        let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for name in ["a.txt", "b.txt", "c.txt"] {
            z.start_file(name, zip::write::SimpleFileOptions::default())
                .unwrap();
            std::io::Write::write_all(&mut z, b"content\n").unwrap();
        }
        let zipped = z.finish().unwrap().into_inner();
        let d = db(&[("r.cdb", "Third:CL_TYPE_ZIP:*:*:*:*:*:3:*:*\n")]);
        let scan = |max_files| {
            Scanner::new(&d)
                .limits(Limits { max_files, ..Limits::default() })
                .scan_bytes(&zipped)
                .verdict
        };
        assert!(scan(3).is_infected());
        assert!(!scan(2).is_infected());
    }

    #[test]
    fn eicar_hash_in_zip_and_mail() {
        let d = db(&[(
            "e.hdb",
            "44d88612fea8a8f36de82e1278abb02f:68:Eicar-Test-Signature\n",
        )]);
        assert!(verdict(&d, EICAR).is_infected());
        let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        z.start_file("eicar.com", zip::write::SimpleFileOptions::default())
            .unwrap();
        std::io::Write::write_all(&mut z, EICAR).unwrap();
        let zipped = z.finish().unwrap().into_inner();
        match verdict(&d, &zipped) {
            Verdict::Infected { name, location } => {
                assert_eq!(name, "Eicar-Test-Signature");
                assert_eq!(location, "eicar.com");
            }
            v => panic!("{v:?}"),
        }
        let b64 = "WDVPIVAlQEFQWzRcUFpYNTQoUF4pN0NDKTd9JEVJQ0FSLVNUQU5EQVJELUFOVElWSVJVUy1URVNULUZJTEUhJEgrSCo=";
        let mail = format!(
            "From: a@b\nSubject: t\nContent-Type: multipart/mixed; boundary=Q\n\n--Q\nContent-Type: text/plain\n\nhi\n--Q\nContent-Type: application/octet-stream; name=e.com\nContent-Transfer-Encoding: base64\n\n{b64}\n--Q--\n"
        );
        match verdict(&d, mail.as_bytes()) {
            Verdict::Infected { location, .. } => {
                assert_eq!(location, "part 2 \"e.com\"")
            }
            v => panic!("{v:?}"),
        }
        assert_eq!(verdict(&d, b"clean text"), Verdict::Clean);
    }

    fn mail_with(name: &str, ctype: &str, body: &[u8]) -> Vec<u8> {
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut b64 = String::new();
        for c in body.chunks(3) {
            let n = c
                .iter()
                .enumerate()
                .fold(0u32, |n, (i, &b)| n | (b as u32) << (16 - 8 * i));
            for i in 0..4 {
                b64.push(if i <= c.len() {
                    A[(n >> (18 - 6 * i) & 63) as usize] as char
                } else {
                    '='
                });
            }
        }
        format!(
            "From: a@b\nSubject: t\nContent-Type: multipart/mixed; boundary=Q\n\n--Q\nContent-Type: text/plain\n\nsee attached\n--Q\nContent-Type: {ctype}; name=\"{name}\"\nContent-Transfer-Encoding: base64\n\n{b64}\n--Q--\n"
        )
        .into_bytes()
    }

    /// An mbox of `mails`, each given a `From ` line.
    fn mbox(mails: &[Vec<u8>]) -> Vec<u8> {
        let mut b = Vec::new();
        for m in mails {
            b.extend_from_slice(b"From a@b Sat Jan  1 00:00:00 2000\n");
            b.extend_from_slice(m);
            b.extend_from_slice(b"\n");
        }
        b
    }

    /// `mail_with` under a Message-ID.
    fn mail_id(id: &str, name: &str, body: &[u8]) -> Vec<u8> {
        let mut m = format!("Message-ID: {id}\n").into_bytes();
        m.extend(mail_with(name, "application/octet-stream", body));
        m
    }

    fn located(r: &Report) -> Vec<(String, String, Option<usize>)> {
        r.infections
            .iter()
            .map(|i| {
                (
                    i.name.clone(),
                    i.location.clone(),
                    i.message.as_ref().map(|m| m.number),
                )
            })
            .collect()
    }

    #[test]
    fn mailbox_messages_are_numbered_and_each_infected_one_listed() {
        let d = db(&[("e.ndb", "E:0:*:4549434152\n")]);
        let clean = b"nothing to see here";
        let bad = b"xx EICAR xx";
        let mut zipped = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        zipped
            .start_file("in.bin", zip::write::SimpleFileOptions::default())
            .unwrap();
        std::io::Write::write_all(&mut zipped, bad).unwrap();
        let zipped = zipped.finish().unwrap().into_inner();
        let mut no_id = mail_with("c.bin", "application/octet-stream", bad);
        no_id.splice(0..0, b"Subject: none\n".iter().copied());
        let boxed = mbox(&[
            mail_id("<m1@x>", "a.txt", clean),
            mail_id("<m2@x>", "b.bin", bad),
            mail_id("<m3@x>", "z.zip", &zipped),
            mail_id("<m4@x>", "d.txt", clean),
            no_id,
        ]);
        let s = Scanner::new(&d).each_message(true);
        let r = s.scan_bytes(&boxed);
        let e = |loc: &str, n| ("E".to_string(), loc.to_string(), Some(n));
        // Parts count within each message (the text part is part 1).
        assert_eq!(
            located(&r),
            [
                e("message 2 <m2@x>, part 2 \"b.bin\"", 2),
                e("message 3 <m3@x>, part 2 \"z.zip\"/in.bin", 3),
                e("message 5, part 2 \"c.bin\"", 5),
            ]
        );
        let first = Verdict::Infected {
            name: "E".into(),
            location: "message 2 <m2@x>, part 2 \"b.bin\"".into(),
        };
        assert_eq!(r.verdict, first);
        assert_eq!(
            r.infections[0].message.as_ref().unwrap().id.as_deref(),
            Some("<m2@x>")
        );
        // Without each_message: the same verdict, the first alone.
        let r = Scanner::new(&d).scan_bytes(&boxed);
        assert_eq!(r.verdict, first);
        assert_eq!(
            located(&r),
            [("E".into(), r.infections[0].location.clone(), None)]
        );
        // MaxFiles still bounds the walk: one message is found, then
        // the limit ends it.
        let r = Scanner::new(&d)
            .each_message(true)
            .limits(Limits { max_files: 4, ..Limits::default() })
            .scan_bytes(&boxed);
        assert_eq!(located(&r).len(), 1, "{:?}", r.infections);
        assert_eq!(r.verdict, first);
        // A lone message with an mbox `From ` line is not numbered.
        let one = mbox(&[mail_id("<m2@x>", "b.bin", bad)]);
        assert_eq!(
            Scanner::new(&d).each_message(true).scan_bytes(&one).verdict,
            Verdict::Infected {
                name: "E".into(),
                location: "part 2 \"b.bin\"".into()
            }
        );
        // Nor is a clean mailbox listed.
        let r = s.scan_bytes(&mbox(&[
            mail_id("<m1@x>", "a.txt", clean),
            mail_id("<m2@x>", "d.txt", clean),
        ]));
        assert_eq!((r.verdict, r.infections), (Verdict::Clean, Vec::new()));
    }

    #[test]
    fn a_mailbox_inside_a_container_is_one_object_with_numbered_messages() {
        let d = db(&[("e.ndb", "E:0:*:4549434152\n")]);
        let boxed = mbox(&[
            mail_id("<m1@x>", "a.bin", b"xx EICAR xx"),
            mail_id("<m2@x>", "b.bin", b"xx EICAR xx"),
        ]);
        let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        z.start_file("box", zip::write::SimpleFileOptions::default()).unwrap();
        std::io::Write::write_all(&mut z, &boxed).unwrap();
        let zipped = z.finish().unwrap().into_inner();
        let r = Scanner::new(&d).each_message(true).scan_bytes(&zipped);
        assert_eq!(
            located(&r),
            [(
                "E".into(),
                "box/message 1 <m1@x>, part 2 \"a.bin\"".into(),
                None
            )]
        );
    }

    #[test]
    fn a_message_with_only_a_heuristic_alert_is_listed_with_it() {
        let d = db(&[("e.ndb", "E:0:*:4549434152\n")]);
        let plain = b"just some text, nothing to run\n";
        let boxed = mbox(&[
            mail_id("<m1@x>", "a.txt", plain),
            mail_id("<m2@x>", "invoice.pdf.exe", plain),
            mail_id("<m3@x>", "b.bin", b"xx EICAR xx"),
            mail_id("<m4@x>", "report.doc.scr", plain),
        ]);
        let r = Scanner::new(&d).each_message(true).scan_bytes(&boxed);
        let h = "Heuristics.Mail.DoubleExtension";
        assert_eq!(
            located(&r),
            [
                (h.into(), "message 2 <m2@x>".into(), Some(2)),
                (
                    "E".into(),
                    "message 3 <m3@x>, part 2 \"b.bin\"".into(),
                    Some(3)
                ),
                (h.into(), "message 4 <m4@x>".into(), Some(4)),
            ]
        );
        // A signature outranks any alert, as in one message.
        assert!(
            matches!(&r.verdict, Verdict::Infected { name, .. } if name == "E")
        );
        // Alerts alone: the first stands for the mailbox, named.
        let boxed = mbox(&[
            mail_id("<m1@x>", "a.txt", plain),
            mail_id("<m2@x>", "invoice.pdf.exe", plain),
            mail_id("<m3@x>", "report.doc.scr", plain),
        ]);
        let r = Scanner::new(&d).each_message(true).scan_bytes(&boxed);
        assert_eq!(
            r.verdict,
            Verdict::Infected {
                name: h.into(),
                location: "message 2 <m2@x>".into()
            }
        );
        assert_eq!(r.infections.len(), 2);
    }

    #[test]
    fn mail_heuristics_name_their_trick() {
        let d = db(&[("t.ndb", "T:0:*:0102030405060708\n")]);
        let mut pe = vec![0u8; 512];
        pe[..2].copy_from_slice(b"MZ");
        pe[0x3c] = 0x80;
        pe[0x80..0x84].copy_from_slice(b"PE\0\0");
        let name = |v: Verdict| match v {
            Verdict::Infected { name, .. } => name,
            v => format!("{v:?}"),
        };
        let plain = b"just some text, nothing to run\n";
        assert_eq!(
            name(verdict(
                &d,
                &mail_with(
                    "invoice.pdf.exe",
                    "application/octet-stream",
                    plain
                )
            )),
            "Heuristics.Mail.DoubleExtension"
        );
        assert_eq!(
            name(verdict(
                &d,
                &mail_with(
                    "photo\u{202e}gpj.exe",
                    "application/octet-stream",
                    plain
                )
            )),
            "Heuristics.Mail.RightToLeftOverride"
        );
        assert_eq!(
            name(verdict(&d, &mail_with("holiday.jpg", "image/jpeg", &pe))),
            "Heuristics.Mail.TypeMismatch"
        );
        // A program sent as what it is alerts only when asked to.
        let setup = mail_with("setup.exe", "application/octet-stream", &pe);
        assert_eq!(verdict(&d, &setup), Verdict::Clean);
        let mut o = Options::default();
        o.heuristics.mail_executables = true;
        assert_eq!(
            name(
                Scanner::new(&d).options(o.clone()).scan_bytes(&setup).verdict
            ),
            "Heuristics.Mail.Executable.PE"
        );
        // A signature outranks any heuristic in the same message.
        let mut sig = pe.clone();
        sig.extend([1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(
            name(verdict(&d, &mail_with("holiday.jpg", "image/jpeg", &sig))),
            "T"
        );
        o.heuristics.enabled = false;
        let tricky = mail_with("invoice.pdf.exe", "image/jpeg", &pe);
        assert_eq!(
            Scanner::new(&d).options(o).scan_bytes(&tricky).verdict,
            Verdict::Clean
        );
    }

    #[test]
    fn allow_list_clears_container() {
        let d = db(&[
            ("e.ndb", "E:0:*:4549434152\n"),
            (
                "a.fp",
                &format!(
                    "{:x}:{}:Allowed\n",
                    HexMd5(b"outer EICAR outer"),
                    17
                ),
            ),
        ]);
        assert!(verdict(&d, b"xx EICAR").is_infected());
        assert_eq!(verdict(&d, b"outer EICAR outer"), Verdict::Clean);
    }

    struct HexMd5<'a>(&'a [u8]);
    impl std::fmt::LowerHex for HexMd5<'_> {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            for b in Md5::digest(self.0) {
                write!(f, "{b:02x}")?;
            }
            Ok(())
        }
    }

    /// HTML hidden in a GIF is scanned as HTML, as ClamAV scans it.
    #[test]
    fn html_in_a_gif_is_scanned_as_html() {
        let d = db(&[("h.ndb", "H:3:*:6576696c6d61726b6572\n")]);
        let mut gif = b"GIF89a\x01\0\x01\0\0\0\0".to_vec();
        gif.extend([0u8; 40]);
        gif.extend(b"<html><script>var evilmarker = 1;</script></html>");
        assert!(verdict(&d, &gif).is_infected());
        let mut plain = b"GIF89a\x01\0\x01\0\0\0\0".to_vec();
        plain.extend(b"no markup, evilmarker");
        assert!(!verdict(&d, &plain).is_infected());
    }

    #[test]
    fn text_target_sees_normalised_text() {
        let d = db(&[("t.ndb", "T:7:*:68656c6c6f20776f726c64\n")]);
        assert!(verdict(&d, b"Say HELLO\r\n   World now").is_infected());
        assert_eq!(verdict(&d, b"ab\x00\x01HELLO World"), Verdict::Clean);
    }

    #[test]
    fn crafted_input_cannot_make_a_gapped_pattern_quadratic() {
        // "AB" everywhere, "CD" nowhere: every "AB" is a candidate whose
        // gap search would scan to the end.
        let d = db(&[("t.ndb", "T:0:*:4142*4344\n")]);
        let data = b"AB".repeat(2 << 20);
        let t = std::time::Instant::now();
        let v = verdict(&d, &data);
        assert!(
            t.elapsed() < std::time::Duration::from_secs(20),
            "{:?}",
            t.elapsed()
        );
        assert!(
            matches!(
                v,
                Verdict::Clean
                    | Verdict::Uncheckable { reason: Reason::Timeout }
            ),
            "{v:?}"
        );
        let mut hit = data.clone();
        hit.extend(b"CD");
        assert!(verdict(&d, &hit[hit.len() - 64..]).is_infected());
    }

    #[test]
    fn a_uuencoded_file_is_decoded() {
        let d = db(&[("t.ndb", "T:0:*:41424344454647\n")]);
        // "xABCDEFGx" uuencoded.
        let uu = b"begin 644 t.bin\n)>$%\"0T1%1D=X\n`\nend\n";
        match verdict(&d, uu) {
            Verdict::Infected { location, .. } => {
                assert_eq!(location, "t.bin")
            }
            v => panic!("{v:?}"),
        }
    }

    #[test]
    fn objects_of_five_bytes_or_less_are_ignored_as_in_clamav() {
        let d = db(&[("t.ndb", "T:0:*:6162636465\n")]);
        assert_eq!(verdict(&d, b"abcde"), Verdict::Clean);
        assert!(verdict(&d, b"abcdex").is_infected());
    }

    #[test]
    fn limits_make_uncheckable() {
        let d = db(&[("t.ndb", "T:0:*:41424344\n")]);
        let mut e = flate2::write::GzEncoder::new(
            Vec::new(),
            flate2::Compression::fast(),
        );
        std::io::Write::write_all(&mut e, &vec![b'x'; 10_000]).unwrap();
        let gz = e.finish().unwrap();
        let s = Scanner::new(&d)
            .limits(Limits { max_file_size: 1000, ..Limits::default() });
        assert_eq!(
            s.scan_bytes(&gz).verdict,
            Verdict::Uncheckable { reason: Reason::FileSizeLimit }
        );
    }
}

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

use crate::filetype::{self, FileType};
use crate::heur::{self, Heur, Heuristics};
use crate::module::{
    Eof, ObjectInfo, T_ANY, T_ELF, T_EMBEDDED, T_EMBEDDED_EXE, T_GRAPHICS,
    T_HTML, T_JAVA, T_MACHO, T_MAIL, T_OLE2, T_PDF, T_PE, T_SWF, T_TEXT,
};
use crate::pe::{self, Pe, PeInfo};
use crate::sigs::cdb::Member;
use crate::unpack::{self, Budget, Sink};
use crate::verdict::Reason;
use crate::{Database, ScanError};

mod certs;
mod child;
mod embedded;
mod exe;
mod hashes;
mod report;
mod unpackers;

use child::ChildScan;
pub use report::{Infection, MailboxMessage, Report};

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
    /// Check signed executables against the database's certificate
    /// rules and catalogs (clamscan's `--nocerts` turns this off).
    pub certs: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            archives: true,
            mail: true,
            heuristics: Heuristics::default(),
            certs: true,
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
    /// What the last raw pass's embedded-type patterns found.
    types: Vec<(u32, usize)>,
    /// The input message's leaf that alert was raised in.
    alert_part: Option<std::ops::Range<usize>>,
    objects: u64,
    bytes: u64,
    /// With `each_message`, the infected messages of the input mailbox.
    infections: Vec<Infection>,
    /// An unpacker failed where ClamAV leaves its executable scan: no
    /// other unpacker tries the file.
    ends_executable: bool,
}

/// What an object is to ClamAV, which decides how it is scanned.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Place {
    /// A file of its own: the input, or what a parser wrote out.
    Whole,
    /// A disk's partition: typed as ClamAV types partitions, and not
    /// searched for files inside it.
    Partition,
    /// A slice of its parent's bytes, or a buffer a parser filled: not
    /// searched for files inside it either (ClamAV's raw scan looks for
    /// those only at an object's first layer of its own).
    Slice,
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
    /// The input message's MIME leaf it was found in (`Sink::part`).
    part: Option<std::ops::Range<usize>>,
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
        let io =
            |source| ScanError::Io { path: path.to_path_buf(), cause: source };
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
            types: Vec::new(),
            alert_part: None,
            objects: 0,
            bytes: 0,
            infections: Vec::new(),
            ends_executable: false,
        };
        if data.len() as u64 > self.limits.max_file_size {
            return self.too_big();
        }
        let found = self.object(&mut ctx, data, None, 0, 0, Place::Whole);
        let h = &self.options.heuristics;
        let mut infections = ctx.infections;
        let mut part = None;
        let verdict = match (found, ctx.alert, ctx.skipped) {
            (Some(f), _, _) => {
                part = f.part;
                Verdict::Infected { name: f.name, location: f.path.join("/") }
            }
            (None, Some(name), _) => {
                part = ctx.alert_part;
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
                    part,
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
                part: None,
            }],
            _ => Vec::new(),
        };
        Report { verdict, infections, objects: 1, bytes: 0 }
    }

    /// Scans one object; `targets` adds target types its own bytes are
    /// matched with (a VBA module is OLE2's, whatever it looks like);
    /// `place` says what ClamAV would have made of it.
    fn object(
        &self,
        ctx: &mut Ctx,
        data: &[u8],
        parent: Option<&Layer<'_>>,
        depth: u32,
        targets: u16,
        place: Place,
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
        // ClamAV's partition typing knows HFS+ alone; what it does not
        // type is read here as any object is (a FAT volume, say).
        let kind = if place == Place::Partition && filetype::is_hfsplus(data) {
            FileType::HfsPlus
        } else {
            filetype::detect_with(
                data,
                self.db.magic_type(&data[..data.len().min(1024)]),
            )
        };
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
        if kind == FileType::HtmlUtf16 {
            // The page folded to bytes is scanned as HTML first, as
            // ClamAV scans it before the raw bytes.
            let page = filetype::utf16_to_ascii(data);
            if let Some(f) = self.html_passes(ctx, &page, &layer) {
                return Some(f);
            }
        }
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
        // A signed executable the database trusts is clean, blocked
        // reported, before anything else is matched in it.
        if kind == FileType::Pe
            && let Some(decided) = self.authenticode(&layer)
        {
            return decided;
        }
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
        let embedded = Self::embedded_mask(kind, place);
        if let Some(f) = self.raw_pe(
            ctx,
            data,
            mask | embedded,
            eof,
            &layer,
            true,
            pe.as_ref(),
        ) {
            return Some(f);
        }
        if embedded != 0 {
            let types = std::mem::take(&mut ctx.types);
            if let Some(f) = self.embedded(ctx, &layer, types, depth) {
                return Some(f);
            }
        }
        if kind == FileType::Pe
            && let Some(f) = self.executable(ctx, &layer, depth)
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
        self.walk(ctx, layer, kind, depth, unpack, true)
    }

    /// [`Scanner::children`]; without `damage`, a walk that found its
    /// container damaged does not say so (a pattern met by chance inside
    /// another file is no damaged archive).
    fn walk(
        &self,
        ctx: &mut Ctx,
        layer: &Layer<'_>,
        kind: FileType,
        depth: u32,
        unpack: Unpacker,
        damage: bool,
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
            part: None,
        };
        let out = unpack(layer.data, &mut sink);
        let (skipped, ends) = (out.skipped, out.ends_executable);
        let found = sink.found.take();
        sink.ctx.ends_executable |= ends;
        if let Some(a) = sink.first_alert.take() {
            // The first alert of all stands for the input, as without
            // `each_message`.
            sink.ctx.alert = Some(a);
        }
        if let Some(r) = skipped
            && (damage || !matches!(r, Reason::Malformed { .. }))
        {
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
        let eof = Eof::Normalized(data.len() as u64);
        for form in [&norm.nocomment, &norm.notags] {
            if let Some(f) =
                self.raw(ctx, form, T_ANY | T_HTML, eof, layer, false)
            {
                return Some(f);
            }
        }
        // The normalised scripts: ClamAV scans its `javascript` file as
        // HTML, then as text.
        let js = &norm.javascript;
        if js.is_empty() {
            return None;
        }
        if let Some(f) = self.raw(ctx, js, T_ANY | T_HTML, eof, layer, false) {
            return Some(f);
        }
        if self.db.text_pass {
            return self.raw(ctx, js, T_ANY | T_TEXT, eof, layer, false);
        }
        None
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
        ctx.types = std::mem::take(&mut hits.types);
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
        Some(Found { name: self.sig_name(n), path: Vec::new(), part: None })
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
mod tests;

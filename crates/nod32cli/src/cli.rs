//! nod32cli's command line, kept apart so that `cargo xtask dist` can
//! render the same definition as the man page and shell completions.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// The scanner's arguments.
#[derive(Parser, Debug)]
#[command(
    name = "nod32cli",
    version,
    about = "Scan files, directories and mail for viruses",
    long_about = "Scan files, directories (recursively), mailboxes and standard input (-) \
                  with the nod32 engine. Without --db the loading module named by the \
                  configuration (/etc/nod32/nod32.toml; default /var/lib/nod32/nod32.000) \
                  is used, else the small built-in one.\n\n\
                  Each infected object is a line `name=\"PATH\", virus=\"NAME\", \
                  action=\"retained\", info=\"WHERE\"`; clean files are not listed. \
                  A mailbox of several messages gets one line per infected message, \
                  named in info by number and Message-ID with its parts counted \
                  within it (`message 3 <id@example.org>, part 2 \"e.com\"`); the \
                  summary counts the mailbox once as an infected file and adds \
                  `Infected messages`.\n\n\
                  Exit status (nod32 format): 0 clean, 1 infected, 2 infected and cleaned, \
                  3 some objects not scanned and nothing found, 10 error. \
                  With --format clamscan: 0 clean, 1 infected, 2 error or some object \
                  not scanned (`PATH: Not scanned (REASON) ERROR`; clamscan says OK there).",
    after_long_help = "EXAMPLES\n  nod32cli /var/mail/alice\n  nod32cli --format clamscan -r /srv/upload\n  \
nod32cli compile /var/lib/clamav/main.cvd local.ndb -o /var/lib/nod32/nod32.000\n  \
nod32cli quarantine list\n\n\
FILES\n  /etc/nod32/nod32.toml, /var/lib/nod32/nod32.000, /var/spool/nod32/quarantine\n\n\
SEE ALSO\n  nod32.toml(5), nod32upd(8), nod32mda(1), clamscan(1)",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub(crate) command: Option<Command>,
    #[command(flatten)]
    pub(crate) scan: ScanArgs,
}

#[derive(Subcommand, Debug)]
pub(crate) enum Command {
    /// Compile ClamAV signature files, directories or CVD/CLD containers
    /// into one loading module.
    ///
    /// A directory is read as ClamAV reads its DatabaseDirectory
    /// (clamscan -d DIR): every file whose extension libclamav loads,
    /// .ign/.ign2 first; of NAME.cvd and NAME.cld only the newer.
    /// `nod32cli compile DB_DIR [LOCAL_DIR]` with nod32upd's [upd]
    /// db_dir and local_dir builds the very module nod32upd builds.
    /// Files of kinds the engine cannot use yet are named in a warning.
    Compile {
        /// Signature sources.
        #[arg(required = true)]
        sources: Vec<PathBuf>,
        /// The module file to write (replaced atomically).
        #[arg(short, long)]
        output: PathBuf,
        #[command(flatten)]
        pua: Pua,
    },
    /// Print the `.idb` hash of each icon of Windows executables: the
    /// icons of the first icon group, as signatures compare them.
    ///
    /// Each line is `FILE: ICON_NAME:GROUP1:GROUP2:HASH`; give the icon
    /// a name and the groups an `.ldb` rule names in `IconGroup1` and
    /// `IconGroup2`, and it is an `.idb` signature. An icon compared at a
    /// size an `.idb` line cannot take (72, 120, 144 pixels... halved to
    /// 18, 30...) is named on standard error instead.
    Icons {
        /// Executables.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Print a `.crb` trust rule for each certificate of Windows
    /// executables' Authenticode signatures (RSA keys the check can use):
    /// subject, serial and modulus, and the code/time/cert flags as the
    /// check reads them. A rule trusts a certificate whose flags are
    /// within its own; `0` in the second field makes it a block rule.
    Certs {
        /// Signed executables.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Write an HTML page's normalised forms into a directory, as
    /// `sigtool --html-normalise` does: `nocomment.html`, `notags.html`
    /// and, if the page has scripts, `javascript`, the texts HTML (target
    /// type 3) signatures are matched against.
    HtmlNormalise {
        /// The page.
        file: PathBuf,
        /// Where to write the forms (made if missing).
        dir: PathBuf,
    },
    /// List, show, release or delete quarantined messages
    /// ([global].quarantine_dir).
    ///
    /// Run as root over a directory the service user writes, these read
    /// only what root or that user could have stored: the directory must
    /// be owned by root or [global].user and writable by its owner only;
    /// each entry is opened without following links and must be a
    /// regular file with one link, owned by root, [global].user or the
    /// user running nod32cli. A symbolic link, hard link, FIFO or
    /// another user's file is refused with the reason and left alone.
    Quarantine {
        /// The configuration file.
        #[arg(short = 'c', long, value_name = "FILE", default_value = nod32_config::DEFAULT_PATH)]
        config: PathBuf,
        #[command(subcommand)]
        op: QuarantineOp,
    },
}

#[derive(Subcommand, Debug)]
pub(crate) enum QuarantineOp {
    /// One line per message: ID, time, status, virus, sender, recipients
    /// (control characters shown as \x1b, \u{9b}, ...).
    List {
        /// One JSON array of the sidecars instead.
        #[arg(long)]
        json: bool,
    },
    /// A message's metadata, then the original message, with control
    /// characters (terminal escapes) shown as \x1b, \r, \u{9b}; line
    /// ends and tabs are kept. --raw for the exact bytes.
    Show {
        /// The quarantine ID.
        id: String,
        /// Print the stored message alone, byte for byte, without the
        /// metadata and unescaped (for a file or a pipe).
        #[arg(long)]
        raw: bool,
    },
    /// Send a message on to its recipients (or --to) with sendmail -i,
    /// then remove it from quarantine.
    Release {
        /// The quarantine ID.
        id: String,
        /// Deliver to these addresses instead of the original recipients.
        #[arg(long, value_name = "ADDRESS")]
        to: Vec<String>,
    },
    /// Remove messages for good.
    Delete {
        /// Quarantine IDs.
        #[arg(required = true)]
        ids: Vec<String>,
    },
}

/// What to do with an object of one verdict class.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Action {
    /// Report it and leave it.
    Accept,
    /// Remove the infiltration: for a plain file, the file.
    Clean,
    /// Delete the file.
    Delete,
}

/// Output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// NOD32's `name="…", virus="…"` lines (what amavisd-new parses).
    Nod32,
    /// clamscan's `PATH: NAME FOUND` / `PATH: OK` lines and exit codes; an
    /// object not fully scanned is `PATH: Not scanned (REASON) ERROR`; a
    /// signature from a file other than an official ClamAV container
    /// (.cvd, .cld) is `NAME.UNOFFICIAL`, as clamscan names it.
    Clamscan,
    /// One JSON document with every result and the summary; an infected
    /// result lists each infected message of a mailbox in `infections`.
    Json,
}

/// Potentially unwanted applications, chosen when signatures are
/// compiled (a loading module holds them or not), as clamscan chooses.
#[derive(clap::Args, Clone, Debug, Default)]
pub(crate) struct Pua {
    /// Load the PUA signatures too (.hdu .hsu .ndu .ldu .mdu .msu files),
    /// off by default as in ClamAV. Their detections, like any signature
    /// named PUA.* or Heuristics.*, are reported only when nothing else
    /// is found.
    #[arg(long)]
    pub(crate) detect_pua: bool,
    /// Only PUA signatures of this category (Win.Tool, Packed, …: any
    /// part of the name between `PUA.` and its last dot). Repeatable;
    /// as in clamscan, several are joined `.A.B.` and must occur so in
    /// the name. Implies --detect-pua.
    #[arg(long, value_name = "CATEGORY", conflicts_with = "exclude_pua")]
    pub(crate) include_pua: Vec<String>,
    /// PUA signatures except this category. Repeatable. Implies
    /// --detect-pua.
    #[arg(long, value_name = "CATEGORY")]
    pub(crate) exclude_pua: Vec<String>,
}

impl Pua {
    /// What to load, if PUA detection is on.
    pub(crate) fn categories(&self) -> Option<nod32_engine::PuaCategories> {
        use nod32_engine::PuaCategories as C;
        if !self.include_pua.is_empty() {
            Some(C::Include(self.include_pua.clone()))
        } else if !self.exclude_pua.is_empty() {
            Some(C::Exclude(self.exclude_pua.clone()))
        } else {
            self.detect_pua.then_some(C::All)
        }
    }
}

#[derive(clap::Args, Debug)]
pub(crate) struct ScanArgs {
    /// Files, directories or `-` for standard input.
    pub(crate) paths: Vec<PathBuf>,
    /// A loading module, or ClamAV signature files/directories/CVDs
    /// (compiled in memory). Repeatable.
    #[arg(long = "db", short = 'd', value_name = "PATH")]
    pub(crate) db: Vec<PathBuf>,
    /// PUA detection, for signatures compiled here from --db sources.
    #[command(flatten)]
    pub(crate) pua: Pua,
    /// The configuration file ([global] and [cli] apply).
    #[arg(short = 'c', long, value_name = "FILE", default_value = nod32_config::DEFAULT_PATH)]
    pub(crate) config: PathBuf,
    /// Check the configuration file and exit (0 if it is valid).
    #[arg(long)]
    pub(crate) check_config: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Nod32)]
    pub(crate) format: Format,
    /// Print only infected and unscanned objects (the default prints
    /// clean files too with --format clamscan).
    #[arg(short = 'i', long = "infected")]
    pub(crate) infected_only: bool,
    /// Do not print the summary.
    #[arg(long = "no-summary", alias = "disable-summary")]
    pub(crate) no_summary: bool,
    /// Scanning threads (default: one per core).
    #[arg(long, value_name = "N")]
    pub(crate) threads: Option<usize>,
    /// Action on infected objects.
    #[arg(long, value_enum, default_value_t = Action::Accept)]
    pub(crate) action_on_infected: Action,
    /// Action on infected objects that cannot be cleaned. A file on disk
    /// can always be cleaned by deleting it, so only the mail agents,
    /// which clean parts of messages, use this; accepted here for
    /// amavisd-new's argument list.
    #[arg(long, value_enum, default_value_t = Action::Accept)]
    pub(crate) action_on_uncleanable: Action,
    /// Action on objects that could not be scanned (accept only).
    #[arg(long, value_enum, default_value_t = Action::Accept)]
    pub(crate) action_on_notscanned: Action,
    /// Do not open archives.
    #[arg(long)]
    pub(crate) no_archives: bool,
    /// Do not parse mail into its parts.
    #[arg(long)]
    pub(crate) no_mail: bool,
    /// MaxFileSize: bytes, or a number with K, M or G (as clamscan).
    #[arg(long, value_name = "SIZE", value_parser = size)]
    pub(crate) max_filesize: Option<u64>,
    /// MaxScanSize: bytes, or a number with K, M or G.
    #[arg(long, value_name = "SIZE", value_parser = size)]
    pub(crate) max_scansize: Option<u64>,
    /// MaxRecursion.
    #[arg(long, value_name = "N")]
    pub(crate) max_recursion: Option<u32>,
    /// MaxFiles.
    #[arg(long, value_name = "N")]
    pub(crate) max_files: Option<u32>,
    /// MaxScanTime in seconds.
    #[arg(long, value_name = "SECONDS")]
    pub(crate) max_scantime: Option<u64>,
    /// Never show a progress bar.
    #[arg(long)]
    pub(crate) no_progress: bool,

    // NOD32 engine switches, as amavisd-new's entries pass them.
    /// Treat the paths as directories of parts (amavis); directories are
    /// always scanned recursively.
    #[arg(long)]
    pub(crate) subdir: bool,
    /// Scan files (always on).
    #[arg(long)]
    pub(crate) files: bool,
    /// Scan archives (on by default; see --no-archives).
    #[arg(short = 'z', long = "arch")]
    pub(crate) arch: bool,
    /// Scan mail files (on by default; see --no-mail).
    #[arg(long)]
    pub(crate) mail: bool,
    /// Self-extracting archives (accepted; opened by the archive walk).
    #[arg(long)]
    pub(crate) sfx: bool,
    /// Runtime packers (accepted; unpackers come with the engine).
    #[arg(long)]
    pub(crate) rtp: bool,
    /// Adware detection (accepted; the loaded signatures decide).
    #[arg(long)]
    pub(crate) adware: bool,
    /// Potentially unsafe applications (accepted).
    #[arg(long)]
    pub(crate) unsafe_apps: bool,
    /// Signatures (always on).
    #[arg(long)]
    pub(crate) pattern: bool,
    /// Heuristics (accepted; heuristic_alerts in the config decides).
    #[arg(long)]
    pub(crate) heur: bool,
    /// No heuristic alerts at all, whatever the config says.
    #[arg(long)]
    pub(crate) no_heuristic_alerts: bool,
    /// Alert on encrypted archives and documents
    /// (Heuristics.Encrypted.*).
    #[arg(long)]
    pub(crate) alert_encrypted: bool,
    /// Alert on encrypted archives (Heuristics.Encrypted.Zip/7Zip/RAR).
    #[arg(long)]
    pub(crate) alert_encrypted_archive: bool,
    /// Alert on encrypted documents (Heuristics.Encrypted.PDF/OLE2).
    #[arg(long)]
    pub(crate) alert_encrypted_doc: bool,
    /// Alert when a limit leaves something unscanned
    /// (Heuristics.Limits.Exceeded.<Limit>).
    #[arg(long)]
    pub(crate) alert_exceeds_max: bool,
    /// Alert on broken executables (Heuristics.Broken.Executable).
    #[arg(long)]
    pub(crate) alert_broken: bool,
    /// Alert on Office documents with macros
    /// (Heuristics.OLE2.ContainsMacros.VBA, .XLM for Excel 4.0 macro sheets).
    #[arg(long)]
    pub(crate) alert_macros: bool,
    /// Alert on any mail attachment that is a program
    /// (Heuristics.Mail.Executable.<Kind>).
    #[arg(long)]
    pub(crate) alert_mail_executables: bool,
    /// Alert on mail whose MIME structure had to be repaired to be read
    /// (Heuristics.Mail.Malformed.<What>).
    #[arg(long)]
    pub(crate) alert_mail_malformed: bool,
    /// Do not check mail links against the phishing lists (.pdb, .gdb,
    /// .wdb).
    #[arg(long)]
    pub(crate) no_phishing_scan_urls: bool,
    /// Alert on an https URL shown over a plain link on any domain
    /// (Heuristics.Phishing.Email.SSL-Spoof).
    #[arg(long)]
    pub(crate) alert_phishing_ssl: bool,
    /// Alert on a link hiding its host behind %00 on any domain
    /// (Heuristics.Phishing.Email.Cloaked.Null).
    #[arg(long)]
    pub(crate) alert_phishing_cloak: bool,
    /// Do not check signed executables against the database's
    /// certificate rules (.crb) and catalogs (.cat), as clamscan's
    /// --nocerts.
    #[arg(long)]
    pub(crate) nocerts: bool,
    /// Advanced heuristics (accepted).
    #[arg(short = 'w', long = "adv-heur")]
    pub(crate) adv_heur: bool,
    /// All files whatever their extension (always on).
    #[arg(short = 'a', long = "all-files")]
    pub(crate) all_files: bool,

    // clamscan compatibility, so scripts written for it keep working.
    /// Scan directories recursively (always on).
    #[arg(short = 'r', long)]
    pub(crate) recursive: bool,
    /// Write to standard output (always).
    #[arg(long)]
    pub(crate) stdout: bool,
    /// Accepted for clamscan compatibility; nothing is written to disk.
    #[arg(long, value_name = "DIR")]
    pub(crate) tempdir: Option<PathBuf>,
}

fn size(s: &str) -> Result<u64, String> {
    nod32_config::parse_size(s)
        .ok_or_else(|| "expected bytes, or a number with K, M or G".into())
}

//! nod32upd's command line, kept apart so that `cargo xtask dist` can
//! render the same definition as the man page and shell completions.

use std::path::PathBuf;

use clap::Parser;

#[derive(Parser, Debug)]
#[command(
    name = "nod32upd",
    version,
    about = "Fetch and verify ClamAV databases and build the NOD32 loading module",
    long_about = "Checks each database in [upd] databases against the servers in \
[upd] servers, in order; downloads a newer one, verifies its MD5 and digital \
signature, test-loads it, stores it in [upd] db_dir, and rebuilds the loading \
module ([global] module) so that running agents pick it up at their next \
message or SIGHUP. The module is built from every file in db_dir that ClamAV \
would load from it as its DatabaseDirectory (local and third-party signature \
files too), then from [upd] local_dir, as `nod32cli compile DB_DIR [LOCAL_DIR]` \
builds it; it is rebuilt when a database or one of those files changed. A \
rebuilt module with no body signatures, or with fewer than half the signatures \
of the running one, is refused (see --force). A failure at any step keeps \
what was there. Started as root, it downloads, verifies and compiles in a \
child running as [global] user, and only writes the result into place as \
root: the signature files must be readable by that user.\n\n\
Exit status: 0 current, 1 some database could not be fetched (or the module \
could not be built), 2 usage, 3 another nod32upd is running, 4 a database's \
installed version is far above every server's (see --force), 5 the rebuilt \
module was refused and nothing was installed (see --force), 10 configuration \
error, 107 a download failed verification or a version bound.",
    after_long_help = "FILES\n  /etc/nod32/nod32.toml, /etc/nod32/nod32.auth (user name and password of \
the update servers), /var/lib/nod32/nod32.000 (the module), /var/lib/nod32/clamav (db_dir; its .work belongs to [global] user), \
/var/lib/nod32/mirror \
(mirror_dir)\n\n\
SEE ALSO\n  nod32.toml(5), nod32cli(1), freshclam(1), /usr/share/doc/nod32/GUIDE.md"
)]
pub struct Cli {
    /// Configuration file.
    #[arg(short = 'c', long = "config", default_value = nod32_config::DEFAULT_PATH)]
    pub config: PathBuf,
    /// Log to stderr instead of syslog.
    #[arg(short = 'f', long)]
    pub foreground: bool,
    /// Only rebuild the module from the files on disk (db_dir, local_dir).
    #[arg(long)]
    pub compile_only: bool,
    /// Take a server's version even when it is older than the local one,
    /// or more than 1000 versions newer; install a rebuilt module even
    /// when it has no body signatures or fewer than half the running
    /// one's.
    #[arg(long)]
    pub force: bool,
    /// Use this server instead of [upd] servers (repeatable).
    #[arg(long = "server", value_name = "URL")]
    pub servers: Vec<String>,
    /// Check the configuration and exit.
    #[arg(long)]
    pub check_config: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Make a key pair for signing a mirror's or a feed's update.ver: the
    /// secret goes into FILE (mode 0600), the public key (for the
    /// subordinates' [upd] mirror_public_key) to stdout.
    Keygen {
        /// Where the secret key is written (never overwritten).
        file: PathBuf,
    },
    /// (Internal) the part of a run that talks to the servers, started
    /// by nod32upd itself: it drops to [global] user and hands what
    /// verifies to its parent on stdout.
    #[command(hide = true)]
    Fetch {
        /// The process id of the nod32upd that started it.
        #[arg(long)]
        parent: i32,
    },
    /// Write and sign DIR/update.ver for the .cvd and .cdiff files in DIR.
    Sign {
        /// The secret-key file from `nod32upd keygen`.
        #[arg(long)]
        key: PathBuf,
        /// The directory a web server serves.
        dir: PathBuf,
    },
}

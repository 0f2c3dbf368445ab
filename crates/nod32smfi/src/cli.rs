//! nod32smfi's command line, kept apart so that `cargo xtask dist` can
//! render the same definition as the man page and shell completions.

use std::path::PathBuf;

use clap::Parser;

#[derive(Parser, Debug)]
#[command(
    name = "nod32smfi",
    version,
    about = "The NOD32 milter for Postfix and Sendmail",
    long_about = "The NOD32 milter for Postfix (smtpd_milters, non_smtpd_milters) and \
Sendmail (INPUT_MAIL_FILTER). It listens on [smfi] smfi_sock_path (a unix socket, \
unix:PATH or inet:PORT@HOST), and the MTA hands it each message's envelope, header \
and body; at the end of the message the verdict is scanned and answered: continue \
(perhaps with X-NOD32Result, a subject tag, a footer or infected parts cut out), \
discard, or 550 5.7.1 / 451 4.7.1 naming the virus. The MTA's milter_default_action \
(Postfix) or F=T (Sendmail) decides what happens while nod32smfi is not running: \
tempfail keeps every message queued.\n\n\
nod32smfi starts as root, takes its socket, and runs as [global] user. It maps the \
loading module ([global] module) itself and takes a new one when nod32upd replaces \
it. Started by systemd with a nod32smfi.socket, it uses the socket it is given.",
    after_long_help = "SIGNALS\n  SIGHUP   reload the configuration and the module; sessions \
open at that moment finish with the old ones.\n  SIGTERM  stop taking connections and \
finish the messages in progress.\n\n\
EXIT STATUS\n  0 stopped by SIGTERM or the configuration is valid, 2 usage, 10 the \
configuration is wrong or the socket cannot be taken.\n\n\
FILES\n  /etc/nod32/nod32.toml, /var/lib/nod32/nod32.000\n\n\
SEE ALSO\n  nod32.toml(5), nod32smtp(8), nod32upd(8), /usr/share/doc/nod32/GUIDE.md"
)]
pub struct Cli {
    /// Configuration file.
    #[arg(short = 'c', long = "config", value_name = "FILE", default_value = nod32_config::DEFAULT_PATH)]
    pub config: PathBuf,
    /// Log to stderr instead of syslog (each line after its time, unless
    /// stderr is systemd's journal).
    #[arg(short = 'f', long)]
    pub foreground: bool,
    /// Go to the background once listening (for init scripts without
    /// supervision); needs --pid-file.
    #[arg(long, requires = "pid_file")]
    pub daemon: bool,
    /// Write the process id here once listening; removed at the end.
    #[arg(long, value_name = "FILE")]
    pub pid_file: Option<PathBuf>,
    /// Log what would be done and accept every message unchanged.
    #[arg(long)]
    pub dry_run: bool,
    /// Check the configuration and exit.
    #[arg(long)]
    pub check_config: bool,
}

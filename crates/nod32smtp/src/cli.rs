//! nod32smtp's command line, kept apart so that `cargo xtask dist` can
//! render the same definition as the man page and shell completions.

use std::path::PathBuf;

use clap::Parser;

#[derive(Parser, Debug)]
#[command(
    name = "nod32smtp",
    version,
    about = "The NOD32 scanning SMTP proxy",
    long_about = "The NOD32 scanning SMTP proxy: Postfix's after-queue content_filter, \
its before-queue smtpd_proxy_filter, or a relay in front of any next hop. It listens \
on [smtp] listen_addr:listen_port (or a unix socket), relays each client session to \
[smtp] server_addr:server_port command by command, and scans every message before the \
next hop gets it: clean mail goes on (the client hears the next hop's reply), \
infected mail is refused with 550 5.7.1, discarded or marked, as the policy says; \
when it cannot decide it answers 451 so the sender keeps the message. STARTTLS on \
both sides, PIPELINING, CHUNKING, 8BITMIME, SMTPUTF8, SIZE, DSN and XFORWARD are \
passed on.\n\n\
nod32smtp starts as root, takes its socket, reads its TLS key and runs as [global] \
user. It maps the loading module ([global] module) itself and takes a new one when \
nod32upd replaces it. Started by systemd with a nod32smtp.socket, it uses the socket \
it is given.",
    after_long_help = "SIGNALS\n  SIGHUP   reload the configuration, TLS keys and the \
module; sessions open at that moment finish with the old ones.\n  SIGTERM  stop \
taking connections and finish the transactions in progress.\n\n\
EXIT STATUS\n  0 stopped by SIGTERM or the configuration is valid, 2 usage, 10 the \
configuration is wrong or the socket cannot be taken.\n\n\
FILES\n  /etc/nod32/nod32.toml, /var/lib/nod32/nod32.000\n\n\
SEE ALSO\n  nod32.toml(5), nod32smfi(8), nod32upd(8), /usr/share/doc/nod32/GUIDE.md"
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
    /// Check the configuration (and the TLS keys) and exit.
    #[arg(long)]
    pub check_config: bool,
}

//! nod32mda's own options, kept apart so that `cargo xtask dist` can
//! render the same definition as the man page and shell completions.
//! The MTA's arguments for the real agent are not clap's business: they
//! are split off before this parses what follows the last `--`.

use std::path::PathBuf;

use clap::Parser;

#[derive(Parser, Debug, Default)]
#[command(
    name = "nod32mda",
    version,
    about = "Scan mail at delivery, in front of the local delivery agent",
    override_usage = "nod32mda [REAL_MDA_ARGS]... [-- OPTIONS...]\n       \
                      NAME [REAL_MDA_ARGS]...   (installed as NAME, the real agent renamed NAME.nod32)",
    long_about = "The MTA runs nod32mda instead of the local delivery agent (procmail, \
maildrop, deliver, ...). It reads the message on standard input, scans it, applies \
the policy of [mda] and [global], and hands clean or marked mail to the real agent \
([mda] mda_path, or NAME.nod32 when nod32mda is installed as NAME) with the same \
arguments REAL_MDA_ARGS, on its standard input, by exec. nod32mda's own options \
come after the last --; everything before it is the real agent's.\n\n\
Infected mail is refused with the MTA's exit codes ([mda] exit codes: 69 and 75 \
for Postfix, Sendmail and Exim, 100 and 111 for qmail) and a \"5.7.1 ...\" line on \
standard output. Whatever goes wrong before the real agent has the message ends in \
the temporary-failure code, so the message stays queued.",
    after_long_help = "ENVIRONMENT\n  NOD32_CONFIG  the configuration file when -c is not \
given (the only way to name one when installed in the real agent's place).\n  SENDER, \
RECIPIENT  the envelope, as Postfix's local(8) sets them, when --sender and \
--recipient are not given.\n\n\
FILES\n  /etc/nod32/nod32.toml, /var/lib/nod32/nod32.000\n\n\
SEE ALSO\n  nod32.toml(5), nod32cli(1), /usr/share/doc/nod32/GUIDE.md",
    disable_help_flag = true,
    disable_version_flag = true
)]
pub struct Cli {
    /// Configuration file [default: $NOD32_CONFIG, else /etc/nod32/nod32.toml].
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Envelope sender [default: $SENDER].
    #[arg(short = 'f', long, value_name = "ADDRESS")]
    pub sender: Option<String>,
    /// Envelope recipient, repeatable [default: $RECIPIENT].
    #[arg(short = 'r', long = "recipient", value_name = "ADDRESS")]
    pub recipients: Vec<String>,
    /// The local user (the recipient when none is given).
    #[arg(short = 'u', long, value_name = "NAME")]
    pub user: Option<String>,
    /// Check the configuration and exit.
    #[arg(long)]
    pub check_config: bool,
    /// Print version.
    #[arg(short = 'V', long, action = clap::ArgAction::SetTrue)]
    pub version: bool,
    /// Print help.
    #[arg(short = 'h', long, action = clap::ArgAction::SetTrue)]
    pub help: bool,
}

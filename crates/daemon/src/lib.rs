//! What the long-running services (nod32smtp, nod32smfi) share, so that
//! each is its protocol and nothing else: the command line and
//! `--check-config` ([`parse_args`], [`check_config`]), going to the
//! background ([`background`]), the listening socket (bound, or passed by
//! systemd) and its connections ([`Listener`]), the user it runs as
//! ([`resolve`], [`drop_privileges`]), the pid file, the stop signals
//! ([`stop_flag`]), connection threads reused ([`Workers`]), the scan
//! semaphore ([`Sem`]) and the drain at stop ([`drain`]). The reload on
//! SIGHUP is `nod32_agent::Live`.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod privileges;
pub mod service;
mod start;

pub use privileges::{PrivilegeError, drop_privileges, resolve};
pub use service::{
    Accepted, Listener, Permit, PidFile, Sem, SetupError, Workers, detach,
};
pub use start::{
    EXIT_CONFIG, StartError, background, check_config, drain, parse_args,
    stop_flag,
};

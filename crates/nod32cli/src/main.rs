//! `nod32cli`: see the library crate for what it does.
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(nod32cli::main_with_args(std::env::args_os()))
}

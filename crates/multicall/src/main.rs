//! `nod32`: nod32cli, nod32mda, nod32smfi, nod32smtp and nod32upd in one
//! executable, chosen by the name it runs under (links named like the
//! binaries), busybox-style, over the binaries' libraries; linking them
//! once shares the engine, the standard library, clap and the rest, so
//! the installed suite is a third of five separate binaries (`cargo
//! xtask dist` prints both). Any other name is nod32mda, which may be
//! installed in a delivery agent's place (as `procmail`).
#![forbid(unsafe_code)]

fn main() {
    let argv0 = std::env::args_os().next().unwrap_or_default();
    let name = std::path::Path::new(&argv0)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_string();
    match name.as_str() {
        "nod32cli" => std::process::exit(i32::from(nod32cli::main_with_args(
            std::env::args_os(),
        ))),
        "nod32smfi" => nod32smfi::run(),
        "nod32smtp" => nod32smtp::run(),
        "nod32upd" => nod32upd::run(),
        _ => nod32mda::run(),
    }
}

//! `nod32mda`: see the library crate for what it does.
#![forbid(unsafe_code)]

fn main() {
    nod32mda::run()
}

//! Tells the code whether it is optimised: at opt-level 0 the
//! `std::arch` intrinsics of the vector paths (`module/filter.rs`,
//! `mime/base64x.rs`) are calls, not instructions, and those paths run
//! several times slower than the scalar code they stand in for (a debug
//! nod32cli took 20 s instead of a few on the zip-bomb test). Debug
//! builds keep the scalar code; every optimised build (release, the
//! test profile's opt-level 1, fuzzing) takes the vector paths.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(nod32_vector)");
    println!("cargo::rerun-if-env-changed=OPT_LEVEL");
    if std::env::var("OPT_LEVEL").is_ok_and(|o| o != "0") {
        println!("cargo::rustc-cfg=nod32_vector");
    }
}

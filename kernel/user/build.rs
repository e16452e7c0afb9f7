//! Links the user program at 1 GiB with user.ld, for the bare-metal target only.
fn main() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/user.ld");
    println!("cargo:rerun-if-changed={script}");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("none") {
        println!("cargo:rustc-link-arg=-T{script}");
        println!("cargo:rustc-link-arg=--no-pie");
    }
}

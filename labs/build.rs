//! Links the kernel image at its fixed physical address with kernel/kernel.ld.
//! Only for the bare-metal target: on the host this crate is a stub.
fn main() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../kernel/kernel.ld");
    println!("cargo:rerun-if-changed={script}");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("none") {
        println!("cargo:rustc-link-arg=-T{script}");
        println!("cargo:rustc-link-arg=--no-pie");
    }
}

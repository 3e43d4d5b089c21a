//! With the `embed` feature, the frontend in `dist/` (workspace root) is compiled into the
//! binary by rust-embed. Cargo does not know about that folder on its own: tell it to rebuild
//! when the folder changes (files added, removed or modified), and fail early with a clear
//! message if it is missing.

use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var_os("CARGO_FEATURE_EMBED").is_none() {
        return;
    }
    println!("cargo:rerun-if-changed=../dist");
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo");
    let dist = Path::new(&manifest_dir).join("../dist");
    if !dist.join("index.html").is_file() {
        eprintln!(
            "error: the `embed` feature embeds the built frontend from {}, but it has no \
             index.html. Build the frontend first (`cargo xtask serve` or the xtask's build \
             command), or build without `--features embed`.",
            dist.display()
        );
        std::process::exit(1);
    }
}

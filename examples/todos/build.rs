//! `trestle::migrate!()` embeds `migrations/` when the crate builds: rebuild whenever a file
//! there is added, changed or removed.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}

//! `trestle::migrate!()` embeds `migrations/sqlite` (or `migrations/postgres`) when the crate
//! builds: rebuild whenever a file there is added, changed or removed.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}

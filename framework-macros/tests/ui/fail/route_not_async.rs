use trestle::prelude::*;

#[get("/sync")]
fn sync() -> &'static str {
    "sync"
}

fn main() {}

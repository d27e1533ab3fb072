use trestle::prelude::*;

#[get("/users/{id}")]
async fn user() -> &'static str {
    "who?"
}

fn main() {}

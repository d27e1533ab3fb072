use trestle::prelude::*;

#[get("users")]
async fn users() -> &'static str {
    "users"
}

fn main() {}

use trestle::prelude::*;

#[route(method = "FETCH", path = "/x")]
async fn fetch() -> &'static str {
    "x"
}

fn main() {}

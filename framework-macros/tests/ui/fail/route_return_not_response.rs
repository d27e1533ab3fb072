use trestle::prelude::*;

struct Article {
    title: String,
}

/// Returns a struct that is not a response.
#[get("/article")]
async fn article() -> Article {
    Article { title: "t".into() }
}

fn main() {
    let _ = routes![article];
}

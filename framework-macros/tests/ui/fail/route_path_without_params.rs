use trestle::prelude::*;

#[get("/users")]
async fn users(Path(id): Path<u32>) -> String {
    id.to_string()
}

fn main() {}

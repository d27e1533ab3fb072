use trestle::prelude::*;

#[get("/users/{id}/friends/{id}")]
async fn friend(Path((a, b)): Path<(u32, u32)>) -> String {
    format!("{a}{b}")
}

fn main() {}

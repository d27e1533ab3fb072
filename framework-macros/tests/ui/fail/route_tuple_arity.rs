use trestle::prelude::*;

#[get("/users/{id}/posts/{post}")]
async fn post(Path((id,)): Path<(u32,)>) -> String {
    id.to_string()
}

#[get("/users/{id}/posts/{post}")]
async fn post_scalar(Path(id): Path<u32>) -> String {
    id.to_string()
}

fn main() {}

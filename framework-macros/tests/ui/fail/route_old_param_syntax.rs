use trestle::prelude::*;

#[get("/users/:id")]
async fn user(Path(id): Path<u32>) -> String {
    id.to_string()
}

#[get("/files/*rest")]
async fn file(Path(rest): Path<String>) -> String {
    rest
}

fn main() {}

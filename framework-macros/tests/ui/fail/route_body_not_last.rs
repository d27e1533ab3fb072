use trestle::prelude::*;

#[derive(Deserialize)]
struct Input {
    name: String,
}

#[post("/users/{id}")]
async fn update(Json(input): Json<Input>, Path(id): Path<u32>) -> String {
    format!("{id} {}", input.name)
}

fn main() {}

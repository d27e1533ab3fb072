use trestle::prelude::*;

#[get("/files/{*rest}/meta")]
async fn meta(Path(rest): Path<String>) -> String {
    rest
}

fn main() {}

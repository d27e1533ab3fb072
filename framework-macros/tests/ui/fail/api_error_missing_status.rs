#[derive(Debug, thiserror::Error, trestle::ApiError)]
enum E {
    #[error("a")]
    #[api(status = 404)]
    A,
    #[error("b")]
    B,
}

fn main() {}

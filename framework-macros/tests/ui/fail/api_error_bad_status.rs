#[derive(Debug, thiserror::Error, trestle::ApiError)]
enum E {
    #[error("a")]
    #[api(status = 700)]
    A,
    #[error("b")]
    #[api(code = 404)]
    B,
}

fn main() {}

use trestle::error::ApiError;

#[derive(Debug, thiserror::Error, trestle::ApiError)]
#[api(status = 400)]
enum Mixed {
    #[error("bad")]
    Bad,
    #[error("missing {0}")]
    #[api(status = 404, title = "Missing", type = "https://example.com/missing")]
    Missing(String),
    #[error("conflict on {field}")]
    #[api(status = 409)]
    Conflict { field: String },
}

#[derive(Debug, thiserror::Error, trestle::ApiError)]
#[error("slow down")]
#[api(status = 429)]
struct TooMany;

fn main() {
    assert_eq!(Mixed::Bad.status().as_u16(), 400);
    assert_eq!(Mixed::Missing("x".into()).title(), Some("Missing"));
    assert_eq!(Mixed::Conflict { field: "f".into() }.status().as_u16(), 409);
    assert_eq!(TooMany.problem_type(), "about:blank");
    let e: trestle::Error = Mixed::Missing("x".into()).into();
    assert_eq!(e.status().as_u16(), 404);
}

use trestle::prelude::*;

#[derive(Debug, thiserror::Error, trestle::ApiError)]
enum NoteError {
    /// No such note.
    #[error("no such note")]
    #[api(status = 404)]
    NotFound,
}

/// Names a variant the error type does not have.
#[get("/a", errors = [NoteError::Gone])]
async fn a() -> &'static str {
    "a"
}

/// Names a status that is not an error.
#[get("/b", errors = [200])]
async fn b() -> &'static str {
    "b"
}

/// `openapi` takes a boolean.
#[get("/c", openapi = "no")]
async fn c() -> &'static str {
    "c"
}

/// Misspells an option.
#[get("/d", tag = ["Notes"])]
async fn d() -> &'static str {
    "d"
}

fn main() {
    let _ = NoteError::NotFound;
}

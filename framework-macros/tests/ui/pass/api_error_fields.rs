//! `field` and `message` name the failing field in the problem's `errors`, formatted from the
//! variant's own fields; `type` takes a constant as well as a literal.
use trestle::error::ApiError;

const NO_USER: &str = "https://example.com/problems/no-user";

#[derive(Debug, thiserror::Error, trestle::ApiError)]
enum SignUpError {
    #[error("{0} has already been taken")]
    #[api(status = 409, field = "{0}", message = "has already been taken")]
    Taken(&'static str),
    #[error("{field} must be at most {max} characters")]
    #[api(status = 422, field = "user.{field}")]
    TooLong { field: String, max: usize },
    #[error("no such user")]
    #[api(status = 404, type = NO_USER, field = "user", message = "{{not found}}")]
    NoUser,
    #[error("try later")]
    #[api(status = 503)]
    Busy,
}

#[derive(Debug, thiserror::Error, trestle::ApiError)]
#[error("bad {0}")]
#[api(status = 400, field = "{0}")]
struct Bad(String);

fn main() {
    let taken: trestle::Error = SignUpError::Taken("email").into();
    let e = &taken.problem().errors[0];
    assert_eq!((e.field.as_str(), e.pointer.as_str(), e.message.as_str()), ("email", "/email", "has already been taken"));

    let long = SignUpError::TooLong { field: "bio".into(), max: 10 }.fields();
    assert_eq!((long[0].pointer.as_str(), long[0].message.as_str()), ("/user/bio", "bio must be at most 10 characters"));

    assert_eq!(SignUpError::NoUser.problem_type(), NO_USER);
    assert_eq!(SignUpError::NoUser.fields()[0].message, "{not found}");
    assert!(SignUpError::Busy.fields().is_empty());
    assert_eq!(Bad("x".into()).fields()[0].field, "x");
}

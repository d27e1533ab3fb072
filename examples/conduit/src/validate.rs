//! Input checks shared by the handlers: every failure is collected, so a client sees all of
//! them at once.

use trestle::Error;

/// The problems found so far in one request body.
#[derive(Default)]
pub struct Checks(Vec<(String, String)>);

impl Checks {
    /// Records `message` against `field`.
    pub fn fail(&mut self, field: &str, message: &str) {
        self.0.push((field.to_owned(), message.to_owned()));
    }

    /// A required text field: present, not blank, within `max` characters, no NUL.
    pub fn required<'a>(&mut self, field: &str, value: Option<&'a str>, max: usize) -> &'a str {
        match value {
            Some(v) if !v.trim().is_empty() => {
                self.text(field, v, max);
                v
            }
            _ => {
                self.fail(field, "can't be blank");
                ""
            }
        }
    }

    /// Free text: within `max` characters and without NUL (which PostgreSQL refuses).
    pub fn text(&mut self, field: &str, value: &str, max: usize) {
        if value.chars().count() > max {
            self.fail(field, &format!("is too long (maximum is {max} characters)"));
        } else if value.contains('\0') {
            self.fail(field, "contains a NUL character");
        }
    }

    /// NIST 800-63B: at least 8 characters, at most 128, nothing else required.
    pub fn password(&mut self, value: Option<&str>) {
        match value {
            None | Some("") => self.fail("password", "can't be blank"),
            Some(p) if p.chars().count() < 8 => self.fail("password", "is too short (minimum is 8 characters)"),
            Some(p) => self.text("password", p, 128),
        }
    }

    /// An email address: required, with an `@`.
    pub fn email<'a>(&mut self, value: Option<&'a str>) -> &'a str {
        let email = self.required("email", value, 254);
        if !email.is_empty() && !email.contains('@') {
            self.fail("email", "is invalid");
        }
        email
    }

    /// `Ok` when nothing failed, else one 422 listing every failure.
    pub fn finish(self) -> Result<(), Error> {
        if self.0.is_empty() {
            return Ok(());
        }
        let summary = self.0.iter().map(|(f, m)| format!("{f} {m}")).collect::<Vec<_>>().join("; ");
        let mut error = Error::unprocessable(summary);
        for (field, message) in self.0 {
            error = error.with_field(field, message);
        }
        Err(error)
    }
}

/// Deserializes a field that may be absent (`None`), `null` (`Some(None)`) or a value.
pub fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    <Option<T> as serde::Deserialize>::deserialize(d).map(Some)
}

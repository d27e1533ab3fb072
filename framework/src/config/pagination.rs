//! `[pagination]`: the page sizes list endpoints accept.

use serde::Deserialize;
use trestle_macros::Config;

/// `[pagination]`: how many items a list endpoint taking [`Page`](crate::extract::Page) returns
/// when the request does not say, and the most it may ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Config, Deserialize)]
#[config(validate = PaginationConfig::check)]
pub struct PaginationConfig {
    /// Items per page when the request gives no `limit`.
    #[config(default = 20, validate = super::schema::at_least_one)]
    pub default_limit: u32,
    /// The largest `limit` a request may ask for.
    #[config(default = 100, validate = super::schema::at_least_one)]
    pub max_limit: u32,
    /// A `limit` over `max_limit`: `clamp` it to `max_limit`, or `reject` it with a 422.
    #[config(default = "clamp")]
    pub over_max: OverMax,
}

/// What a `limit` over `pagination.max_limit` gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OverMax {
    /// Served with `max_limit` items: the client sees fewer than it asked for.
    Clamp,
    /// Answered 422, naming the maximum.
    Reject,
}

impl Default for PaginationConfig {
    /// The defaults, as documented on each field.
    fn default() -> Self {
        super::schema::defaults()
    }
}

impl PaginationConfig {
    fn check(&self) -> Result<(), String> {
        if self.default_limit > self.max_limit {
            return Err(format!(
                "default_limit ({}) is larger than max_limit ({}): lower default_limit or raise max_limit",
                self.default_limit, self.max_limit
            ));
        }
        Ok(())
    }
}

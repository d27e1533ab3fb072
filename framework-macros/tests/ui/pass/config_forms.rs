use serde::Deserialize;
use trestle::config::{Config, Secret};
use std::time::Duration;

#[derive(Config, Deserialize)]
#[config(validate = Settings::check)]
struct Settings {
    /// A number with a default.
    #[config(default = 20, validate = positive)]
    page_size: u32,
    /// A secret, required.
    api_key: Secret<String>,
    /// Optional.
    upstream: Option<String>,
    /// A duration written as text.
    #[config(default = "5s")]
    #[serde(with = "trestle::config::duration")]
    poll: Duration,
    /// Renamed key.
    #[config(default = true)]
    #[serde(rename = "enabled")]
    on: bool,
    #[config(nested)]
    mail: Mail,
}

#[derive(Config, Deserialize)]
struct Mail {
    #[config(default = 25)]
    port: u16,
}

impl Settings {
    fn check(&self) -> Result<(), String> {
        Ok(())
    }
}

fn positive(n: &u32) -> Result<(), &'static str> {
    if *n > 0 { Ok(()) } else { Err("must be positive") }
}

fn main() {
    let keys: Vec<&str> = Settings::fields().iter().map(|f| f.name).collect();
    assert_eq!(keys, ["page_size", "api_key", "upstream", "poll", "enabled", "mail"]);
    assert!(Settings::fields()[1].secret);
    assert!(Settings::fields()[2].optional);
}

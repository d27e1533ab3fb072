#[derive(trestle::Config, serde::Deserialize)]
struct Settings {
    #[config(default = 3)]
    #[serde(alias = "per_page")]
    page_size: u32,
    #[serde(flatten)]
    mail: Mail,
    #[serde(skip)]
    cache: u32,
    #[config(default = true)]
    #[serde(rename(deserialize = "on"))]
    enabled: bool,
}

#[derive(trestle::Config, serde::Deserialize)]
struct Mail {
    #[config(default = 25)]
    port: u16,
}

fn main() {}

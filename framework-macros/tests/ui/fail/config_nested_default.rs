#[derive(trestle::Config, serde::Deserialize)]
struct Mail {
    #[config(default = 25)]
    port: u16,
}

#[derive(trestle::Config, serde::Deserialize)]
struct Settings {
    #[config(nested, default = 3)]
    mail: Mail,
}

fn main() {}

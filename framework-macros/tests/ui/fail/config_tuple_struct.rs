#[derive(trestle::Config, serde::Deserialize)]
struct Settings(u32);

fn main() {}

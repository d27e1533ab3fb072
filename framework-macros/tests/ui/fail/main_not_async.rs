#[trestle::main]
fn main() {}

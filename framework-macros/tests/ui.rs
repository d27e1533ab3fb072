//! Compile-time contracts: what the macros accept, and the exact errors for what they refuse.
//! The `.stderr` files are the contract; review changes to them like API changes.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/fail/*.rs");
}

//! The compile-fail suite (S39 and the derive's input rules): each case in `ui/fail`
//! must fail with the message in its `.stderr`; each case in `ui/pass` must compile.
//! The snapshots were made with the toolchain pinned in `rust-toolchain.toml`;
//! regenerate them with `TRYBUILD=overwrite cargo test -p orm-tests --test compile_fail`.

#[test]
fn compile_fail_cases() {
    let t = trybuild::TestCases::new();
    t.compile_fail("ui/fail/*.rs");
    t.pass("ui/pass/*.rs");
}

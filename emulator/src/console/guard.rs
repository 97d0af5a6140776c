//! What keeps the console to the person at this machine.
//!
//! The emulator listens on loopback, but a web page on any site can still make
//! the browser send requests there. Two checks close that:
//! - **DNS rebinding**: a hostile name that resolves to 127.0.0.1 reaches the
//!   port with its own name in `Host`. Only loopback names are served, and
//!   the names the emulator was told it is reached by (`--console-host`,
//!   for a container's mapped port reached by a machine's name): on any
//!   port, or on the one port given with the name ([`ConsoleHost`]).
//! - **Cross-site requests**: a form on another site can POST here. A request
//!   that changes something must be a POST whose `Origin` is the console's
//!   own (browsers always send it with a POST).

use http::{Method, Request, StatusCode, header};

use super::Refusal;

/// A name the console answers to besides loopback's (`--console-host`):
/// `lab-box` on any port, or `lab-box:8080` on that port only, as the `Host`
/// header of a browser that was given `http://lab-box:8080` says it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleHost {
    name: String,
    port: Option<u16>,
}

impl ConsoleHost {
    /// The name (a host name, an IPv4 address, or an IPv6 one, bracketed when
    /// a port follows) and its port if given. A value no `Host` header can
    /// ever hold is an error saying why: refused at start, not silently never
    /// matched.
    pub fn parse(value: &str) -> Result<ConsoleHost, String> {
        if value.is_empty() {
            return Err("it is empty".to_owned());
        }
        if value.contains("://") {
            return Err("it is a URL, not a host name".to_owned());
        }
        let (name, port) = if let Some(bracketed) = value.strip_prefix('[') {
            let (address, after) = bracketed
                .split_once(']')
                .ok_or_else(|| "its '[' has no ']'".to_owned())?;
            if address.parse::<std::net::Ipv6Addr>().is_err() {
                return Err(format!("'{address}' is not an IPv6 address"));
            }
            let port = match after {
                "" => None,
                _ => Some(
                    after
                        .strip_prefix(':')
                        .ok_or_else(|| format!("'{after}' follows the address where a port would"))?,
                ),
            };
            (address, port)
        } else if value.parse::<std::net::Ipv6Addr>().is_ok() {
            (value, None)
        } else {
            match value.rsplit_once(':') {
                Some((name, port)) => (name, Some(port)),
                None => (value, None),
            }
        };
        if name.is_empty() {
            return Err("it has a port but no name".to_owned());
        }
        // What a Host header's name can hold: letters, digits, '-', '.' (and
        // '_', which some machines' names have); an IPv6 address was checked
        // as one above.
        let bad = name
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_')));
        if let Some(bad) = bad.filter(|_| name.parse::<std::net::Ipv6Addr>().is_err()) {
            return Err(format!("it holds '{bad}', which no host name does"));
        }
        let port = match port {
            None => None,
            Some(port) => Some(
                port.parse::<u16>()
                    .ok()
                    .filter(|&port| port != 0)
                    .ok_or_else(|| format!("its port '{port}' is not a port number (1 to 65535)"))?,
            ),
        };
        Ok(ConsoleHost {
            name: name.to_owned(),
            port,
        })
    }

    /// Whether a request's `Host` header names this host (and its port, if
    /// one was given; no port in the header is HTTP's 80).
    fn matches(&self, host: &str) -> bool {
        let (name, port) = split_host(host);
        let port = match port {
            None => Some(80),
            Some(port) => port.parse::<u16>().ok(),
        };
        name.eq_ignore_ascii_case(&self.name) && self.port.is_none_or(|wanted| port == Some(wanted))
    }
}

/// Ok for a request the console may answer; else the refusal. `names`: the
/// hosts it answers to besides loopback's.
pub fn check<B>(request: &Request<B>, names: &[ConsoleHost]) -> Result<(), Refusal> {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    let named = || names.iter().any(|name| name.matches(host));
    if !is_loopback_host(host) && !named() {
        return Err(Refusal::new(
            StatusCode::FORBIDDEN,
            "the console answers only to 127.0.0.1, localhost, [::1] and the names given with \
             --console-host (KINESIS_LAB_CONSOLE_HOSTS)",
        ));
    }
    if request.method() == Method::POST {
        let origin = request
            .headers()
            .get(header::ORIGIN)
            .and_then(|value| value.to_str().ok());
        if origin != Some(format!("http://{host}").as_str()) {
            return Err(Refusal::new(
                StatusCode::FORBIDDEN,
                "a change must come from the console's own pages (its Origin header)",
            ));
        }
    }
    Ok(())
}

/// `Host` as its name and its port: `localhost:4566` is `localhost` and
/// `4566`, `[::1]:4566` is `::1` and `4566`, `localhost` has no port.
fn split_host(host: &str) -> (&str, Option<&str>) {
    match host.strip_prefix('[') {
        Some(bracketed) => {
            let (name, after) = bracketed.split_once(']').unwrap_or((bracketed, ""));
            (name, after.strip_prefix(':'))
        }
        None => match host.rsplit_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (host, None),
        },
    }
}

/// `Host` without its port.
fn host_name(host: &str) -> &str {
    split_host(host).0
}

/// `127.0.0.1:4566`, `localhost:4566`, `[::1]:4566`, with or without a port.
fn is_loopback_host(host: &str) -> bool {
    let name = host_name(host);
    match name.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => name.eq_ignore_ascii_case("localhost"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: Method, host: &str, origin: Option<&str>) -> Request<()> {
        let mut builder = Request::builder()
            .method(method)
            .uri("/_console/streams")
            .header(header::HOST, host);
        if let Some(origin) = origin {
            builder = builder.header(header::ORIGIN, origin);
        }
        builder.body(()).unwrap()
    }

    #[test]
    fn only_loopback_names_are_served() {
        for host in [
            "127.0.0.1:4566",
            "localhost:4566",
            "[::1]:4566",
            "127.0.0.1",
            "LOCALHOST",
        ] {
            assert!(check(&request(Method::GET, host, None), &[]).is_ok(), "{host}");
        }
        for host in [
            "evil.example:4566",
            "192.168.1.2:4566",
            "",
            "127.0.0.1.evil.example",
        ] {
            let refused = check(&request(Method::GET, host, None), &[]).unwrap_err();
            assert_eq!(refused.status, StatusCode::FORBIDDEN, "{host}");
        }
    }

    #[test]
    fn a_post_must_come_from_the_consoles_own_origin() {
        let own = request(Method::POST, "127.0.0.1:4566", Some("http://127.0.0.1:4566"));
        assert!(check(&own, &[]).is_ok());
        for origin in [
            None,
            Some("http://evil.example"),
            Some("http://127.0.0.1:9999"),
            Some("null"),
        ] {
            let refused = check(&request(Method::POST, "127.0.0.1:4566", origin), &[]).unwrap_err();
            assert_eq!(refused.status, StatusCode::FORBIDDEN, "{origin:?}");
        }
    }

    fn hosts(values: &[&str]) -> Vec<ConsoleHost> {
        values
            .iter()
            .map(|value| ConsoleHost::parse(value).unwrap())
            .collect()
    }

    #[test]
    fn the_names_given_are_served_on_any_port_and_others_still_refused() {
        let names = hosts(&["lab-box", "kinesis.internal"]);
        for host in [
            "lab-box:8080",
            "LAB-BOX",
            "kinesis.internal:4566",
            "127.0.0.1:32768",
        ] {
            assert!(check(&request(Method::GET, host, None), &names).is_ok(), "{host}");
        }
        for host in ["evil.example:8080", "lab-box.evil.example", "kinesis:4566"] {
            assert!(
                check(&request(Method::GET, host, None), &names).is_err(),
                "{host}"
            );
        }
        // A named host's forms must still come from its own pages.
        let forged = request(Method::POST, "lab-box:8080", Some("http://evil.example"));
        assert!(check(&forged, &names).is_err());
        let own = request(Method::POST, "lab-box:8080", Some("http://lab-box:8080"));
        assert!(check(&own, &names).is_ok());
    }

    #[test]
    fn a_name_with_a_port_is_served_on_that_port_only() {
        let names = hosts(&["lab-box:8080", "[::2]:4566", "10.0.0.5:80"]);
        for host in [
            "lab-box:8080",
            "Lab-Box:8080",
            "[::2]:4566",
            "10.0.0.5",
            "10.0.0.5:80",
        ] {
            assert!(check(&request(Method::GET, host, None), &names).is_ok(), "{host}");
        }
        for host in [
            "lab-box:9090",
            "lab-box",
            "lab-box:8080x",
            "[::2]:8080",
            "10.0.0.5:8080",
        ] {
            assert!(
                check(&request(Method::GET, host, None), &names).is_err(),
                "{host}"
            );
        }
    }

    #[test]
    fn a_value_no_host_header_can_hold_is_refused_saying_why() {
        for (value, why) in [
            ("", "empty"),
            ("http://lab-box", "a URL"),
            ("lab-box:", "port '' is not"),
            ("lab-box:65536", "port '65536' is not"),
            (":8080", "no name"),
            ("lab box", "' '"),
            ("lab-box/", "'/'"),
            ("[::1", "no ']'"),
            ("[::1]8080", "follows the address"),
        ] {
            let reason = ConsoleHost::parse(value).unwrap_err();
            assert!(reason.contains(why), "{value:?}: {reason}");
        }
        assert_eq!(
            ConsoleHost::parse("fe80::1").unwrap(),
            ConsoleHost {
                name: "fe80::1".to_owned(),
                port: None
            }
        );
    }
}

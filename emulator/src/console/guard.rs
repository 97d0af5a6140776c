//! What keeps the console to the person at this machine.
//!
//! The emulator listens on loopback, but a web page on any site can still make
//! the browser send requests there. Two checks close that:
//! - **DNS rebinding**: a hostile name that resolves to 127.0.0.1 reaches the
//!   port with its own name in `Host`. Only loopback names are served, and
//!   the names the emulator was told it is reached by (`--console-host`,
//!   for a container's mapped port reached by a machine's name), whatever
//!   the port.
//! - **Cross-site requests**: a form on another site can POST here. A request
//!   that changes something must be a POST whose `Origin` is the console's
//!   own (browsers always send it with a POST).

use http::{Method, Request, StatusCode, header};

use super::Refusal;

/// Ok for a request the console may answer; else the refusal. `names`: the
/// host names it answers to besides loopback's.
pub fn check<B>(request: &Request<B>, names: &[String]) -> Result<(), Refusal> {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    let named = || {
        names
            .iter()
            .any(|name| name.eq_ignore_ascii_case(host_name(host)))
    };
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

/// `Host` without its port: `localhost:4566` is `localhost`, `[::1]:4566` is `::1`.
fn host_name(host: &str) -> &str {
    match host.strip_prefix('[') {
        Some(bracketed) => bracketed.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    }
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

    #[test]
    fn the_names_given_are_served_on_any_port_and_others_still_refused() {
        let names = ["lab-box".to_owned(), "kinesis.internal".to_owned()];
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
}

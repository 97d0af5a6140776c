//! What keeps the console to the person at this machine.
//!
//! The emulator listens on loopback, but a web page on any site can still make
//! the browser send requests there. Two checks close that:
//! - **DNS rebinding**: a hostile name that resolves to 127.0.0.1 reaches the
//!   port with its own name in `Host`. Only loopback names are served.
//! - **Cross-site requests**: a form on another site can POST here. A request
//!   that changes something must be a POST whose `Origin` is the console's
//!   own (browsers always send it with a POST).

use http::{Method, Request, StatusCode, header};

use super::Refusal;

/// Ok for a request the console may answer; else the refusal.
pub fn check<B>(request: &Request<B>) -> Result<(), Refusal> {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    if !is_loopback_host(host) {
        return Err(Refusal::new(
            StatusCode::FORBIDDEN,
            "the console answers only to 127.0.0.1, localhost and [::1]",
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

/// `127.0.0.1:4566`, `localhost:4566`, `[::1]:4566`, with or without a port.
fn is_loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(bracketed) => bracketed.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
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
            assert!(check(&request(Method::GET, host, None)).is_ok(), "{host}");
        }
        for host in [
            "evil.example:4566",
            "192.168.1.2:4566",
            "",
            "127.0.0.1.evil.example",
        ] {
            let refused = check(&request(Method::GET, host, None)).unwrap_err();
            assert_eq!(refused.status, StatusCode::FORBIDDEN, "{host}");
        }
    }

    #[test]
    fn a_post_must_come_from_the_consoles_own_origin() {
        let own = request(Method::POST, "127.0.0.1:4566", Some("http://127.0.0.1:4566"));
        assert!(check(&own).is_ok());
        for origin in [
            None,
            Some("http://evil.example"),
            Some("http://127.0.0.1:9999"),
            Some("null"),
        ] {
            let refused = check(&request(Method::POST, "127.0.0.1:4566", origin)).unwrap_err();
            assert_eq!(refused.status, StatusCode::FORBIDDEN, "{origin:?}");
        }
    }
}

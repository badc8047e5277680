//! Where the load goes: the server's socket address, the `Host` header and the events path,
//! all derived once from the `URL` argument (`http://127.0.0.1:8087` or `.../events`).

use std::net::SocketAddr;

#[derive(Debug, Clone)]
pub struct Target {
    /// Resolved once, so per-request work never touches DNS.
    pub addr: SocketAddr,
    /// Value of the `Host` header: host and port as the user wrote them.
    pub host_header: String,
    /// Path the load is sent to; `/events` unless the URL names another path.
    pub events_path: String,
}

impl Target {
    /// Accepts only `http://` because the workshop speaks plain HTTP on loopback; a TLS URL
    /// would otherwise fail later with a confusing framing error.
    pub async fn resolve(url: &str) -> Result<Self, String> {
        let (host, port, path) = split_http_url(url)?;
        let bare_host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((bare_host.as_str(), port))
            .await
            .map_err(|e| format!("cannot resolve {host}:{port}: {e}"))?
            .collect();
        // The stages listen on 127.0.0.1, and `localhost` may resolve to ::1 first.
        let addr = addrs
            .iter()
            .find(|a| a.is_ipv4())
            .or(addrs.first())
            .copied()
            .ok_or_else(|| format!("{host}:{port} resolves to no address"))?;
        let events_path = match path {
            "" | "/" => "/events".to_string(),
            path => path.to_string(),
        };
        Ok(Self {
            addr,
            host_header: format!("{host}:{port}"),
            events_path,
        })
    }

    /// A complete `GET /stats` request for this target, closing the connection after the
    /// answer (a blocking stage 1 must not be left holding an idle connection of ours).
    pub fn stats_request(&self) -> Vec<u8> {
        format!(
            "GET /stats HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.host_header
        )
        .into_bytes()
    }

    pub fn from_addr(addr: SocketAddr) -> Self {
        Self {
            addr,
            host_header: addr.to_string(),
            events_path: "/events".to_string(),
        }
    }
}

/// Splits `http://host[:port][/path]` into host (brackets kept for IPv6), port (80 when
/// absent) and path. The workshop's URLs are that simple, and a full URL parser (with its
/// international-domain tables) would cost more compile time than the whole load loop.
fn split_http_url(url: &str) -> Result<(String, u16, &str), String> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(format!(
            "invalid URL {url:?}: expected http://HOST:PORT, e.g. http://127.0.0.1:8087"
        ));
    };
    if !scheme.eq_ignore_ascii_case("http") {
        return Err(format!(
            "unsupported scheme {scheme:?} in {url:?}: only http:// is spoken here"
        ));
    }
    let (authority, path) = match rest.find('/') {
        Some(slash) => rest.split_at(slash),
        None => (rest, ""),
    };
    let (host, port) = match authority.rfind(':') {
        // A colon inside `[...]` belongs to an IPv6 address, not to a port.
        Some(colon) if !authority[colon..].contains(']') => {
            let port = &authority[colon + 1..];
            let port = port
                .parse::<u16>()
                .map_err(|_| format!("invalid port {port:?} in {url:?}"))?;
            (&authority[..colon], port)
        }
        _ => (authority, 80),
    };
    if host.is_empty() || host.contains('@') {
        return Err(format!(
            "URL {url:?} needs a plain host, e.g. http://127.0.0.1:8087"
        ));
    }
    Ok((host.to_string(), port, path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bare_url_targets_events_and_stats() {
        let target = Target::resolve("http://127.0.0.1:8087")
            .await
            .expect("literal address resolves");
        assert_eq!(target.events_path, "/events");
        assert_eq!(target.addr.port(), 8087);
    }

    #[tokio::test]
    async fn explicit_path_is_kept_and_https_refused() {
        let target = Target::resolve("http://127.0.0.1:9/echo")
            .await
            .expect("literal address resolves");
        assert_eq!(target.events_path, "/echo");
        assert!(Target::resolve("https://127.0.0.1:1").await.is_err());
        assert!(Target::resolve("not a url").await.is_err());
        let local = Target::resolve("http://localhost:8083")
            .await
            .expect("localhost resolves");
        assert!(local.addr.is_ipv4());
    }

    #[test]
    fn urls_split_into_host_port_and_path() {
        let split = |url| split_http_url(url).map(|(h, p, path)| (h, p, path.to_string()));
        assert_eq!(
            split("http://127.0.0.1"),
            Ok(("127.0.0.1".into(), 80, "".into()))
        );
        assert_eq!(
            split("HTTP://[::1]:8088/events"),
            Ok(("[::1]".into(), 8088, "/events".into()))
        );
        assert_eq!(split("http://[::1]"), Ok(("[::1]".into(), 80, "".into())));
        assert!(split("http://127.0.0.1:99999").is_err());
        assert!(split("http://:8080").is_err());
        assert!(split("http://user@127.0.0.1:8080").is_err());
        assert!(split("ftp://127.0.0.1").is_err());
    }
}

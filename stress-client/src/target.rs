//! Where the load goes: the server's socket address, the events path and the `/stats` URL,
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
    /// Where the server check reads counters.
    pub stats_url: String,
}

impl Target {
    /// Accepts only `http://` because the workshop speaks plain HTTP on loopback; a TLS URL
    /// would otherwise fail later with a confusing framing error.
    pub async fn resolve(url: &str) -> Result<Self, String> {
        let parsed = reqwest::Url::parse(url).map_err(|e| format!("invalid URL {url:?}: {e}"))?;
        if parsed.scheme() != "http" {
            return Err(format!(
                "unsupported scheme {:?} in {url:?}: only http:// is spoken here",
                parsed.scheme()
            ));
        }
        let host = parsed
            .host_str()
            .ok_or_else(|| format!("URL {url:?} has no host"))?
            .to_string();
        let port = parsed.port_or_known_default().unwrap_or(80);
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
        let events_path = match parsed.path() {
            "" | "/" => "/events".to_string(),
            path => path.to_string(),
        };
        Ok(Self {
            addr,
            host_header: format!("{host}:{port}"),
            events_path,
            stats_url: format!("http://{host}:{port}/stats"),
        })
    }

    pub fn from_addr(addr: SocketAddr) -> Self {
        Self {
            addr,
            host_header: addr.to_string(),
            events_path: "/events".to_string(),
            stats_url: format!("http://{addr}/stats"),
        }
    }
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
        assert_eq!(target.stats_url, "http://127.0.0.1:8087/stats");
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
}

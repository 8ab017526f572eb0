//! What the hub publishes about a file, asked the way `huggingface_hub` asks: a HEAD on the resolve URL.
//!
//! hf-hub 0.4 reads the same headers but keeps them private (`Api::metadata`), so they are read here again to
//! learn the sha256 of an LFS file (its `x-linked-etag`) and check the download against it.

use std::time::Duration;

use crate::download::{self, DownloadError};

/// What the hub says about a file before it is downloaded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Published {
    /// `x-linked-etag` (LFS files: the sha256 of the content) or `etag` (others: a git blob id).
    pub etag: String,
    pub commit: Option<String>,
    /// `x-linked-size`, else `content-length`.
    pub size: Option<u64>,
}

impl Published {
    /// The content's sha256, when the etag is one (64 hex digits).
    pub fn sha256(&self) -> Option<&str> {
        Some(self.etag.as_str()).filter(|e| is_sha256(e))
    }
}

pub fn is_sha256(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A HEAD on the resolve URL, as `huggingface_hub` does it: redirects are not followed (the LFS redirect
/// carries the `x-linked-*` headers and points at a CDN), except relative ones (a renamed repository).
pub fn published(
    url: &str,
    token: Option<&str>,
    read_timeout: Duration,
) -> Result<Published, DownloadError> {
    let agent = download::agent_builder(true, read_timeout)
        .redirects(0)
        .build();
    let mut current = url.to_string();
    for _ in 0..5 {
        let mut request = agent.head(&current).set("Accept-Encoding", "identity");
        if let Some(token) = token {
            request = request.set("Authorization", &format!("Bearer {token}"));
        }
        let response = request
            .call()
            .map_err(|e| download::request_error(&current, e))?;
        let location = response.header("location").map(str::to_string);
        if (300..400).contains(&response.status()) {
            if let Some(relative) = location.as_deref().filter(|l| l.starts_with('/')) {
                current = format!("{}{relative}", origin(&current));
                continue;
            }
        }
        let header = |name: &str| response.header(name).map(str::to_string);
        let etag = header("x-linked-etag")
            .or_else(|| header("etag"))
            .map(|e| e.trim_start_matches("W/").replace('"', ""))
            .ok_or_else(|| DownloadError::Transport {
                url: current.clone(),
                message: "the hub sent no etag".into(),
            })?;
        let size = header("x-linked-size")
            .or_else(|| header("content-length"))
            .and_then(|s| s.trim().parse().ok());
        return Ok(Published {
            etag,
            commit: header("x-repo-commit"),
            size,
        });
    }
    Err(DownloadError::Transport {
        url: url.to_string(),
        message: "too many relative redirects".into(),
    })
}

/// `scheme://host[:port]` of a URL.
fn origin(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    match url[after_scheme..].find('/') {
        Some(i) => &url[..after_scheme + i],
        None => url,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_etags_and_origins() {
        assert_eq!(origin("https://h.co:8/a/b"), "https://h.co:8");
        assert_eq!(origin("http://h"), "http://h");
        let mut p = Published {
            etag: "a".repeat(64),
            commit: None,
            size: None,
        };
        assert!(p.sha256().is_some());
        p.etag = "0123456789abcdef0123456789abcdef01234567".into(); // a git blob id
        assert!(p.sha256().is_none());
    }
}

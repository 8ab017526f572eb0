//! A tiny HTTP/1.1 server for tests, on 127.0.0.1 with a free port: it serves a fixed map of paths, answers GET
//! and HEAD (with `Range: bytes=a-b` / `bytes=a-`), 404s everything else, and logs each request so a test can
//! assert that none was made. One request per connection (`Connection: close`) keeps it simple.
//!
//! A route can misbehave the way real servers do ([`Fault`]): drop the connection midway, announce a wrong
//! length, stall, trickle, or ignore a range.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Clone, Debug)]
pub struct Route {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Send `Content-Length` (otherwise the body ends when the connection closes).
    pub sized: bool,
    pub fault: Fault,
}

/// How a route departs from a well-behaved answer. Byte counts are of the body actually sent (after a range).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Fault {
    #[default]
    None,
    /// Send the headers and this many bytes of the body, then close the connection.
    DropAfter(usize),
    /// Announce this `Content-Length` whatever the body's length, then send the whole body and close.
    Length(usize),
    /// Read the request, then say nothing for this long.
    StallBeforeAnswer(Duration),
    /// Send the headers and this many bytes, then say nothing for the duration, then send the rest.
    StallAfter(usize, Duration),
    /// Send the body in pieces of this many bytes, one every duration: slow, but never silent for long.
    Trickle(usize, Duration),
    /// Answer 200 with the whole body even when a range is asked for.
    IgnoreRange,
}

/// One request as the server saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub range: Option<String>,
}

#[derive(Default)]
struct State {
    routes: HashMap<String, Route>,
    log: Vec<Request>,
}

pub struct TestServer {
    port: u16,
    state: Arc<Mutex<State>>,
}

impl TestServer {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State::default()));
        let shared = Arc::clone(&state);
        // The thread lives until the test process ends; each connection gets its own thread so a stalled
        // client cannot block the next one.
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let shared = Arc::clone(&shared);
                std::thread::spawn(move || {
                    let _ = serve(stream, &shared);
                });
            }
        });
        TestServer { port, state }
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base())
    }

    pub fn route(self, path: &str, route: Route) -> Self {
        self.state
            .lock()
            .unwrap()
            .routes
            .insert(path.to_string(), route);
        self
    }

    /// A plain 200 with `Content-Length`.
    pub fn file(self, path: &str, body: Vec<u8>) -> Self {
        self.faulty_file(path, body, Fault::None)
    }

    /// A 200 with `Content-Length` that misbehaves as `fault` says.
    pub fn faulty_file(self, path: &str, body: Vec<u8>, fault: Fault) -> Self {
        self.route(
            path,
            Route {
                status: 200,
                headers: vec![],
                body,
                sized: true,
                fault,
            },
        )
    }

    /// A 200 whose length is only known when the connection closes.
    pub fn unsized_file(self, path: &str, body: Vec<u8>) -> Self {
        self.route(
            path,
            Route {
                status: 200,
                headers: vec![],
                body,
                sized: false,
                fault: Fault::None,
            },
        )
    }

    pub fn requests(&self) -> Vec<Request> {
        self.state.lock().unwrap().log.clone()
    }
}

/// Whether a proxy variable is set. ureq 2 (inside hf-hub too) then sends even 127.0.0.1 through the proxy,
/// ignoring NO_PROXY, so tests of hf-hub against this server cannot run.
pub fn proxy_in_env() -> bool {
    ["ALL_PROXY", "HTTPS_PROXY", "HTTP_PROXY"].iter().any(|v| {
        std::env::var_os(v).is_some() || std::env::var_os(v.to_ascii_lowercase()).is_some()
    })
}

/// A port nothing listens on: bound, then released.
pub fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

fn serve(stream: TcpStream, state: &Mutex<State>) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let path = parts.next().unwrap_or("").to_string();
    let mut range = None;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.trim().eq_ignore_ascii_case("range") {
                range = Some(value.trim().to_string());
            }
        }
    }
    let route = {
        let mut state = state.lock().unwrap();
        state.log.push(Request {
            method: method.clone(),
            path: path.clone(),
            range: range.clone(),
        });
        state.routes.get(&path).cloned()
    };
    let route = match route {
        Some(r) if method == "GET" || method == "HEAD" => r,
        _ => Route {
            status: 404,
            headers: vec![],
            body: b"not found".to_vec(),
            sized: true,
            fault: Fault::None,
        },
    };
    if let Fault::StallBeforeAnswer(silence) = route.fault {
        std::thread::sleep(silence);
    }

    let mut status = route.status;
    let mut headers = route.headers.clone();
    let mut body = &route.body[..];
    let total = route.body.len();
    let range = range.filter(|_| route.fault != Fault::IgnoreRange);
    if let (200, Some(spec)) = (route.status, range.as_deref().and_then(parse_range)) {
        let (start, end) = (
            spec.0.min(total),
            spec.1.map_or(total, |e| (e + 1).min(total)),
        );
        status = 206;
        headers.push((
            "Content-Range".into(),
            format!("bytes {start}-{}/{total}", end.saturating_sub(1)),
        ));
        body = &route.body[start..end];
    }

    let mut out = stream;
    write!(out, "HTTP/1.1 {status} {}\r\n", reason(status))?;
    for (name, value) in &headers {
        write!(out, "{name}: {value}\r\n")?;
    }
    if let Fault::Length(announced) = route.fault {
        write!(out, "Content-Length: {announced}\r\n")?;
    } else if route.sized || method == "HEAD" {
        write!(out, "Content-Length: {}\r\n", body.len())?;
    }
    write!(out, "Connection: close\r\n\r\n")?;
    if method == "HEAD" {
        return out.flush();
    }
    match route.fault {
        Fault::DropAfter(n) => out.write_all(&body[..n.min(body.len())])?,
        Fault::StallAfter(n, silence) => {
            let (first, rest) = body.split_at(n.min(body.len()));
            out.write_all(first)?;
            out.flush()?;
            std::thread::sleep(silence);
            out.write_all(rest)?;
        }
        Fault::Trickle(piece, every) => {
            for chunk in body.chunks(piece.max(1)) {
                out.write_all(chunk)?;
                out.flush()?;
                std::thread::sleep(every);
            }
        }
        _ => out.write_all(body)?,
    }
    out.flush()
}

/// `bytes=a-b` or `bytes=a-`.
fn parse_range(spec: &str) -> Option<(usize, Option<usize>)> {
    let (start, end) = spec.strip_prefix("bytes=")?.split_once('-')?;
    let start = start.trim().parse().ok()?;
    let end = match end.trim() {
        "" => None,
        e => Some(e.parse().ok()?),
    };
    Some((start, end))
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        206 => "Partial Content",
        302 => "Found",
        404 => "Not Found",
        _ => "Whatever",
    }
}

//! An HTTP client of the key-value service: keeps a connection per node, follows redirects
//! to the leader, moves to another endpoint when one is down or has no leader, and retries a
//! write with the same identity (so it applies once) until a deadline.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, StatusCode};
use hyper_util::rt::TokioIo;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// How many redirects one attempt follows.
const MAX_REDIRECTS: usize = 5;

/// An answer.
#[derive(Clone, Debug)]
pub struct Answer {
    /// The HTTP status.
    pub status: StatusCode,
    /// The body.
    pub body: Bytes,
}

impl Answer {
    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON.
    pub fn json(&self) -> Result<serde_json::Value, String> {
        serde_json::from_slice(&self.body).map_err(|e| format!("not JSON ({e}): {}", self.text()))
    }
}

/// A client of one cluster.
pub struct Client {
    endpoints: Vec<String>,
    /// The endpoint tried first (the last that answered).
    preferred: usize,
    conns: BTreeMap<String, SendRequest<Full<Bytes>>>,
    /// This client's id (random): with `seq`, each write's identity.
    pub client_id: u64,
    seq: u64,
    /// How long a request keeps retrying.
    pub deadline: Duration,
    /// How long one exchange may wait for its answer.
    pub exchange_timeout: Duration,
}

/// `host:port` of a URL or address (`http://` optional).
fn authority(url: &str) -> &str {
    let rest = url.strip_prefix("http://").unwrap_or(url);
    rest.split('/').next().unwrap_or(rest)
}

impl Client {
    /// A client of the nodes at `endpoints` (URLs or `host:port`).
    pub fn new(endpoints: &[String]) -> Client {
        let endpoints =
            endpoints.iter().map(|e| authority(e.trim()).to_string()).filter(|e| !e.is_empty()).collect();
        Client {
            endpoints,
            preferred: 0,
            conns: BTreeMap::new(),
            client_id: crate::entropy(),
            seq: 0,
            deadline: Duration::from_secs(30),
            exchange_timeout: crate::http::REQUEST_TIMEOUT + Duration::from_secs(2),
        }
    }

    /// A new request number for a write (its retries reuse it).
    pub fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    async fn connection(&mut self, authority: &str) -> Result<&mut SendRequest<Full<Bytes>>, String> {
        let usable = self.conns.get(authority).is_some_and(|c| !c.is_closed());
        if !usable {
            let stream =
                tokio::time::timeout(Duration::from_secs(2), tokio::net::TcpStream::connect(authority))
                    .await
                    .map_err(|_| format!("connecting to {authority} timed out"))?
                    .map_err(|e| format!("cannot connect to {authority}: {e}"))?;
            let _ = stream.set_nodelay(true);
            let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .map_err(|e| format!("HTTP handshake with {authority} failed: {e}"))?;
            tokio::spawn(async move {
                let _ = conn.await;
            });
            self.conns.insert(authority.to_string(), send);
        }
        Ok(self.conns.get_mut(authority).expect("just inserted"))
    }

    /// One HTTP exchange with `authority`, no redirects followed.
    pub async fn exchange(
        &mut self,
        authority: &str,
        method: Method,
        path: &str,
        body: Bytes,
        headers: &[(&str, String)],
    ) -> Result<(Answer, Option<String>), String> {
        let timeout = self.exchange_timeout;
        let conn = self.connection(authority).await?;
        conn.ready().await.map_err(|e| format!("{authority}: {e}"))?;
        let mut request = hyper::Request::builder().method(method).uri(path).header("host", authority);
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let request = request.body(Full::new(body)).map_err(|e| e.to_string())?;
        let response = match tokio::time::timeout(timeout, conn.send_request(request)).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                self.conns.remove(authority);
                return Err(format!("{authority}: {e}"));
            }
            Err(_) => {
                self.conns.remove(authority);
                return Err(format!("{authority}: no answer in time"));
            }
        };
        let status = response.status();
        let location = response.headers().get("location").and_then(|v| v.to_str().ok()).map(String::from);
        let body = response.into_body().collect().await.map_err(|e| format!("{authority}: {e}"))?.to_bytes();
        Ok((Answer { status, body }, location))
    }

    /// Sends a request to the cluster: follows redirects, and tries the other endpoints
    /// (after a pause) while none answers or none knows a leader, until the deadline. An
    /// answer other than a redirect or 503 is returned as it is.
    pub async fn request(
        &mut self,
        method: Method,
        path: &str,
        body: Bytes,
        headers: &[(&str, String)],
    ) -> Result<Answer, String> {
        if self.endpoints.is_empty() {
            return Err("no endpoint given".into());
        }
        let until = Instant::now() + self.deadline;
        let mut last_error;
        let mut attempt = 0usize;
        loop {
            let start = self.endpoints[(self.preferred + attempt) % self.endpoints.len()].clone();
            match self.follow(&start, method.clone(), path, body.clone(), headers).await {
                Ok(answer) if answer.status != StatusCode::SERVICE_UNAVAILABLE => return Ok(answer),
                Ok(answer) => last_error = format!("503: {}", answer.text()),
                Err(e) => last_error = e,
            }
            attempt += 1;
            if Instant::now() >= until {
                return Err(format!("gave up after {:?}: {last_error}", self.deadline));
            }
            if attempt % self.endpoints.len() == 0 {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }

    async fn follow(
        &mut self,
        start: &str,
        method: Method,
        path: &str,
        body: Bytes,
        headers: &[(&str, String)],
    ) -> Result<Answer, String> {
        let mut target = (start.to_string(), path.to_string());
        for _ in 0..=MAX_REDIRECTS {
            let (answer, location) =
                self.exchange(&target.0, method.clone(), &target.1, body.clone(), headers).await?;
            if answer.status != StatusCode::TEMPORARY_REDIRECT {
                if let Some(k) = self.endpoints.iter().position(|e| *e == target.0) {
                    self.preferred = k;
                } else if answer.status.is_success() {
                    self.endpoints.push(target.0.clone());
                    self.preferred = self.endpoints.len() - 1;
                }
                return Ok(answer);
            }
            let location = location.ok_or("a redirect without a Location")?;
            let rest = location.strip_prefix("http://").ok_or_else(|| format!("a redirect to {location}"))?;
            let (auth, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            target = (auth.to_string(), if path.is_empty() { "/".to_string() } else { path.to_string() });
        }
        Err(format!("more than {MAX_REDIRECTS} redirects"))
    }

    /// Writes with this client's identity: `seq` stays the same across retries.
    pub async fn write(&mut self, method: Method, path: &str, body: Bytes) -> Result<Answer, String> {
        let seq = self.next_seq();
        let headers = [("x-quorate-client", self.client_id.to_string()), ("x-quorate-seq", seq.to_string())];
        self.request(method, path, body, &headers).await
    }

    /// `PUT /v1/kv/{key}`: the index it applied at.
    pub async fn put(&mut self, key: &str, value: &str) -> Result<u64, String> {
        let answer = self.write(Method::PUT, &kv_path(key), Bytes::from(value.to_string())).await?;
        index_of(&answer)
    }

    /// `DELETE /v1/kv/{key}`.
    pub async fn delete(&mut self, key: &str) -> Result<u64, String> {
        let answer = self.write(Method::DELETE, &kv_path(key), Bytes::new()).await?;
        index_of(&answer)
    }

    /// `POST /v1/kv/{key}/cas`: whether it took effect, and the value after it.
    pub async fn cas(
        &mut self,
        key: &str,
        expect: Option<&str>,
        value: &str,
    ) -> Result<(bool, Option<String>), String> {
        let body = serde_json::json!({ "expect": expect, "value": value }).to_string();
        let answer = self.write(Method::POST, &format!("{}/cas", kv_path(key)), Bytes::from(body)).await?;
        if answer.status != StatusCode::OK {
            return Err(format!("{}: {}", answer.status, answer.text()));
        }
        let json = answer.json()?;
        let ok = json["ok"].as_bool().ok_or("no ok in the answer")?;
        Ok((ok, json["current"].as_str().map(String::from)))
    }

    /// `GET /v1/kv/{key}` at a consistency (`linearizable`, `lease`, `stale`).
    pub async fn get(&mut self, key: &str, consistency: &str) -> Result<Option<String>, String> {
        let path = format!("{}?consistency={consistency}", kv_path(key));
        let answer = self.request(Method::GET, &path, Bytes::new(), &[]).await?;
        match answer.status {
            StatusCode::OK => Ok(Some(answer.text())),
            StatusCode::NOT_FOUND => Ok(None),
            other => Err(format!("{other}: {}", answer.text())),
        }
    }
}

/// The path of a key (percent-encoded).
pub fn kv_path(key: &str) -> String {
    let mut path = String::from("/v1/kv/");
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            path.push(b as char);
        } else {
            path.push_str(&format!("%{b:02X}"));
        }
    }
    path
}

fn index_of(answer: &Answer) -> Result<u64, String> {
    if answer.status != StatusCode::OK {
        return Err(format!("{}: {}", answer.status, answer.text()));
    }
    answer.json()?["index"].as_u64().ok_or_else(|| format!("no index in {}", answer.text()))
}

//! The key-value service over HTTP/JSON, the node's status, membership and leadership
//! transfer, and its metrics.
//!
//! | route | answers |
//! |---|---|
//! | `PUT /v1/kv/{key}` (body: the value) | 200 `{"index": N}` |
//! | `GET /v1/kv/{key}[?consistency=linearizable\|lease\|stale]` | 200 with the value, or 404 |
//! | `DELETE /v1/kv/{key}` | 200 `{"index": N}` |
//! | `POST /v1/kv/{key}/cas` `{"expect": V\|null, "value": V}` | 200 `{"ok": bool, "current": V\|null, "index": N}` |
//! | `GET /v1/status` | the node's [`Status`] |
//! | `POST /v1/members` `{"id": N, "addr": "host:port"}`, `DELETE /v1/members/{id}` | 200 `{"index": N}` once the change's entry applies |
//! | `POST /v1/leader/transfer` `{"to": N}` | 200 `{"leader": N}` once another node leads |
//! | `GET /metrics` | Prometheus text |
//!
//! Writes carry the client's identity in `X-Quorate-Client` and `X-Quorate-Seq` (a client
//! numbers its requests and reuses the number when it retries, so a retry never applies
//! twice); without them, the request gets a fresh identity. A node that is not the leader
//! answers writes and linearizable or lease reads with 307 and the leader's URL in
//! `Location`; with no leader known, 503 and `Retry-After`. Errors are JSON:
//! `{"error": "..."}`.

// Handlers return early with the response to send (an error is answered once per request):
// its size does not matter here.
#![allow(clippy::result_large_err)]

use crate::metrics::Metrics;
use crate::node::{Consistency, Refusal, Request, Status, Written};
use crate::transport::Peers;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use quorate::kv::{KvOp, KvResult};
use quorate::membership::MembershipChange;
use quorate::requests::RequestId;
use quorate::types::NodeId;
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Largest request body (a value, or a JSON document).
pub const MAX_BODY_BYTES: usize = 1 << 20;
/// Longest key.
pub const MAX_KEY_BYTES: usize = 1024;
/// How long a request waits for the cluster before it is answered 503 (outcome unknown for
/// a write: retry it with the same identity).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// What the handlers share.
#[derive(Clone)]
pub struct Api {
    /// The driver's request queue.
    pub requests: mpsc::Sender<Request>,
    /// The node's peers (for the leader's URL).
    pub peers: Arc<Peers>,
    /// The node's metrics.
    pub metrics: Arc<Metrics>,
    /// This node.
    pub node_id: u64,
}

/// The service's routes.
pub fn router(api: Api) -> Router {
    Router::new()
        .route("/v1/kv/{key}", put(put_key).get(get_key).delete(delete_key))
        .route("/v1/kv/{key}/cas", post(cas_key))
        .route("/v1/status", get(status))
        .route("/v1/members", post(add_member))
        .route("/v1/members/{id}", delete(remove_member))
        .route("/v1/leader/transfer", post(transfer))
        .route("/metrics", get(metrics))
        .fallback(
            |uri: Uri| async move { error(StatusCode::NOT_FOUND, format!("no route for {}", uri.path())) },
        )
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(refuse_long_bodies))
        .with_state(api)
}

/// Refuses a body whose declared length is over the limit before reading any of it (a body
/// without a declared length is cut off at the limit as it is read).
async fn refuse_long_bodies(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(length) = declared.filter(|&l| l > MAX_BODY_BYTES as u64) {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("a body of {length} bytes, over {MAX_BODY_BYTES}"),
        );
    }
    next.run(request).await
}

fn error(code: StatusCode, message: impl Into<String>) -> Response {
    (code, Json(json!({ "error": message.into() }))).into_response()
}

impl Api {
    /// Sends a request to the driver and waits for its answer.
    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Request) -> Result<T, Response> {
        let (tx, rx) = oneshot::channel();
        if self.requests.send(make(tx)).await.is_err() {
            return Err(error(StatusCode::SERVICE_UNAVAILABLE, "the node is stopping"));
        }
        match tokio::time::timeout(REQUEST_TIMEOUT, rx).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(_)) => Err(error(StatusCode::SERVICE_UNAVAILABLE, "the node is stopping")),
            Err(_) => Err(unavailable("no answer in time (a write's outcome is unknown: retry it)")),
        }
    }

    /// The answer to a refusal: a redirect to the leader, 503, or 400.
    fn refused(&self, refusal: Refusal, uri: &Uri) -> Response {
        match refusal {
            Refusal::NotLeader { leader: Some(leader) } if leader.0 != self.node_id => {
                match self.peers.http_addr(leader) {
                    Some(addr) => {
                        let path = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
                        let location = format!("http://{addr}{path}");
                        let body =
                            Json(json!({ "error": format!("node {leader} leads"), "leader": leader.0 }));
                        (StatusCode::TEMPORARY_REDIRECT, [(header::LOCATION, location)], body).into_response()
                    }
                    None => unavailable(format!("node {leader} leads, but its address is not known yet")),
                }
            }
            Refusal::NotLeader { .. } => unavailable("no leader is known"),
            Refusal::Unavailable(why) => unavailable(why),
            Refusal::Invalid(why) => error(StatusCode::BAD_REQUEST, why),
        }
    }
}

fn unavailable(message: impl Into<String>) -> Response {
    let mut response = error(StatusCode::SERVICE_UNAVAILABLE, message);
    response.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
    response
}

fn check_key(key: &str) -> Result<(), Response> {
    if key.len() > MAX_KEY_BYTES {
        return Err(error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("a key of {} bytes, over {MAX_KEY_BYTES}", key.len()),
        ));
    }
    if key.is_empty() {
        return Err(error(StatusCode::BAD_REQUEST, "an empty key"));
    }
    Ok(())
}

/// The request's identity from its headers, or a fresh one.
fn request_id(headers: &HeaderMap) -> Result<RequestId, Response> {
    let read = |name: &str| -> Result<Option<u64>, Response> {
        match headers.get(name) {
            None => Ok(None),
            Some(v) => v
                .to_str()
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .map(Some)
                .ok_or_else(|| error(StatusCode::BAD_REQUEST, format!("{name} must be a number"))),
        }
    };
    match (read("x-quorate-client")?, read("x-quorate-seq")?) {
        (Some(client), Some(seq)) => Ok(RequestId { client, seq }),
        (None, None) => Ok(RequestId { client: crate::entropy(), seq: 1 }),
        _ => Err(error(StatusCode::BAD_REQUEST, "X-Quorate-Client and X-Quorate-Seq go together")),
    }
}

async fn write(api: &Api, headers: &HeaderMap, uri: &Uri, op: KvOp) -> Result<Written, Response> {
    check_key(op.key())?;
    let id = request_id(headers)?;
    match api.ask(|reply| Request::Write { id, op, reply }).await? {
        Ok(written) => Ok(written),
        Err(refusal) => Err(api.refused(refusal, uri)),
    }
}

fn text(body: &Bytes) -> Result<String, Response> {
    String::from_utf8(body.to_vec())
        .map_err(|_| error(StatusCode::BAD_REQUEST, "the value is not UTF-8 text"))
}

async fn put_key(
    State(api): State<Api>,
    Path(key): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    let result = async {
        let value = text(&body)?;
        let written = write(&api, &headers, &uri, KvOp::Put { key, value }).await?;
        Ok::<_, Response>(Json(json!({ "index": written.index })).into_response())
    };
    result.await.unwrap_or_else(|r| r)
}

async fn delete_key(
    State(api): State<Api>,
    Path(key): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    match write(&api, &headers, &uri, KvOp::Delete { key }).await {
        Ok(written) => Json(json!({ "index": written.index })).into_response(),
        Err(r) => r,
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CasBody {
    expect: Option<String>,
    value: String,
}

fn parse_json<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, Response> {
    serde_json::from_slice(body).map_err(|e| error(StatusCode::BAD_REQUEST, format!("bad JSON: {e}")))
}

async fn cas_key(
    State(api): State<Api>,
    Path(key): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    let result = async {
        let CasBody { expect, value } = parse_json(&body)?;
        let written = write(&api, &headers, &uri, KvOp::CompareAndSet { key, expect, value }).await?;
        let KvResult::CompareAndSet { ok, current } = written.result else {
            return Err(error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the store answered a compare-and-set with something else",
            ));
        };
        Ok(Json(json!({ "ok": ok, "current": current, "index": written.index })).into_response())
    };
    result.await.unwrap_or_else(|r| r)
}

#[derive(Deserialize)]
struct ReadQuery {
    consistency: Option<String>,
}

async fn get_key(
    State(api): State<Api>,
    Path(key): Path<String>,
    Query(query): Query<ReadQuery>,
    uri: Uri,
) -> Response {
    if let Err(r) = check_key(&key) {
        return r;
    }
    let consistency = match query.consistency.as_deref() {
        None | Some("linearizable") => Consistency::Linearizable,
        Some("lease") => Consistency::Lease,
        Some("stale") => Consistency::Stale,
        Some(other) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("consistency {other:?} is not linearizable, lease or stale"),
            )
        }
    };
    let answer = match api.ask(|reply| Request::Read { key: key.clone(), consistency, reply }).await {
        Ok(answer) => answer,
        Err(r) => return r,
    };
    match answer {
        Ok(Some(value)) => {
            (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], value).into_response()
        }
        Ok(None) => error(StatusCode::NOT_FOUND, format!("no key {key:?}")),
        Err(refusal) => api.refused(refusal, &uri),
    }
}

async fn status(State(api): State<Api>) -> Response {
    match api.ask(|reply| Request::Status { reply }).await {
        Ok(status) => Json::<Status>(status).into_response(),
        Err(r) => r,
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddMember {
    id: u64,
    addr: String,
}

async fn membership(api: &Api, uri: &Uri, change: MembershipChange) -> Response {
    match api.ask(|reply| Request::Membership { change, reply }).await {
        Ok(Ok(index)) => Json(json!({ "index": index })).into_response(),
        Ok(Err(refusal)) => api.refused(refusal, uri),
        Err(r) => r,
    }
}

async fn add_member(State(api): State<Api>, uri: Uri, body: Bytes) -> Response {
    let AddMember { id, addr } = match parse_json(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    if id == 0 {
        return error(StatusCode::BAD_REQUEST, "node ids start at 1");
    }
    if addr.rsplit_once(':').and_then(|(_, p)| p.parse::<u16>().ok()).is_none_or(|p| p == 0) {
        return error(StatusCode::BAD_REQUEST, format!("{addr:?} is not host:port"));
    }
    membership(&api, &uri, MembershipChange::AddNode { node_id: NodeId(id), address: addr }).await
}

async fn remove_member(State(api): State<Api>, Path(id): Path<String>, uri: Uri) -> Response {
    let Ok(id) = id.parse::<u64>() else {
        return error(StatusCode::BAD_REQUEST, format!("{id:?} is not a node id"));
    };
    membership(&api, &uri, MembershipChange::RemoveNode { node_id: NodeId(id) }).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TransferBody {
    to: u64,
}

async fn transfer(State(api): State<Api>, uri: Uri, body: Bytes) -> Response {
    let TransferBody { to } = match parse_json(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    match api.ask(|reply| Request::Transfer { to: NodeId(to), reply }).await {
        Ok(Ok(leader)) => Json(json!({ "leader": leader })).into_response(),
        Ok(Err(refusal)) => api.refused(refusal, &uri),
        Err(r) => r,
    }
}

async fn metrics(State(api): State<Api>) -> Response {
    let body = api.metrics.render(api.node_id);
    (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}

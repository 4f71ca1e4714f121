//! Peer-to-peer messages over TCP: one outbound connection per peer, each message a frame
//! of the project's codec (its header carries the length).
//!
//! A connection starts with a handshake: the dialer sends a [`Hello`] (cluster id, its own
//! id, the id it expects to reach, its HTTP address) and the listener answers
//! [`HelloReply::Accepted`] or refuses with a reason and closes: a peer of another cluster,
//! or one that meant to reach another node. After it, messages flow one way, dialer to
//! listener (each node dials each peer it sends to). A frame that does not decode, is over
//! the size limit, or carries a message not from the handshake's sender to this node closes
//! the connection with a logged reason; the node keeps serving.
//!
//! Sending never blocks the driver: each peer has a bounded queue, and a message to a full
//! queue (or to a peer with no known address) is dropped and counted, since Raft tolerates
//! loss. A lost connection is dialed again with capped exponential backoff and jitter.

use crate::metrics::Metrics;
use quorate::alerts::AlertEvent;
use quorate::codec::{self, CodecError, FrameKind};
use quorate::driver::Transport;
use quorate::message::Message;
use quorate::types::NodeId;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// Messages a peer's send queue holds before new ones are dropped.
pub const SEND_QUEUE: usize = 4096;
/// Longest wait between two dials of an unreachable peer.
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// First wait after a failed dial.
const MIN_BACKOFF: Duration = Duration::from_millis(50);
/// How long a handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// The first frame on a connection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// The dialer's cluster.
    pub cluster_id: String,
    /// The dialer.
    pub from: u64,
    /// The node the dialer means to reach.
    pub to: u64,
    /// The dialer's HTTP address, if it serves clients (for redirects to it).
    pub http_addr: Option<String>,
}

/// The listener's answer to a [`Hello`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum HelloReply {
    /// Messages may follow.
    Accepted,
    /// Refused, and why; the connection closes.
    Refused(String),
}

/// Reads one frame (header and payload) from `stream`; `Ok(None)` at a clean end of stream.
pub async fn read_frame(stream: &mut (impl AsyncReadExt + Unpin)) -> Result<Option<Vec<u8>>, String> {
    let mut header = [0u8; codec::HEADER_LEN];
    match stream.read_exact(&mut header[..1]).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(format!("read failed: {e}")),
    }
    stream
        .read_exact(&mut header[1..])
        .await
        .map_err(|e| format!("read failed inside a frame header: {e}"))?;
    if header[..4] != codec::MAGIC {
        return Err(format!("bad magic {:02x?}: not a quorate peer", &header[..4]));
    }
    let len = u32::from_le_bytes(header[6..10].try_into().expect("4 bytes")) as usize;
    if len > codec::MAX_FRAME_PAYLOAD {
        return Err(format!("a frame of {len} bytes, over the {} byte limit", codec::MAX_FRAME_PAYLOAD));
    }
    let mut frame = Vec::with_capacity(codec::HEADER_LEN + len);
    frame.extend_from_slice(&header);
    frame.resize(codec::HEADER_LEN + len, 0);
    stream
        .read_exact(&mut frame[codec::HEADER_LEN..])
        .await
        .map_err(|e| format!("read failed inside a frame: {e}"))?;
    Ok(Some(frame))
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    codec::encode(FrameKind::Handshake, value).expect("a handshake encodes")
}

fn decode<T: serde::de::DeserializeOwned>(frame: &[u8]) -> Result<T, CodecError> {
    codec::decode(FrameKind::Handshake, frame).map(|(v, _)| v)
}

/// Who this node is, for handshakes.
#[derive(Clone, Debug)]
pub struct Local {
    /// The cluster's id.
    pub cluster_id: String,
    /// This node's id.
    pub id: NodeId,
    /// This node's HTTP address.
    pub http_addr: Option<String>,
}

/// The node's peers: their addresses, their HTTP addresses as learned from handshakes, and
/// the send queue of each one dialed.
pub struct Peers {
    local: Local,
    metrics: Arc<Metrics>,
    state: Mutex<PeersState>,
}

#[derive(Default)]
struct PeersState {
    addrs: BTreeMap<NodeId, String>,
    http: BTreeMap<NodeId, String>,
    queues: BTreeMap<NodeId, mpsc::Sender<Message>>,
}

impl Peers {
    /// Peers at `addrs` (this node's own entry is ignored).
    pub fn new(local: Local, addrs: BTreeMap<NodeId, String>, metrics: Arc<Metrics>) -> Arc<Peers> {
        let state = PeersState { addrs, ..PeersState::default() };
        Arc::new(Peers { local, metrics, state: Mutex::new(state) })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PeersState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets a peer's address (from a membership entry); the next dial uses it.
    pub fn set_addr(&self, id: NodeId, addr: String) {
        if id != self.local.id && !addr.is_empty() {
            self.lock().addrs.insert(id, addr);
        }
    }

    /// A peer's address, if known.
    pub fn addr(&self, id: NodeId) -> Option<String> {
        self.lock().addrs.get(&id).cloned()
    }

    /// A peer's HTTP address, learned from its handshake.
    pub fn http_addr(&self, id: NodeId) -> Option<String> {
        if id == self.local.id {
            return self.local.http_addr.clone();
        }
        self.lock().http.get(&id).cloned()
    }

    fn learn_http(&self, id: NodeId, http: Option<String>) {
        if let Some(http) = http {
            self.lock().http.insert(id, http);
        }
    }

    /// Queues `msg` for its peer, dialing it first if needed; drops it (counted) when the
    /// queue is full or the peer's address is unknown. Called from within the runtime.
    pub fn send(self: &Arc<Self>, msg: Message) {
        let to = msg.to;
        let mut state = self.lock();
        let queue = match state.queues.get(&to) {
            Some(queue) if !queue.is_closed() => queue.clone(),
            _ => {
                if !state.addrs.contains_key(&to) || to == self.local.id {
                    drop(state);
                    self.metrics.messages_dropped.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                let (tx, rx) = mpsc::channel(SEND_QUEUE);
                state.queues.insert(to, tx.clone());
                let peers = Arc::clone(self);
                tokio::spawn(async move { peers.dial_loop(to, rx).await });
                tx
            }
        };
        drop(state);
        if queue.try_send(msg).is_err() {
            self.metrics.messages_dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Keeps a connection to `to` open, sending what its queue holds; dials again, with
    /// backoff, whenever the connection fails.
    async fn dial_loop(self: Arc<Self>, to: NodeId, mut queue: mpsc::Receiver<Message>) {
        let mut backoff = MIN_BACKOFF;
        let mut jitter = crate::entropy();
        loop {
            let Some(addr) = self.addr(to) else { return };
            match self.connect(to, &addr).await {
                Ok(stream) => {
                    backoff = MIN_BACKOFF;
                    if let Err(why) = self.pump(stream, &mut queue).await {
                        tracing::debug!(peer = %to, %addr, %why, "connection lost");
                    } else {
                        return; // the queue closed: the node stops
                    }
                }
                Err(why) => tracing::debug!(peer = %to, %addr, %why, "cannot reach peer"),
            }
            // Drop what queued meanwhile: stale heartbeats and appends only slow recovery.
            while queue.try_recv().is_ok() {
                self.metrics.messages_dropped.fetch_add(1, Ordering::Relaxed);
            }
            jitter = jitter.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let spread = backoff.as_millis() as u64 / 2 + 1;
            let wait = backoff / 2 + Duration::from_millis((jitter >> 33) % spread);
            tokio::time::sleep(wait).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    async fn connect(&self, to: NodeId, addr: &str) -> Result<TcpStream, String> {
        let mut stream = tokio::time::timeout(HANDSHAKE_TIMEOUT, TcpStream::connect(addr))
            .await
            .map_err(|_| "dial timed out".to_string())?
            .map_err(|e| format!("dial failed: {e}"))?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        let hello = Hello {
            cluster_id: self.local.cluster_id.clone(),
            from: self.local.id.0,
            to: to.0,
            http_addr: self.local.http_addr.clone(),
        };
        stream.write_all(&encode(&hello)).await.map_err(|e| format!("handshake failed: {e}"))?;
        // A stream may buffer until flushed (madsim's does).
        stream.flush().await.map_err(|e| format!("handshake failed: {e}"))?;
        let reply = tokio::time::timeout(HANDSHAKE_TIMEOUT, read_frame(&mut stream))
            .await
            .map_err(|_| "handshake timed out".to_string())??
            .ok_or("the peer closed the connection during the handshake")?;
        match decode::<HelloReply>(&reply).map_err(|e| format!("bad handshake reply: {e}"))? {
            HelloReply::Accepted => Ok(stream),
            HelloReply::Refused(why) => {
                tracing::warn!(peer = %to, %addr, %why, "the peer refused the connection");
                Err(format!("refused: {why}"))
            }
        }
    }

    /// Sends queued messages until the connection fails (`Err`) or the queue closes (`Ok`).
    async fn pump(&self, stream: TcpStream, queue: &mut mpsc::Receiver<Message>) -> Result<(), String> {
        let mut out = BufWriter::with_capacity(64 << 10, stream);
        loop {
            let Some(msg) = queue.recv().await else { return Ok(()) };
            self.write(&mut out, &msg).await?;
            // Everything already queued goes in the same write.
            while let Ok(msg) = queue.try_recv() {
                self.write(&mut out, &msg).await?;
            }
            out.flush().await.map_err(|e| format!("write failed: {e}"))?;
        }
    }

    async fn write(&self, out: &mut BufWriter<TcpStream>, msg: &Message) -> Result<(), String> {
        match codec::encode_message(msg) {
            Ok(frame) => {
                self.metrics.bytes_sent.fetch_add(frame.len() as u64, Ordering::Relaxed);
                out.write_all(&frame).await.map_err(|e| format!("write failed: {e}"))
            }
            Err(e) => {
                tracing::error!(error = %e, "a message does not encode: dropped");
                self.metrics.messages_dropped.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
        }
    }

    /// Accepts peers' connections on `listener` and hands their messages to `inbox`.
    pub async fn accept(self: Arc<Self>, listener: TcpListener, inbox: mpsc::Sender<Message>) {
        loop {
            let (stream, remote) = match listener.accept().await {
                Ok(pair) => pair,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let peers = Arc::clone(&self);
            let inbox = inbox.clone();
            tokio::spawn(async move {
                if let Err(why) = peers.serve(stream, inbox).await {
                    peers.metrics.connections_refused.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(%remote, %why, "closed a peer connection");
                }
            });
        }
    }

    /// One inbound connection: the handshake, then messages until it ends.
    async fn serve(&self, mut stream: TcpStream, inbox: mpsc::Sender<Message>) -> Result<(), String> {
        let _ = stream.set_nodelay(true);
        let frame = tokio::time::timeout(HANDSHAKE_TIMEOUT, read_frame(&mut stream))
            .await
            .map_err(|_| "no handshake within the time allowed".to_string())??
            .ok_or("closed before the handshake")?;
        let hello: Hello = decode(&frame).map_err(|e| format!("bad handshake: {e}"))?;
        let refusal = if hello.cluster_id != self.local.cluster_id {
            Some(format!(
                "cluster {:?} is not this node's cluster {:?}",
                hello.cluster_id, self.local.cluster_id
            ))
        } else if hello.to != self.local.id.0 {
            Some(format!("this is node {}, not node {}", self.local.id.0, hello.to))
        } else if hello.from == 0 || hello.from == self.local.id.0 {
            Some(format!("{} is not a peer's id", hello.from))
        } else {
            None
        };
        if let Some(why) = refusal {
            let _ = stream.write_all(&encode(&HelloReply::Refused(why.clone()))).await;
            let _ = stream.flush().await;
            return Err(format!("handshake refused: {why}"));
        }
        stream
            .write_all(&encode(&HelloReply::Accepted))
            .await
            .map_err(|e| format!("handshake failed: {e}"))?;
        stream.flush().await.map_err(|e| format!("handshake failed: {e}"))?;
        let from = NodeId(hello.from);
        self.learn_http(from, hello.http_addr);
        let mut stream = tokio::io::BufReader::with_capacity(64 << 10, stream);
        while let Some(frame) = read_frame(&mut stream).await? {
            self.metrics.bytes_received.fetch_add(frame.len() as u64, Ordering::Relaxed);
            let msg = codec::decode_message(&frame).map_err(|e| format!("bad frame from {from}: {e}"))?;
            if msg.from != from || msg.to != self.local.id {
                return Err(format!("a message from {} to {} on {from}'s connection", msg.from, msg.to));
            }
            if inbox.try_send(msg).is_err() {
                self.metrics.inbox_dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(())
    }
}

/// The driver's side: messages go to [`Peers`], alerts to the log.
pub struct NetTransport(pub Arc<Peers>);

impl Transport for NetTransport {
    fn send(&mut self, msg: Message) {
        self.0.send(msg);
    }

    fn alert(&mut self, alert: AlertEvent) {
        match alert {
            AlertEvent::LeaderChanged { .. } | AlertEvent::NodeRecovered { .. } => {
                tracing::info!(?alert, "alert")
            }
            _ => tracing::warn!(?alert, "alert"),
        }
    }
}

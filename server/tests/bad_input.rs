//! Bad input from peers and clients: each gets its error, and the node keeps serving.

#![cfg(not(madsim))]

mod common;

use common::{metric, Cluster};
use hyper::{Method, StatusCode};
use quorate::codec::{self, FrameKind};
use quorate_server::client::Client;
use quorate_server::transport::{read_frame, Hello, HelloReply};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn handshake(addr: &str, hello: &Hello) -> (TcpStream, HelloReply) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(&codec::encode(FrameKind::Handshake, hello).unwrap()).await.unwrap();
    let frame = read_frame(&mut stream).await.unwrap().expect("a reply");
    let (reply, _) = codec::decode(FrameKind::Handshake, &frame).unwrap();
    (stream, reply)
}

/// Whether the node closed the connection (a read sees its end, or an error), within a second.
async fn closed(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 64];
    matches!(
        tokio::time::timeout(Duration::from_secs(1), stream.read(&mut buf)).await,
        Ok(Ok(0)) | Ok(Err(_))
    )
}

fn hello(cluster_id: &str, from: u64, to: u64) -> Hello {
    Hello { cluster_id: cluster_id.into(), from, to, http_addr: None }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_frames_and_bad_peers_are_refused_and_the_node_keeps_serving() {
    let mut cluster = Cluster::started("peers", 1, "").await;
    let addr = cluster.nodes[0].peer_addr.clone();

    // Not a quorate peer at all.
    let mut raw = TcpStream::connect(&addr).await.unwrap();
    raw.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n").await.unwrap();
    assert!(closed(&mut raw).await, "garbage must close the connection");

    // Another cluster, another node, a nonsense sender.
    let (mut s, reply) = handshake(&addr, &hello("other", 2, 1)).await;
    assert!(matches!(&reply, HelloReply::Refused(why) if why.contains("cluster")), "{reply:?}");
    assert!(closed(&mut s).await);
    let (mut s, reply) = handshake(&addr, &hello("test", 2, 5)).await;
    assert!(matches!(&reply, HelloReply::Refused(why) if why.contains("not node 5")), "{reply:?}");
    assert!(closed(&mut s).await);
    let (_, reply) = handshake(&addr, &hello("test", 1, 1)).await;
    assert!(matches!(reply, HelloReply::Refused(_)), "a peer claiming this node's own id: {reply:?}");

    // A good handshake, then frames that are not messages.
    let (mut s, reply) = handshake(&addr, &hello("test", 2, 1)).await;
    assert_eq!(reply, HelloReply::Accepted);
    let mut frame = codec::encode(FrameKind::Message, &"not a message").unwrap();
    s.write_all(&frame).await.unwrap();
    assert!(closed(&mut s).await, "a frame that is not a message closes the connection");

    let (mut s, _) = handshake(&addr, &hello("test", 2, 1)).await;
    let last = frame.len() - 1;
    frame[last] ^= 0xff; // the checksum no longer matches
    s.write_all(&frame).await.unwrap();
    assert!(closed(&mut s).await, "a corrupt frame closes the connection");

    let (mut s, _) = handshake(&addr, &hello("test", 2, 1)).await;
    let mut huge = codec::MAGIC.to_vec();
    huge.extend([codec::VERSION, FrameKind::Message as u8]);
    huge.extend(u32::MAX.to_le_bytes());
    huge.extend(0u32.to_le_bytes());
    s.write_all(&huge).await.unwrap();
    assert!(closed(&mut s).await, "a frame over the size limit closes the connection");

    // A message from someone other than the handshake's sender.
    let (mut s, _) = handshake(&addr, &hello("test", 2, 1)).await;
    let msg = quorate::message::Message {
        from: quorate::NodeId(3),
        to: quorate::NodeId(1),
        payload: quorate::message::Payload::RequestVoteResponse(quorate::message::RequestVoteResponse {
            term: quorate::Term(1),
            vote_granted: true,
            pre_vote: false,
        }),
    };
    s.write_all(&codec::encode_message(&msg).unwrap()).await.unwrap();
    assert!(closed(&mut s).await, "a message not from the handshake's sender closes the connection");

    // Still serving, and every refusal was counted.
    let mut client = cluster.client();
    client.put("still", "serving").await.unwrap();
    assert_eq!(client.get("still", "linearizable").await.unwrap().as_deref(), Some("serving"));
    let metrics = client.request(Method::GET, "/metrics", bytes::Bytes::new(), &[]).await.unwrap().text();
    let refused = metric(&metrics, "quorate_refused_connections_total");
    assert!(refused >= 8, "refused connections counted: {refused}\n{metrics}");
    assert!(cluster.nodes[0].running());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_http_requests_get_their_errors() {
    let cluster = Cluster::started("http", 1, "").await;
    let mut client = cluster.client();
    let auth = cluster.nodes[0].http_addr.clone();
    let mut ask = async |method: Method, path: &str, body: Vec<u8>| {
        let (answer, _) = client.exchange(&auth, method, path, bytes::Bytes::from(body), &[]).await.unwrap();
        answer
    };
    // A body over the limit is refused from its length, before it is read.
    let mut raw = TcpStream::connect(&auth).await.unwrap();
    raw.write_all(
        format!("PUT /v1/kv/big HTTP/1.1\r\nhost: {auth}\r\ncontent-length: {}\r\n\r\n", 2 << 20).as_bytes(),
    )
    .await
    .unwrap();
    let mut head = [0u8; 12];
    tokio::time::timeout(Duration::from_secs(5), raw.read_exact(&mut head))
        .await
        .expect("an answer in time")
        .unwrap();
    assert_eq!(&head, b"HTTP/1.1 413", "{}", String::from_utf8_lossy(&head));
    let long_key = format!("/v1/kv/{}", "k".repeat(2000));
    assert_eq!(ask(Method::PUT, &long_key, b"v".to_vec()).await.status, StatusCode::PAYLOAD_TOO_LARGE);
    let bad_json = ask(Method::POST, "/v1/kv/k/cas", b"{\"expect\": ".to_vec()).await;
    assert_eq!(bad_json.status, StatusCode::BAD_REQUEST);
    assert!(bad_json.json().unwrap()["error"].as_str().unwrap().contains("bad JSON"), "{}", bad_json.text());
    let unknown_field = ask(Method::POST, "/v1/kv/k/cas", br#"{"value": "v", "surprise": 1}"#.to_vec()).await;
    assert_eq!(unknown_field.status, StatusCode::BAD_REQUEST);
    let not_text = ask(Method::PUT, "/v1/kv/k", vec![0xff, 0xfe]).await;
    assert_eq!(not_text.status, StatusCode::BAD_REQUEST);
    let route = ask(Method::GET, "/v2/everything", vec![]).await;
    assert_eq!(route.status, StatusCode::NOT_FOUND);
    assert!(route.json().unwrap()["error"].as_str().unwrap().contains("no route"));
    let consistency = ask(Method::GET, "/v1/kv/k?consistency=eventually", vec![]).await;
    assert_eq!(consistency.status, StatusCode::BAD_REQUEST);
    let member = ask(Method::POST, "/v1/members", br#"{"id": 0, "addr": "x:1"}"#.to_vec()).await;
    assert_eq!(member.status, StatusCode::BAD_REQUEST);
    let transfer = ask(Method::POST, "/v1/leader/transfer", b"[]".to_vec()).await;
    assert_eq!(transfer.status, StatusCode::BAD_REQUEST);
    let headers = ask(Method::GET, "/v1/kv/absent", vec![]).await;
    assert_eq!(headers.status, StatusCode::NOT_FOUND);
    // And it still serves.
    let mut client = Client::new(&cluster.endpoints());
    client.put("k", "v").await.unwrap();
    assert_eq!(client.get("k", "stale").await.unwrap().as_deref(), Some("v"));
}

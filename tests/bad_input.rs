//! Bad input gives a typed error, never a panic: bytes without the magic byte, too few bytes,
//! an unknown schema id, a truncated or padded Avro body, and a registry that is down.

mod support;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use docket_records::samples;
use docket_records::{CodecError, Decision, FrameError, Registry, RegistryConfig, frame};
use support::*;

/// Encodes a sample decision into a fresh topic.
async fn valid_bytes(registry: &Registry) -> Vec<u8> {
    let topic = unique_topic("bad-input").await;
    registry
        .encoder::<Decision>(&topic)
        .encode(&samples::decision())
        .await
        .expect("encode")
}

/// A registry URL on a loopback port nothing listens on.
fn dead_registry() -> Registry {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    Registry::new(&RegistryConfig::new(format!(
        "http://127.0.0.1:{port}/apis/ccompat/v7"
    )))
    .unwrap()
}

#[tokio::test]
async fn bytes_without_the_magic_byte_are_refused() {
    let mut bytes = valid_bytes(&registry()).await;
    bytes[0] = b'{';
    let err = registry()
        .decoder::<Decision>()
        .decode(&bytes)
        .await
        .unwrap_err();
    assert!(
        matches!(err, CodecError::Frame(FrameError::BadMagic { found: b'{' })),
        "{err:?}"
    );
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn input_shorter_than_the_header_is_refused() {
    for len in 0..5 {
        let err = registry()
            .decoder::<Decision>()
            .decode(&vec![0; len])
            .await
            .unwrap_err();
        assert!(
            matches!(err, CodecError::Frame(FrameError::TooShort { len: l }) if l == len),
            "{err:?}"
        );
    }
}

#[tokio::test]
async fn an_unknown_schema_id_is_named() {
    let mut bytes = Vec::new();
    frame(987_654_321, &mut bytes);
    bytes.extend_from_slice(&[2, 0]);
    let err = registry()
        .decoder::<Decision>()
        .decode(&bytes)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            CodecError::UnknownSchema {
                id: 987_654_321,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn truncated_avro_is_malformed() {
    let registry = registry();
    let bytes = valid_bytes(&registry).await;
    let decoder = registry.decoder::<Decision>();
    for cut in [6, bytes.len() / 2, bytes.len() - 1] {
        let err = decoder.decode(&bytes[..cut]).await.unwrap_err();
        assert!(
            matches!(err, CodecError::Malformed { .. }),
            "cut at {cut}: {err:?}"
        );
    }
}

#[tokio::test]
async fn trailing_garbage_is_malformed() {
    let registry = registry();
    let mut bytes = valid_bytes(&registry).await;
    bytes.extend_from_slice(b"junk");
    let err = registry
        .decoder::<Decision>()
        .decode(&bytes)
        .await
        .unwrap_err();
    assert!(matches!(err, CodecError::Malformed { .. }), "{err:?}");
}

#[tokio::test]
async fn a_registry_that_is_down_is_retryable_for_readers_and_writers() {
    let bytes = valid_bytes(&registry()).await;
    let dead = dead_registry();

    let err = dead.decoder::<Decision>().decode(&bytes).await.unwrap_err();
    assert!(
        matches!(err, CodecError::RegistryUnavailable { .. }),
        "{err:?}"
    );
    assert!(err.is_retryable());

    let err = dead
        .encoder::<Decision>("docket.decisions.v1")
        .encode(&samples::decision())
        .await
        .unwrap_err();
    assert!(
        matches!(err, CodecError::RegistryUnavailable { .. }),
        "{err:?}"
    );
    assert!(err.is_retryable());
}

/// A registry that answers every request with HTTP 500 and a Confluent error body, counting
/// the requests it got.
fn failing_registry() -> (Registry, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/apis/ccompat/v7", listener.local_addr().unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&hits);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            counter.fetch_add(1, Ordering::SeqCst);
            let body = r#"{"error_code":50001,"message":"store unavailable"}"#;
            let response = format!(
                "HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes());
        }
    });
    (Registry::new(&RegistryConfig::new(url)).unwrap(), hits)
}

#[tokio::test]
async fn a_registry_server_error_is_retryable_and_not_remembered() {
    let bytes = valid_bytes(&registry()).await;
    let (failing, hits) = failing_registry();
    let decoder = failing.decoder::<Decision>();
    for attempt in 1..=2 {
        let err = decoder.decode(&bytes).await.unwrap_err();
        assert!(
            matches!(err, CodecError::RegistryUnavailable { .. }),
            "{err:?}"
        );
        assert!(err.is_retryable());
        assert_eq!(
            hits.load(Ordering::SeqCst),
            attempt,
            "every attempt asks the registry again"
        );
    }
}

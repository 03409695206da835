//! The storage layer against real stores: a local folder and an S3-compatible server (moto,
//! started by the test on a free port).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use futures::{StreamExt, stream};
use sha2::{Digest, Sha256};
use veza_e2e::servers::S3Server;
use veza_jobs::storage::{Storage, StorageConfig, UploadError};

/// 6 MiB of varied bytes: more than one multipart part (5 MiB) so the multipart path runs.
fn payload() -> Vec<u8> {
    (0..6 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect()
}

fn chunked(
    bytes: &[u8],
) -> (
    Bytes,
    impl futures::Stream<Item = Result<Bytes, std::io::Error>> + Unpin,
) {
    let mut chunks: Vec<Bytes> = bytes.chunks(64 * 1024).map(Bytes::copy_from_slice).collect();
    let first = chunks.remove(0);
    (first, stream::iter(chunks.into_iter().map(Ok)))
}

async fn exercise(storage: &Storage) {
    storage.check_reachable().await.unwrap();
    let data = payload();
    let (first, rest) = chunked(&data);
    let stored = storage
        .put_stream("originals/a", first, rest, 16 * 1024 * 1024)
        .await
        .unwrap();
    assert_eq!(stored.size_bytes, data.len() as u64);
    assert_eq!(stored.sha256, hex::encode(Sha256::digest(&data)));

    let (size, mut body) = storage.get_stream("originals/a").await.unwrap().unwrap();
    assert_eq!(size, data.len() as u64);
    let mut read = Vec::new();
    while let Some(chunk) = body.next().await {
        read.extend_from_slice(&chunk.unwrap());
    }
    assert_eq!(read, data);

    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("copy");
    assert_eq!(
        storage.download_to_file("originals/a", &copy).await.unwrap(),
        data.len() as u64
    );
    assert_eq!(std::fs::read(&copy).unwrap(), data);

    // Past the limit: refused, and nothing stays under the key.
    let (first, rest) = chunked(&data);
    let err = storage
        .put_stream("originals/b", first, rest, 1024 * 1024)
        .await
        .unwrap_err();
    assert!(matches!(err, UploadError::TooLarge { .. }), "{err}");
    assert!(storage.get_stream("originals/b").await.unwrap().is_none());

    storage
        .put_bytes("media/m/hls/g/index.m3u8", Bytes::from_static(b"#EXTM3U\n"))
        .await
        .unwrap();
    storage.delete("media/m/hls/g/index.m3u8").await.unwrap();
    assert!(
        storage
            .get_stream("media/m/hls/g/index.m3u8")
            .await
            .unwrap()
            .is_none()
    );
    storage.delete("never/existed").await.unwrap();
}

#[tokio::test]
async fn local_folder_storage_streams_hashes_limits_and_deletes() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::open(&StorageConfig::Fs {
        root: dir.path().join("objects"),
    })
    .unwrap();
    exercise(&storage).await;
}

#[tokio::test]
async fn s3_storage_streams_hashes_limits_and_deletes() {
    let server = S3Server::start("veza-test").await;
    let storage = Storage::open(&StorageConfig::S3 {
        endpoint: Some(server.endpoint.clone()),
        bucket: "veza-test".into(),
        region: "us-east-1".into(),
        access_key_id: "test".into(),
        secret_access_key: "test".into(),
    })
    .unwrap();
    exercise(&storage).await;
}

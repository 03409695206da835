//! Object storage: where originals and outputs live, behind `object_store`.
//!
//! The local filesystem (a folder under the data folder) is the default; any S3-compatible store is
//! one configuration change away. Keys are built here and nowhere else, so the layout is one
//! read: `originals/{media}`, `media/{media}/{hls|thumbnails}/{generation}/{name}`.

use std::{path::PathBuf, sync::Arc, time::Duration};

use bytes::Bytes;
use futures::{Stream, StreamExt};
use object_store::{
    BackoffConfig, ObjectStore, ObjectStoreExt, PutPayload, RetryConfig, WriteMultipart,
    aws::{AmazonS3, AmazonS3Builder},
    local::LocalFileSystem,
    path::Path,
    signer::{Method, Signer},
};
use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family},
    registry::Registry,
};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use uuid::Uuid;

/// Storage settings as they come from the environment (`VEZA_STORAGE`, `VEZA_STORAGE_DIR`,
/// `VEZA_S3_*`); [`StorageSettings::validate`] turns them into a [`StorageConfig`].
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct StorageSettings {
    /// `fs` (default) or `s3`.
    pub storage: Option<String>,
    /// Root folder of the objects for `fs`; defaults to `{data_dir}/objects`.
    pub storage_dir: Option<PathBuf>,
    /// S3 endpoint URL, e.g. `http://127.0.0.1:9000`; unset means AWS.
    pub s3_endpoint: Option<String>,
    /// S3 bucket; it must exist.
    pub s3_bucket: Option<String>,
    /// S3 region; `us-east-1` when unset.
    pub s3_region: Option<String>,
    /// S3 access key id.
    pub s3_access_key_id: Option<String>,
    /// S3 secret access key.
    pub s3_secret_access_key: Option<String>,
}

impl StorageSettings {
    /// Checks the settings, naming every missing or wrong variable in `problems`.
    pub fn validate(&self, data_dir: &std::path::Path, problems: &mut Vec<String>) -> Option<StorageConfig> {
        match self.storage.as_deref().unwrap_or("fs") {
            "fs" => Some(StorageConfig::Fs {
                root: self
                    .storage_dir
                    .clone()
                    .unwrap_or_else(|| data_dir.join("objects")),
            }),
            "s3" => {
                let mut required = |value: &Option<String>, name: &str| {
                    value.clone().filter(|v| !v.is_empty()).or_else(|| {
                        problems.push(format!("VEZA_{name} is required when VEZA_STORAGE=s3"));
                        None
                    })
                };
                let bucket = required(&self.s3_bucket, "S3_BUCKET");
                let key_id = required(&self.s3_access_key_id, "S3_ACCESS_KEY_ID");
                let secret = required(&self.s3_secret_access_key, "S3_SECRET_ACCESS_KEY");
                Some(StorageConfig::S3 {
                    endpoint: self.s3_endpoint.clone(),
                    bucket: bucket?,
                    region: self.s3_region.clone().unwrap_or_else(|| "us-east-1".to_owned()),
                    access_key_id: key_id?,
                    secret_access_key: secret?,
                })
            }
            other => {
                problems.push(format!("VEZA_STORAGE must be `fs` or `s3`, not `{other}`"));
                None
            }
        }
    }
}

/// Which object store to use and how to reach it.
#[derive(Debug, Clone)]
pub enum StorageConfig {
    /// A folder on the local filesystem (created when missing).
    Fs {
        /// Root folder of the objects.
        root: PathBuf,
    },
    /// An S3-compatible bucket.
    S3 {
        /// Endpoint URL; `None` means AWS.
        endpoint: Option<String>,
        /// Bucket name.
        bucket: String,
        /// Region.
        region: String,
        /// Access key id.
        access_key_id: String,
        /// Secret access key.
        secret_access_key: String,
    },
}

/// Errors of the storage layer; all of them are worth a retry.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The store answered with an error or could not be reached.
    #[error("object storage: {0}")]
    Store(#[from] object_store::Error),
    /// A local file could not be written or read.
    #[error("local file: {0}")]
    Io(#[from] std::io::Error),
}

/// The object store and Veza's key layout.
#[derive(Clone)]
pub struct Storage {
    store: Arc<dyn ObjectStore>,
    traffic: StorageTraffic,
    /// The S3 store again, to presign URLs (`None` for a folder).
    signer: Option<Arc<AmazonS3>>,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DirectionLabels {
    direction: &'static str,
}

/// `veza_storage_bytes_total{direction="read"|"written"}`: object bytes this process read from
/// and wrote to storage — the worker's are the bytes its jobs processed (originals in, outputs
/// out), the API's the uploads it stored and the files it served.
#[derive(Debug, Clone, Default)]
pub struct StorageTraffic {
    bytes: Family<DirectionLabels, Counter>,
}

impl StorageTraffic {
    /// Registers the counter.
    pub fn register(registry: &mut Registry) -> Self {
        let bytes = Family::default();
        registry.register(
            "veza_storage_bytes",
            "Object bytes read from and written to storage by this process",
            bytes.clone(),
        );
        Self { bytes }
    }

    fn count(&self, direction: &'static str, bytes: u64) {
        self.bytes
            .get_or_create(&DirectionLabels { direction })
            .inc_by(bytes);
    }
}

/// An object found by [`Storage::list`].
#[derive(Debug, Clone)]
pub struct StoredObject {
    /// Its key.
    pub key: String,
    /// When it was last written.
    pub last_modified: chrono::DateTime<chrono::Utc>,
}

/// What a streamed upload wrote.
#[derive(Debug, Clone)]
pub struct StoredUpload {
    /// Bytes written.
    pub size_bytes: u64,
    /// Lower-case hex SHA-256 of the bytes.
    pub sha256: String,
}

/// Why a streamed upload stopped before it was stored.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// The body grew past the configured limit.
    #[error("upload is larger than {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// Reading the body failed (client went away).
    #[error("reading the upload: {0}")]
    Body(std::io::Error),
    /// Writing to the store failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// How object_store retries one S3 request in place: briefly. Its default (10 retries over up to
/// 3 minutes) would hold a job's slot through an outage that the job's own retries, with their
/// backoff, ride out better, and would hide a failing store from the job's error record.
fn request_retries() -> RetryConfig {
    RetryConfig {
        backoff: BackoffConfig {
            init_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
            base: 2.0,
        },
        max_retries: 3,
        retry_timeout: Duration::from_secs(30),
    }
}

impl Storage {
    /// Opens the configured store.
    pub fn open(config: &StorageConfig) -> Result<Self, StorageError> {
        let (store, signer): (Arc<dyn ObjectStore>, _) = match config {
            StorageConfig::Fs { root } => {
                std::fs::create_dir_all(root)?;
                (Arc::new(LocalFileSystem::new_with_prefix(root)?), None)
            }
            StorageConfig::S3 {
                endpoint,
                bucket,
                region,
                access_key_id,
                secret_access_key,
            } => {
                let mut builder = AmazonS3Builder::new()
                    .with_bucket_name(bucket)
                    .with_region(region)
                    .with_access_key_id(access_key_id)
                    .with_secret_access_key(secret_access_key)
                    .with_retry(request_retries());
                if let Some(endpoint) = endpoint {
                    builder = builder
                        .with_endpoint(endpoint)
                        .with_allow_http(endpoint.starts_with("http://"));
                }
                let s3 = Arc::new(builder.build()?);
                (s3.clone() as Arc<dyn ObjectStore>, Some(s3))
            }
        };
        Ok(Self {
            store,
            traffic: StorageTraffic::default(),
            signer,
        })
    }

    /// A URL that fetches object `key` with no credentials for `expires_in` (S3's presigned
    /// GET); `None` when the store is a folder, which has no such URLs.
    pub async fn presigned_get(
        &self,
        key: &str,
        expires_in: std::time::Duration,
    ) -> Result<Option<String>, StorageError> {
        let Some(signer) = &self.signer else {
            return Ok(None);
        };
        let url = signer
            .signed_url(Method::GET, &Path::from(key), expires_in)
            .await?;
        Ok(Some(url.to_string()))
    }

    /// Counts the bytes read and written into `traffic` (unregistered by default).
    pub fn with_traffic(mut self, traffic: StorageTraffic) -> Self {
        self.traffic = traffic;
        self
    }

    /// Key of a media item's original upload.
    pub fn original_key(media_id: Uuid) -> String {
        format!("originals/{media_id}")
    }

    /// The prefix of every output of a media item, all generations.
    pub fn media_prefix(media_id: Uuid) -> String {
        format!("media/{media_id}")
    }

    /// Key of one output file of a generation. `area` is `hls` or `thumbnails`.
    pub fn output_key(media_id: Uuid, area: &str, generation: &str, name: &str) -> String {
        format!("media/{media_id}/{area}/{generation}/{name}")
    }

    /// Streams `first` and then `rest` into `key` without holding the body in memory, hashing
    /// as it goes. Past `limit` bytes the upload is aborted and nothing stays stored.
    pub async fn put_stream<S>(
        &self,
        key: &str,
        first: Bytes,
        mut rest: S,
        limit: u64,
    ) -> Result<StoredUpload, UploadError>
    where
        S: Stream<Item = Result<Bytes, std::io::Error>> + Unpin,
    {
        let upload = self
            .store
            .put_multipart(&Path::from(key))
            .await
            .map_err(StorageError::from)?;
        let mut writer = WriteMultipart::new(upload);
        let mut hasher = Sha256::new();
        let mut size: u64 = 0;
        let mut chunk = Ok(first);
        loop {
            let bytes = match chunk {
                Ok(bytes) => bytes,
                Err(err) => {
                    // Best effort: the upload failed anyway, a leftover part is orphan cleanup's job.
                    let _ = writer.abort().await;
                    return Err(UploadError::Body(err));
                }
            };
            size += bytes.len() as u64;
            if size > limit {
                let _ = writer.abort().await;
                return Err(UploadError::TooLarge { limit });
            }
            hasher.update(&bytes);
            // Backpressure: at most a few parts in flight, so memory stays bounded.
            writer.wait_for_capacity(4).await.map_err(StorageError::from)?;
            writer.put(bytes);
            match rest.next().await {
                Some(next) => chunk = next,
                None => break,
            }
        }
        writer.finish().await.map_err(StorageError::from)?;
        self.traffic.count("written", size);
        Ok(StoredUpload {
            size_bytes: size,
            sha256: hex::encode(hasher.finalize()),
        })
    }

    /// Writes a small object in one request.
    pub async fn put_bytes(&self, key: &str, bytes: Bytes) -> Result<(), StorageError> {
        let size = bytes.len() as u64;
        self.store
            .put(&Path::from(key), PutPayload::from_bytes(bytes))
            .await?;
        self.traffic.count("written", size);
        Ok(())
    }

    /// Streams an object; `None` when it does not exist.
    pub async fn get_stream(
        &self,
        key: &str,
    ) -> Result<
        Option<(
            u64,
            futures::stream::BoxStream<'static, Result<Bytes, StorageError>>,
        )>,
        StorageError,
    > {
        match self.store.get(&Path::from(key)).await {
            Ok(result) => {
                let size = result.meta.size;
                let traffic = self.traffic.clone();
                let stream = result.into_stream().map(move |chunk| {
                    let chunk = chunk.map_err(StorageError::from)?;
                    traffic.count("read", chunk.len() as u64);
                    Ok(chunk)
                });
                Ok(Some((size, stream.boxed())))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(err) => Err(err.into()),
        }
    }

    /// A whole (small) object in memory; `None` when it does not exist.
    pub async fn get_bytes(&self, key: &str) -> Result<Option<Bytes>, StorageError> {
        let Some((size, mut stream)) = self.get_stream(key).await? else {
            return Ok(None);
        };
        let mut out = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        while let Some(chunk) = stream.next().await {
            out.extend_from_slice(&chunk?);
        }
        Ok(Some(Bytes::from(out)))
    }

    /// Copies an object into a local file chunk by chunk (decoders want `Read + Seek`).
    pub async fn download_to_file(&self, key: &str, file: &std::path::Path) -> Result<u64, StorageError> {
        let result = self.store.get(&Path::from(key)).await?;
        let mut stream = result.into_stream();
        let mut out = tokio::fs::File::create(file).await?;
        let mut size = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            size += chunk.len() as u64;
            self.traffic.count("read", chunk.len() as u64);
            out.write_all(&chunk).await?;
        }
        out.flush().await?;
        Ok(size)
    }

    /// Every object under `prefix` with its age, for maintenance (streamed from the store, so
    /// memory stays bounded by what the caller keeps).
    pub fn list(
        &self,
        prefix: &str,
    ) -> futures::stream::BoxStream<'static, Result<StoredObject, StorageError>> {
        self.store
            .list(Some(&Path::from(prefix)))
            .map(|meta| {
                meta.map(|m| StoredObject {
                    key: m.location.to_string(),
                    last_modified: m.last_modified,
                })
                .map_err(StorageError::from)
            })
            .boxed()
    }

    /// Whether an object exists.
    pub async fn exists(&self, key: &str) -> Result<bool, StorageError> {
        match self.store.head(&Path::from(key)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(err) => Err(err.into()),
        }
    }

    /// Deletes an object; a missing object is not an error.
    pub async fn delete(&self, key: &str) -> Result<(), StorageError> {
        match self.store.delete(&Path::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(err) => Err(err.into()),
        }
    }

    /// Answers whether the store can be reached (a lookup of a key that need not exist).
    pub async fn check_reachable(&self) -> Result<(), StorageError> {
        match self.store.head(&Path::from("readiness-probe")).await {
            Ok(_) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(err) => Err(err.into()),
        }
    }
}

//! A loopback TCP proxy in front of a server that, while armed, cuts every connection whose
//! client has sent more than a set number of bytes on it: an object store failing in the middle
//! of an upload, as a dropped link or a crashing gateway would.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    task::JoinHandle,
};

/// No limit: the proxy relays everything.
const DISARMED: u64 = u64::MAX;

/// The proxy; stops when dropped.
pub struct CuttingProxy {
    /// `http://127.0.0.1:PORT`, to use in place of the server's address.
    pub endpoint: String,
    limit: Arc<AtomicU64>,
    cuts: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl CuttingProxy {
    /// Starts a disarmed proxy to `upstream` (`http://host:port`).
    pub async fn start(upstream: &str) -> Self {
        let upstream: SocketAddr = upstream
            .trim_start_matches("http://")
            .parse()
            .unwrap_or_else(|_| panic!("{upstream} is not http://ip:port"));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let limit = Arc::new(AtomicU64::new(DISARMED));
        let cuts = Arc::new(AtomicUsize::new(0));
        let (conn_limit, conn_cuts) = (limit.clone(), cuts.clone());
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(relay(client, upstream, conn_limit.clone(), conn_cuts.clone()));
            }
        });
        Self {
            endpoint,
            limit,
            cuts,
            task,
        }
    }

    /// From now on, cuts any connection once its client has sent more than `bytes` on it.
    pub fn arm(&self, bytes: u64) {
        self.limit.store(bytes, Ordering::SeqCst);
    }

    /// Relays everything again.
    pub fn disarm(&self) {
        self.limit.store(DISARMED, Ordering::SeqCst);
    }

    /// Connections cut so far.
    pub fn cuts(&self) -> usize {
        self.cuts.load(Ordering::SeqCst)
    }
}

impl Drop for CuttingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Relays one connection both ways until either side closes, or cuts it: the bytes that would
/// pass the limit are never sent, and both sockets are closed at once.
async fn relay(client: TcpStream, upstream: SocketAddr, limit: Arc<AtomicU64>, cuts: Arc<AtomicUsize>) {
    let Ok(server) = TcpStream::connect(upstream).await else {
        return;
    };
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let upload = async {
        let mut sent: u64 = 0;
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match client_read.read(&mut buf).await {
                Ok(0) | Err(_) => {
                    let _ = server_write.shutdown().await;
                    return false;
                }
                Ok(n) => n,
            };
            sent += n as u64;
            if sent > limit.load(Ordering::SeqCst) {
                return true;
            }
            if server_write.write_all(&buf[..n]).await.is_err() {
                return false;
            }
        }
    };
    let download = tokio::io::copy(&mut server_read, &mut client_write);
    tokio::pin!(upload, download);
    tokio::select! {
        cut = &mut upload => {
            if cut {
                cuts.fetch_add(1, Ordering::SeqCst);
                return;
            }
            let _ = download.await;
        }
        _ = &mut download => {}
    }
}

//! Real servers the tests talk to, started on free loopback ports and killed on drop: an
//! S3-compatible store (moto) and an SMTP sink (aiosmtpd, storing mail in a maildir).

use std::{
    net::{TcpListener, TcpStream},
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process killed (and reaped) on drop.
pub struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(command: &mut Command, install_hint: &str) -> ChildGuard {
    let child = command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|err| panic!("{err}: {install_hint} (`just test` installs it)"));
    ChildGuard(child)
}

async fn wait_for_port(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "{what} did not start listening in 30 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The credentials Veza's processes present to the test S3 server (moto takes any).
pub const S3_ACCESS_KEY_ID: &str = "moto";
/// See [`S3_ACCESS_KEY_ID`].
pub const S3_SECRET_ACCESS_KEY: &str = "moto-secret";

/// An S3-compatible server with one bucket.
pub struct S3Server {
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    _process: ChildGuard,
}

impl S3Server {
    /// Starts moto and creates `bucket` (`PUT /{bucket}`; moto takes it unsigned).
    pub async fn start(bucket: &str) -> Self {
        let port = free_port();
        let process = spawn(
            Command::new("moto_server").args(["-H", "127.0.0.1", "-p", &port.to_string()]),
            "moto_server must be installed (pip install 'moto[server]')",
        );
        wait_for_port(port, "moto_server").await;
        let endpoint = format!("http://127.0.0.1:{port}");
        let created = reqwest::Client::new()
            .put(format!("{endpoint}/{bucket}"))
            .send()
            .await
            .unwrap();
        assert!(
            created.status().is_success(),
            "creating bucket: {}",
            created.status()
        );
        Self {
            endpoint,
            _process: process,
        }
    }

    /// The settings that make a Veza process keep its objects in `bucket` here.
    pub fn env(&self, bucket: &str) -> Vec<(String, String)> {
        [
            ("VEZA_STORAGE", "s3"),
            ("VEZA_S3_ENDPOINT", &self.endpoint),
            ("VEZA_S3_BUCKET", bucket),
            ("VEZA_S3_REGION", "us-east-1"),
            ("VEZA_S3_ACCESS_KEY_ID", S3_ACCESS_KEY_ID),
            ("VEZA_S3_SECRET_ACCESS_KEY", S3_SECRET_ACCESS_KEY),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    /// The keys and sizes of every object in `bucket` under `prefix` (S3's `ListObjectsV2`,
    /// unsigned, which moto accepts), in key order.
    pub async fn list(&self, bucket: &str, prefix: &str) -> Vec<(String, u64)> {
        let mut objects = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut query = vec![("list-type", "2".to_owned()), ("prefix", prefix.to_owned())];
            if let Some(token) = &token {
                query.push(("continuation-token", token.clone()));
            }
            let xml = reqwest::Client::new()
                .get(format!("{}/{bucket}", self.endpoint))
                .query(&query)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            for contents in xml.split("<Contents>").skip(1) {
                objects.push((
                    xml_field(contents, "Key").to_owned(),
                    xml_field(contents, "Size").parse().unwrap(),
                ));
            }
            token = xml
                .contains("<IsTruncated>true</IsTruncated>")
                .then(|| xml_field(&xml, "NextContinuationToken").to_owned());
            if token.is_none() {
                return objects;
            }
        }
    }

    /// Multipart uploads begun in `bucket` and neither completed nor aborted
    /// (`ListMultipartUploads`, unsigned).
    pub async fn open_multipart_uploads(&self, bucket: &str) -> usize {
        let xml = reqwest::get(format!("{}/{bucket}?uploads", self.endpoint))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        xml.matches("<Upload>").count()
    }
}

/// The text of the first `<name>` element in `xml`.
fn xml_field<'a>(xml: &'a str, name: &str) -> &'a str {
    let open = format!("<{name}>");
    let start = xml
        .find(&open)
        .map(|at| at + open.len())
        .unwrap_or_else(|| panic!("no <{name}> in {xml}"));
    let end = xml[start..].find('<').map_or(xml.len(), |at| start + at);
    &xml[start..end]
}

/// An SMTP server that stores every accepted message in a maildir.
pub struct SmtpSink {
    /// The port it listens on.
    pub port: u16,
    _process: ChildGuard,
}

impl SmtpSink {
    /// Starts aiosmtpd with its `Mailbox` handler writing into `maildir`.
    pub async fn start(maildir: &Path) -> Self {
        let port = free_port();
        let process = spawn(
            Command::new("python3")
                .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")])
                .args(["-c", "aiosmtpd.handlers.Mailbox"])
                .arg(maildir),
            "python3 with aiosmtpd must be installed (pip install aiosmtpd)",
        );
        wait_for_port(port, "aiosmtpd").await;
        Self {
            port,
            _process: process,
        }
    }

    /// Starts `src/smtp_sink.py` answering in `mode` (`accept`, `busy-once`, `reject-rcpt`,
    /// `reject-data`, `auth-reject`; see the script), storing accepted mail in `maildir`. The
    /// server picks its own free port and reports it, so parallel tests never share a server.
    pub async fn start_scripted(maildir: &Path, mode: &str) -> Self {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/src/smtp_sink.py");
        let mut child = Command::new("python3")
            .arg(script)
            .arg("0")
            .arg(maildir)
            .arg(mode)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|err| {
                panic!("{err}: python3 with aiosmtpd must be installed (pip install aiosmtpd)")
            });
        let stdout = child.stdout.take().unwrap();
        let process = ChildGuard(child);
        let line = tokio::task::spawn_blocking(move || {
            let mut line = String::new();
            std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line).map(|_| line)
        })
        .await
        .unwrap()
        .unwrap();
        let port: u16 = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("smtp_sink.py did not report its port (got `{line}`)"));
        Self {
            port,
            _process: process,
        }
    }

    /// The messages received so far, as raw text.
    pub fn received(maildir: &Path) -> Vec<String> {
        std::fs::read_dir(maildir.join("new"))
            .map(|dir| {
                dir.map(|entry| std::fs::read_to_string(entry.unwrap().path()).unwrap())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// The body of a raw message (after the first blank line) with quoted-printable undone: soft
/// line breaks joined and `=XX` decoded, so links can be read out of it. The headers are left
/// out: they are not quoted-printable.
pub fn decoded_body(mail: &str) -> String {
    let body = mail
        .split_once("\r\n\r\n")
        .or_else(|| mail.split_once("\n\n"))
        .map_or(mail, |(_, body)| body);
    let joined = body.replace("=\r\n", "").replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match hex
            .filter(|_| bytes[i] == b'=')
            .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

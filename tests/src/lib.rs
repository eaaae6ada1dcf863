//! Helpers for the end-to-end tests: build (once) and start the real `acd` binary on ephemeral
//! ports with a private data dir, parse the address it reports, and stop it on drop.
//!
//! Owns: locating/building the binary, process lifetime, and small HTTP conveniences. Does not
//! own any assertion: tests say what they expect.
//!
//! The binary is `$ACD_BIN` when set; otherwise `cargo build -p acd-sidecar --bin acd` runs once
//! per test process (a no-op when up to date, so a stale binary is never tested) into the same
//! target dir and profile as the running test. Every server gets port 0 and its own temp dir,
//! so test binaries can run in parallel.

pub mod voice;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How long a start may take before the helper gives up (a cold start takes milliseconds; the
/// margin is for loaded CI machines).
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The token every helper-started server uses unless a test asks otherwise.
pub const TEST_TOKEN: &str = "acd-test-token";

/// The path of the `acd` binary, built on first use.
pub fn acd_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(bin) = std::env::var_os("ACD_BIN") {
            return PathBuf::from(bin);
        }
        let exe = std::env::current_exe().expect("current test executable");
        // <target>/<profile>/deps/<test-binary>
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("test binary inside <target>/<profile>/deps");
        let target_dir = profile_dir.parent().expect("target dir");
        let release = profile_dir.file_name().is_some_and(|n| n == "release");
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("workspace root");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.current_dir(workspace)
            .args(["build", "-p", "acd-sidecar", "--bin", "acd"])
            .env("CARGO_TARGET_DIR", target_dir);
        if release {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("run cargo build for the acd binary");
        assert!(status.success(), "cargo build --bin acd failed: {status}");
        let bin = profile_dir.join(format!("acd{}", std::env::consts::EXE_SUFFIX));
        assert!(bin.exists(), "{} missing after the build", bin.display());
        bin
    })
}

/// How to start a server.
#[derive(Debug, Clone, Default)]
pub struct AcdBuilder {
    data_dir: Option<PathBuf>,
    token: Option<Option<String>>,
    args: Vec<String>,
    env: Vec<(String, String)>,
}

/// Why a start failed: the process exited before reporting its address.
#[derive(Debug)]
pub struct StartFailure {
    /// The exit status.
    pub status: Option<ExitStatus>,
    /// Everything the process wrote to stderr.
    pub stderr: String,
    /// Everything the process wrote to stdout.
    pub stdout: Vec<String>,
}

impl AcdBuilder {
    /// Uses this data dir (kept across restarts) instead of a fresh temp dir.
    pub fn data_dir(mut self, dir: &Path) -> Self {
        self.data_dir = Some(dir.to_owned());
        self
    }

    /// Uses this token via `ACD_ADMIN_TOKEN` (default [`TEST_TOKEN`]).
    pub fn token(mut self, token: &str) -> Self {
        self.token = Some(Some(token.to_owned()));
        self
    }

    /// Sets no token, so the server generates or reads one from its data dir.
    pub fn generated_token(mut self) -> Self {
        self.token = Some(None);
        self
    }

    /// An extra argument after `serve`.
    pub fn arg(mut self, arg: &str) -> Self {
        self.args.push(arg.to_owned());
        self
    }

    /// An extra environment variable.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Starts the server; panics with its stderr if it does not come up.
    pub fn start(self) -> Acd {
        match self.try_start() {
            Ok(acd) => acd,
            Err(f) => panic!(
                "acd did not start ({:?})\nstdout:\n{}\nstderr:\n{}",
                f.status,
                f.stdout.join("\n"),
                f.stderr
            ),
        }
    }

    /// Starts the server, or reports how it failed.
    pub fn try_start(self) -> Result<Acd, StartFailure> {
        let temp = tempfile::Builder::new()
            .prefix("acd-test-")
            .tempdir()
            .expect("temp dir");
        let data_dir = self
            .data_dir
            .clone()
            .unwrap_or_else(|| temp.path().join("data"));
        let stderr_path = temp.path().join("stderr.log");
        let stderr_file = std::fs::File::create(&stderr_path).expect("stderr log file");
        let mut cmd = Command::new(acd_bin());
        cmd.arg("serve")
            .arg("--data-dir")
            .arg(&data_dir)
            .args(["--admin-listen", "127.0.0.1:0"])
            .args(["--sip-listen", "127.0.0.1:0"])
            .args(["--toolbar-listen", "127.0.0.1:0"])
            .args(&self.args)
            .env_remove("ACD_ADMIN_TOKEN")
            .env_remove("ACD_CONFIG")
            .env("ACD_LOG", "info")
            // Each acd of a test process gets its own RTP ports (tests run in parallel, and
            // two acd handing out the same first port would fail each other's binds); below
            // the kernel's ephemeral range so no listener on port 0 lands in it. A test's own
            // `ACD_MEDIA_PORTS` or `--media-ports` wins.
            .env("ACD_MEDIA_PORTS", default_media_ports())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr_file);
        if let Some(token) = self.token.clone().unwrap_or(Some(TEST_TOKEN.to_owned())) {
            cmd.env("ACD_ADMIN_TOKEN", token);
        }
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn acd");
        let stdout = child.stdout.take().expect("piped stdout");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let reader = {
            let lines = lines.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    lines.lock().unwrap().push(line.clone());
                    let _ = tx.send(line);
                }
            })
        };
        let deadline = Instant::now() + START_TIMEOUT;
        let mut token = self.token.clone().unwrap_or(Some(TEST_TOKEN.to_owned()));
        let mut sip = None;
        let mut toolbar = None;
        let admin = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left.min(Duration::from_millis(200))) {
                Ok(line) => {
                    if let Some(rest) = line.strip_prefix("admin token generated") {
                        token = rest.rsplit(' ').next().map(str::to_owned);
                    }
                    if let Some(addr) = line.strip_prefix("sip listening on ") {
                        sip = addr.trim().parse::<SocketAddr>().ok();
                    }
                    if let Some(addr) = line.strip_prefix("toolbar listening on ") {
                        toolbar = addr.trim().parse::<SocketAddr>().ok();
                    }
                    if let Some(addr) = line.strip_prefix("admin listening on ") {
                        break addr
                            .trim()
                            .parse::<SocketAddr>()
                            .expect("parseable address");
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if let Ok(Some(status)) = child.try_wait() {
                        return Err(failure(Some(status), &stderr_path, &lines));
                    }
                    if Instant::now() >= deadline {
                        let _ = child.kill();
                        let status = child.wait().ok();
                        return Err(failure(status, &stderr_path, &lines));
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = child.wait().ok();
                    return Err(failure(status, &stderr_path, &lines));
                }
            }
        };
        if token.is_none() {
            // A token read from the data dir: the file the server wrote at an earlier start.
            token = std::fs::read_to_string(data_dir.join("admin.token"))
                .ok()
                .map(|t| t.trim().to_owned());
        }
        Ok(Acd {
            child: Some(child),
            admin,
            sip,
            toolbar: toolbar.unwrap_or(admin),
            token: token.unwrap_or_default(),
            data_dir,
            lines,
            reader: Some(reader),
            _rx: rx,
            _temp: temp,
            stderr_path,
            http: reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .expect("http client"),
        })
    }
}

fn failure(status: Option<ExitStatus>, stderr: &Path, lines: &Mutex<Vec<String>>) -> StartFailure {
    StartFailure {
        status,
        stderr: std::fs::read_to_string(stderr).unwrap_or_default(),
        stdout: lines.lock().unwrap().clone(),
    }
}

/// A running `acd serve`; killed on drop.
#[derive(Debug)]
pub struct Acd {
    child: Option<Child>,
    /// The admin API's bound address.
    pub admin: SocketAddr,
    /// The SIP listener's bound address (UDP, and TCP on the same port).
    pub sip: Option<SocketAddr>,
    /// The engine API's (toolbar, ingest) bound address.
    pub toolbar: SocketAddr,
    /// The bearer token.
    pub token: String,
    /// The data dir.
    pub data_dir: PathBuf,
    lines: Arc<Mutex<Vec<String>>>,
    reader: Option<std::thread::JoinHandle<()>>,
    _rx: Receiver<String>,
    _temp: tempfile::TempDir,
    stderr_path: PathBuf,
    http: reqwest::blocking::Client,
}

impl Acd {
    /// A server on ephemeral ports with a fresh data dir and [`TEST_TOKEN`].
    pub fn start() -> Acd {
        Acd::builder().start()
    }

    /// Options for a start.
    pub fn builder() -> AcdBuilder {
        AcdBuilder::default()
    }

    /// `http://ADDR/path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.admin)
    }

    /// A request with the bearer token.
    pub fn request(
        &self,
        method: reqwest::Method,
        path: &str,
    ) -> reqwest::blocking::RequestBuilder {
        self.http
            .request(method, self.url(path))
            .bearer_auth(&self.token)
    }

    /// A request without credentials.
    pub fn anonymous(
        &self,
        method: reqwest::Method,
        path: &str,
    ) -> reqwest::blocking::RequestBuilder {
        self.http.request(method, self.url(path))
    }

    /// GET with the token.
    pub fn get(&self, path: &str) -> reqwest::blocking::Response {
        self.request(reqwest::Method::GET, path)
            .send()
            .expect("GET")
    }

    /// POST JSON with the token.
    pub fn post(&self, path: &str, body: &serde_json::Value) -> reqwest::blocking::Response {
        self.request(reqwest::Method::POST, path)
            .json(body)
            .send()
            .expect("POST")
    }

    /// PATCH JSON with the token.
    pub fn patch(&self, path: &str, body: &serde_json::Value) -> reqwest::blocking::Response {
        self.request(reqwest::Method::PATCH, path)
            .json(body)
            .send()
            .expect("PATCH")
    }

    /// PUT JSON with the token.
    pub fn put(&self, path: &str, body: &serde_json::Value) -> reqwest::blocking::Response {
        self.request(reqwest::Method::PUT, path)
            .json(body)
            .send()
            .expect("PUT")
    }

    /// DELETE with the token.
    pub fn delete(&self, path: &str) -> reqwest::blocking::Response {
        self.request(reqwest::Method::DELETE, path)
            .send()
            .expect("DELETE")
    }

    /// `http://TOOLBAR_ADDR/path` (the engine API).
    pub fn toolbar_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.toolbar)
    }

    /// A request to the engine API with no credentials.
    pub fn toolbar_request(
        &self,
        method: reqwest::Method,
        path: &str,
    ) -> reqwest::blocking::RequestBuilder {
        self.http.request(method, self.toolbar_url(path))
    }

    /// Kills the process with SIGKILL (no shutdown at all) and waits for it to be gone.
    pub fn kill9(mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The process id (to read `/proc/PID/status`, e.g. its resident memory).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Resident memory in KiB (`VmRSS` in `/proc/PID/status`; Linux only).
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("read /proc/PID/status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .expect("VmRSS in /proc/PID/status")
    }

    /// Every stdout line so far.
    pub fn stdout_lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// The file the server's stderr (its log) goes to; it lives as long as this `Acd`.
    pub fn stderr_path(&self) -> PathBuf {
        self.stderr_path.clone()
    }

    /// Everything on stderr so far (the log).
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// Stops with SIGTERM, asserts a clean exit, and returns every stdout line.
    pub fn stdout_lines_after_stop(self) -> Vec<String> {
        let lines = self.lines.clone();
        let status = self.stop();
        assert!(status.success(), "exit status {status}");
        let lines = lines.lock().unwrap().clone();
        lines
    }

    /// Sends SIGTERM and waits for a clean exit; returns the exit status.
    pub fn stop(mut self) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM failed");
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = child.try_wait().expect("wait for acd") {
                // stdout is closed once the process is gone: collect its last lines.
                if let Some(reader) = self.reader.take() {
                    let _ = reader.join();
                }
                return status;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                panic!("acd did not exit after SIGTERM\nstderr:\n{}", self.stderr());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Acd {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Reads a response's JSON body, panicking with the status and text when it is not JSON.
pub fn json_body(response: reqwest::blocking::Response) -> serde_json::Value {
    let status = response.status();
    let text = response.text().expect("body");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{status}: not JSON ({e}): {text}"))
}

/// Asserts a problem+json response with `status` and returns its body.
pub fn expect_problem(response: reqwest::blocking::Response, status: u16) -> serde_json::Value {
    let got = response.status().as_u16();
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body = json_body(response);
    assert_eq!(got, status, "unexpected status; body: {body}");
    assert_eq!(content_type, "application/problem+json", "body: {body}");
    assert_eq!(body["status"], status, "body: {body}");
    assert!(body["title"].is_string(), "body: {body}");
    assert!(body["detail"].is_string(), "body: {body}");
    body
}

/// A block of 64 RTP ports in 30000–32767 for the next acd this process starts.
fn default_media_ports() -> String {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let block = (std::process::id().wrapping_mul(7).wrapping_add(n)) % 43;
    let first = 30_000 + block * 64;
    format!("{first}-{}", first + 63)
}

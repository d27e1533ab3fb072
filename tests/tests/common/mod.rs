//! Starting `slow_server` as a real process and talking to it over TCP.
#![allow(dead_code)] // each test file uses its own subset

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    pub lines: mpsc::Receiver<String>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

pub fn start(env: &[(&str, &str)]) -> Server {
    start_binary(env!("CARGO_BIN_EXE_slow_server"), env)
}

/// Starts `binary` (a server of this crate) in a fresh directory with `env`.
pub fn start_binary(binary: &str, env: &[(&str, &str)]) -> Server {
    let dir = tempfile_dir();
    let mut child = Command::new(binary)
        .current_dir(&dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("APP__SERVER__PORT", "0")
        .env("APP__TELEMETRY__FORMAT", "json")
        .env("APP__TELEMETRY__FILTER", "info")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start slow_server");
    let (tx, lines) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let line = wait_for(&lines, "listening on");
    // JSON has an `addr` field; the text formats say "listening on http://ADDR".
    let addr = match serde_json::from_str::<serde_json::Value>(&line) {
        Ok(v) => v["addr"].as_str().expect("addr field").parse().unwrap(),
        Err(_) => {
            let rest = &line[line.find("http://").expect("listening on http://…") + "http://".len()..];
            let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == ':')).unwrap_or(rest.len());
            rest[..end].parse().unwrap()
        }
    };
    Server { child, addr, lines }
}

pub fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("trestle-shutdown-{}-{}", std::process::id(), fastish_id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn fastish_id() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
}

/// The first log line containing `needle`, within 20 s.
pub fn wait_for(lines: &mpsc::Receiver<String>, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) if line.contains(needle) => return line,
            Ok(_) => {}
            Err(_) => panic!("no log line containing {needle:?} within 20s"),
        }
    }
}

/// A POST with an empty body; the whole response as text.
pub fn post(addr: SocketAddr, path: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(20)))?;
    write!(stream, "POST {path} HTTP/1.1\r\nHost: test\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    Ok(response)
}

pub fn get(addr: SocketAddr, path: &str) -> std::io::Result<String> {
    get_with(addr, path, &[])
}

/// A GET with extra request headers; the whole response (head and body) as text.
pub fn get_with(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(20)))?;
    let extra: String = headers.iter().map(|(k, v)| format!("{k}: {v}\r\n")).collect();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: test\r\n{extra}Connection: close\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    Ok(response)
}

pub fn sigterm(child: &Child) {
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
}

pub fn wait_exit(child: &mut Child, within: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "process did not exit within {within:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Every line the process printed after those already read, once it has exited.
pub fn rest_of(lines: &mpsc::Receiver<String>) -> Vec<String> {
    let mut rest = Vec::new();
    while let Ok(line) = lines.recv_timeout(Duration::from_secs(2)) {
        rest.push(line);
    }
    rest
}

/// Reads one response (head and a `content-length` body) from a kept-alive connection.
pub fn read_response(reader: &mut BufReader<TcpStream>) -> std::io::Result<(String, String)> {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "connection closed mid-response"));
        }
        if line == "\r\n" {
            break;
        }
        head.push_str(&line);
    }
    let length = head
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse::<usize>()))
        .transpose()
        .map_err(std::io::Error::other)?
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    Ok((head, String::from_utf8_lossy(&body).into_owned()))
}

/// Whether the peer closes `stream` (EOF or reset) within `within`; whatever it sends first is
/// discarded.
pub fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    stream.set_read_timeout(Some(within)).unwrap();
    let mut sink = Vec::new();
    match stream.read_to_end(&mut sink) {
        Ok(_) => true,
        Err(e) => matches!(e.kind(), std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted),
    }
}

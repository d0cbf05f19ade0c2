//! How long a streamed chunk takes to cross a proxy.
//!
//! A mock OpenAI-style provider streams chat completion chunks, one every 2 ms, each carrying
//! the machine's monotonic clock at the moment it is written; a client reads the stream and
//! notes, per chunk, how long after that it arrived. Read once directly from the mock and once
//! through a proxy, the difference is what the proxy adds per chunk. Plain blocking sockets, so
//! that the measuring costs little and the same in every row.
//!
//!   chunk_latency serve 127.0.0.1:9200                       # the mock provider
//!   chunk_latency read http://127.0.0.1:9200/v1/chat/completions [KEY] [MODEL]
//!                                                            # prints: p50 p99 (µs) count

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use nix::time::{clock_gettime, ClockId};

const CHUNKS: usize = 200;
const INTERVAL: Duration = Duration::from_millis(2);

fn now_ns() -> u64 {
    let now = clock_gettime(ClockId::CLOCK_MONOTONIC).expect("the monotonic clock");
    u64::try_from(now.tv_sec()).unwrap() * 1_000_000_000 + u64::try_from(now.tv_nsec()).unwrap()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["serve", listen] => serve(listen),
        ["read", url, rest @ ..] if rest.len() <= 2 => {
            let key = rest.first().copied().unwrap_or("");
            let model = rest.get(1).copied().unwrap_or("chat-ts");
            read(url, key, model);
        }
        _ => {
            eprintln!(
                "usage: chunk_latency serve LISTEN_ADDR | chunk_latency read URL [KEY] [MODEL]"
            );
            std::process::exit(2);
        }
    }
}

fn serve(listen: &str) {
    let listener = TcpListener::bind(listen).expect("the listen address");
    for stream in listener.incoming().flatten() {
        std::thread::spawn(move || {
            let _ = answer(stream);
        });
    }
}

/// Answers each request on the connection with a stream of timestamped chunks.
fn answer(stream: TcpStream) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    loop {
        let mut length = 0;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line)? == 0 {
                return Ok(());
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
        }
        reader.read_exact(&mut vec![0; length])?;
        writer.write_all(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\
              transfer-encoding: chunked\r\n\r\n",
        )?;
        for _ in 0..CHUNKS {
            std::thread::sleep(INTERVAL);
            let event = format!(
                "data: {{\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\
                 \"model\":\"m\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{}\"}},\
                 \"finish_reason\":null}}]}}\n\n",
                now_ns()
            );
            writer.write_all(format!("{:x}\r\n{event}\r\n", event.len()).as_bytes())?;
        }
        let tail = format!(
            "data: {{\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\
             \"model\":\"m\",\"choices\":[],\"usage\":{{\"prompt_tokens\":5,\
             \"completion_tokens\":{CHUNKS},\"total_tokens\":{}}}}}\n\ndata: [DONE]\n\n",
            5 + CHUNKS
        );
        writer.write_all(format!("{:x}\r\n{tail}\r\n0\r\n\r\n", tail.len()).as_bytes())?;
    }
}

/// Streams one chat completion and prints the p50 and p99 of its chunks' delays, in µs.
fn read(url: &str, key: &str, model: &str) {
    let rest = url.strip_prefix("http://").expect("an http:// URL");
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let mut stream = TcpStream::connect(authority).expect("a connection");
    stream.set_nodelay(true).unwrap();
    let body = format!(
        "{{\"model\":\"{model}\",\"stream\":true,\"messages\":[{{\"role\":\"user\",\"content\":\"count\"}}]}}"
    );
    let auth = if key.is_empty() {
        String::new()
    } else {
        format!("authorization: Bearer {key}\r\n")
    };
    write!(
        stream,
        "POST /{path} HTTP/1.1\r\nhost: {authority}\r\ncontent-type: application/json\r\n{auth}\
         content-length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let marker = b"\"content\":\"";
    let mut delays = Vec::with_capacity(CHUNKS);
    let mut buffer = Vec::new();
    let mut scanned = 0;
    let mut read = vec![0; 65536];
    loop {
        let n = stream.read(&mut read).expect("the stream");
        if n == 0 {
            break;
        }
        let arrived = now_ns();
        buffer.extend_from_slice(&read[..n]);
        while let Some(at) = find(&buffer[scanned..], marker) {
            let digits = scanned + at + marker.len();
            let Some(end) = buffer[digits..].iter().position(|b| *b == b'"') else {
                break;
            };
            if let Some(sent) = std::str::from_utf8(&buffer[digits..digits + end])
                .ok()
                .and_then(|text| text.parse::<u64>().ok())
            {
                delays.push(arrived.saturating_sub(sent) as f64 / 1000.0);
            }
            scanned = digits + end;
        }
        if find(&buffer, b"[DONE]").is_some() {
            break;
        }
    }
    if delays.is_empty() {
        eprintln!("no chunks arrived: {}", String::from_utf8_lossy(&buffer));
        std::process::exit(1);
    }
    delays.sort_by(f64::total_cmp);
    let p50 = delays[delays.len() / 2];
    let p99 = delays[(delays.len() * 99 / 100).min(delays.len() - 1)];
    println!("{p50:.0} {p99:.0} {}", delays.len());
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

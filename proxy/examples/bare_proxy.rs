//! The floor under tollgate-proxy's costs, for the benchmark: a reverse proxy on the same HTTP
//! engine (hyper server, its upstream connection pool, one current-thread runtime per core on
//! SO_REUSEPORT listeners, mimalloc) that does nothing else: no routing, keys, limits, metrics
//! or usage. What tollgate-proxy spends above this row is its features; what this row spends
//! above nginx is the engine.
//!
//!   cargo run --release -p tollgate-proxy --example bare_proxy -- 127.0.0.1:8080 http://127.0.0.1:9000

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::convert::Infallible;
use std::net::SocketAddr;

use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tollgate_proxy::client::Client;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(listen), Some(upstream)) = (args.next(), args.next()) else {
        eprintln!("usage: bare_proxy LISTEN_ADDR UPSTREAM_URL");
        std::process::exit(2);
    };
    let listen: SocketAddr = listen
        .parse()
        .expect("a listen address such as 127.0.0.1:8080");
    let upstream: Uri = upstream
        .parse()
        .expect("an upstream URL such as http://127.0.0.1:9000");
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads: Vec<_> = (0..workers)
        .map(|_| {
            let listener = reuse_port_listener(listen);
            let upstream = upstream.clone();
            std::thread::spawn(move || {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a runtime")
                    .block_on(serve(listener, upstream));
            })
        })
        .collect();
    for thread in threads {
        let _ = thread.join();
    }
}

async fn serve(listener: std::net::TcpListener, upstream: Uri) {
    let listener = TcpListener::from_std(listener).expect("a tokio listener");
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let client: std::sync::Arc<Client<_, Incoming>> = std::sync::Arc::new(Client::new(connector));
    let authority = upstream.authority().expect("an upstream host").clone();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let client = client.clone();
        let authority = authority.clone();
        let service = service_fn(move |mut request: Request<Incoming>| {
            let client = client.clone();
            let authority = authority.clone();
            async move {
                let path = request
                    .uri()
                    .path_and_query()
                    .map_or("/", |p| p.as_str())
                    .to_owned();
                *request.uri_mut() = Uri::builder()
                    .scheme("http")
                    .authority(authority)
                    .path_and_query(path)
                    .build()
                    .expect("a valid URI");
                let response = match client.request(request).await {
                    Ok(response) => response.map(http_body_util::Either::Left),
                    Err(_) => Response::builder()
                        .status(502)
                        .body(http_body_util::Either::Right(http_body_util::Empty::new()))
                        .expect("a response"),
                };
                Ok::<_, Infallible>(response)
            }
        });
        tokio::spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn reuse_port_listener(addr: SocketAddr) -> std::net::TcpListener {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))
        .expect("a socket");
    socket.set_reuse_address(true).expect("SO_REUSEADDR");
    socket.set_reuse_port(true).expect("SO_REUSEPORT");
    socket.set_nonblocking(true).expect("non-blocking");
    socket.bind(&addr.into()).expect("bind");
    socket.listen(4096).expect("listen");
    socket.into()
}

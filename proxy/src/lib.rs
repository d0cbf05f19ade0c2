//! tollgate-proxy: Tollgate's data plane. Pulls its configuration from tollgate-server, serves
//! REST routes with API keys, rate limits, retries and passive health, meters every request,
//! and keeps serving from its cached configuration while the server is away.

mod active;
mod ai;
mod attempts;
mod body;
mod budget;
mod by_tenant;
#[doc(hidden)] // public for the benchmark's bare proxy, which uses the same engine
pub mod client;
pub mod clock;
pub mod config;
mod conn_limits;
mod egress;
mod error;
mod forward;
mod handler;
mod headers;
mod health;
mod jwt_callers;
mod jwt_issuer;
mod mcp;
mod metrics;
mod probes;
mod rate_limit;
mod redis_call;
mod route;
mod route_match;
mod scope;
mod shared;
mod shared_budgets;
mod shared_limits;
mod spool;
mod stop;
mod sync;
mod usage;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use arc_swap::ArcSwap;
use axum::routing::get;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch, Notify};
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::active::ActiveConfig;
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::forward::Clients;
use crate::health::HealthRegistry;
use crate::metrics::Metrics;
use crate::rate_limit::RateLimiter;
use crate::shared::Shared;
use crate::spool::Spool;
use crate::sync::Syncer;
use crate::usage::ShipperConfig;

/// How long shutdown waits for in-flight requests.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// A running proxy.
pub struct Proxy {
    traffic_addr: SocketAddr,
    metrics_addr: SocketAddr,
    stop: watch::Sender<bool>,
    stop_shipper: watch::Sender<bool>,
    workers: Vec<oneshot::Receiver<()>>,
    shipper: JoinHandle<()>,
    shared: Arc<Shared>,
}

impl Proxy {
    /// Starts serving: from the cached snapshot at once if there is one, and following the
    /// server from then on.
    pub async fn start(config: &Config) -> anyhow::Result<Self> {
        Self::start_with_clock(config, Arc::new(SystemClock)).await
    }

    /// Starts serving with time read from `clock` (tests move it ahead instead of waiting).
    pub async fn start_with_clock(config: &Config, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let started = Instant::now();
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("creating {}", config.data_dir.display()))?;
        let metrics = Arc::new(Metrics::new().context("registering metrics")?);
        let dataplane_id = Uuid::now_v7();
        let server_url = config.server_url.trim_end_matches('/').to_string();
        let token = config.proxy_token.clone().filter(|t| !t.is_empty());
        if token.is_none() {
            tracing::warn!("TOLLGATE_PROXY_TOKEN is not set: the server will refuse this proxy");
        }

        let budgets = Arc::new(budget::Budgets::default());
        let spool =
            Spool::open(&config.data_dir.join("spool")).context("opening the usage spool")?;
        let (recorder, shipper) = usage::pipeline(
            ShipperConfig {
                usage_url: format!("{server_url}{}", tollgate_protocol::internal::USAGE_PATH),
                client: sync::server_client(usage::POST_TIMEOUT)?,
                token: token.clone(),
                dataplane_id,
                spool,
                budgets: budgets.clone(),
            },
            metrics.clone(),
        );
        let shared_limits = match &config.redis_url {
            Some(url) if !url.is_empty() => {
                metrics
                    .export_shared_limits()
                    .context("registering metrics")?;
                Some(Arc::new(shared_limits::SharedLimits::new(
                    url,
                    config.limits_mode,
                    config.redis_sync_interval.max(Duration::from_millis(10)),
                    dataplane_id,
                    metrics.clone(),
                )?))
            }
            _ => None,
        };
        let shared_budgets = shared_limits.as_ref().map(|limits| {
            Arc::new(shared_budgets::SharedBudgets::new(
                limits.clone(),
                config.budget_failure,
                config.budget_max_output_tokens,
            ))
        });
        let shared = Arc::new_cyclic(|shared: &std::sync::Weak<Shared>| Shared {
            prober: probes::Prober::new(Clients::new(egress_of(shared.clone()))),
            config: ArcSwap::from_pointee(ActiveConfig::empty()),
            health: HealthRegistry::default(),
            limiter: RateLimiter::default(),
            token_limiter: rate_limit::TokenLimiter::default(),
            shared_limits: shared_limits.clone(),
            shared_budgets: shared_budgets.clone(),
            metrics,
            usage: recorder,
            budgets,
            jwt_callers: jwt_callers::JwtCallers::default(),
            mcp_sessions: mcp::sessions::Sessions::new(token.as_deref()),
            dataplane_id,
            clock,
        });

        let cache_path = config.data_dir.join("snapshot.json");
        if let Some(snapshot) = sync::load_cache(&cache_path, token.as_deref()) {
            tracing::info!(
                version = snapshot.version,
                "serving the cached configuration until the server answers"
            );
            sync::apply(&shared, &snapshot);
        }

        let workers = match config.workers {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let traffic = bind_listeners(config.listen, workers)
            .with_context(|| format!("listening on {}", config.listen))?;
        let metrics_listener = TcpListener::bind(config.metrics_listen)
            .await
            .with_context(|| format!("listening on {}", config.metrics_listen))?;
        let traffic_addr = traffic[0].local_addr()?;
        let metrics_addr = metrics_listener.local_addr()?;

        let (stop, stopped) = watch::channel(false);
        // The shipper stops after the workers, so the events of requests that finish while
        // they drain are delivered too.
        let (stop_shipper, shipper_stopped) = watch::channel(false);
        let shipper = tokio::spawn(shipper.run(shipper_stopped));
        if let Some(shared_limits) = shared_limits {
            tokio::spawn(shared_limits.run(shared.clock.clone(), stopped.clone()));
        }
        if let Some(shared_budgets) = shared_budgets {
            tokio::spawn(shared_budgets.run(stopped.clone()));
        }
        let syncer = Arc::new(Syncer {
            long_poll: sync::server_client(sync::LONG_POLL_TIMEOUT)?,
            client: sync::server_client(sync::CALL_TIMEOUT)?,
            shared: shared.clone(),
            server_url,
            token,
            cache_path,
            listen_address: traffic_addr.to_string(),
            started,
            loaded: Arc::new(Notify::new()),
        });
        tokio::spawn(syncer.clone().follow(stopped.clone()));
        tokio::spawn(syncer.clone().heartbeats(stopped.clone()));
        tokio::spawn(syncer.spend(stopped.clone()));
        tokio::spawn(serve_metrics(
            metrics_listener,
            shared.clone(),
            stopped.clone(),
        ));
        let per_client = conn_limits::PerClient::new(config.max_connections_per_client);
        let workers = spawn_workers(
            traffic,
            &shared,
            &per_client,
            config.header_timeout,
            &stopped,
        )?;
        tracing::info!(listen = %traffic_addr, metrics = %metrics_addr, id = %dataplane_id, "tollgate-proxy started");
        Ok(Self {
            traffic_addr,
            metrics_addr,
            stop,
            stop_shipper,
            workers,
            shipper,
            shared,
        })
    }

    /// Where the proxy serves traffic (the bound address, so port 0 becomes the real port).
    pub fn traffic_addr(&self) -> SocketAddr {
        self.traffic_addr
    }

    /// Where the proxy serves `/metrics` and its health endpoints.
    pub fn metrics_addr(&self) -> SocketAddr {
        self.metrics_addr
    }

    /// The configuration version in force (0 before any).
    pub fn config_version(&self) -> i64 {
        self.shared.config.load().version
    }

    /// Puts a snapshot in force at once, as if the server had sent it (for tests and for
    /// embedding the proxy without a server).
    pub fn apply_snapshot(&self, snapshot: &tollgate_protocol::Snapshot) {
        sync::apply(&self.shared, snapshot);
    }

    /// How many spend reports this proxy has taken from the server (budgets count them).
    pub fn spend_reports(&self) -> u64 {
        self.shared.budgets.reports()
    }

    /// Stops accepting, lets in-flight requests finish, then delivers (or spools) all usage.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for worker in self.workers {
            let _ = worker.await;
        }
        let _ = self.stop_shipper.send(true);
        let _ = self.shipper.await;
        tracing::info!("tollgate-proxy stopped");
    }
}

/// Binds `count` listeners to one address with SO_REUSEPORT: the kernel spreads connections
/// over them. With port 0, the first picks the port and the others join it.
fn bind_listeners(addr: SocketAddr, count: usize) -> std::io::Result<Vec<std::net::TcpListener>> {
    let first = reuse_port_listener(addr)?;
    let bound = first.local_addr()?;
    let mut listeners = vec![first];
    for _ in 1..count {
        listeners.push(reuse_port_listener(bound)?);
    }
    Ok(listeners)
}

fn reuse_port_listener(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(4096)?;
    Ok(socket.into())
}

/// One worker thread per listener, each with a single-threaded runtime and its own upstream
/// connection pool, like nginx's workers: a request never changes threads, so the hot path
/// pays no cross-thread wake-ups. Returns a signal per worker that fires when it has drained.
fn spawn_workers(
    listeners: Vec<std::net::TcpListener>,
    shared: &Arc<Shared>,
    per_client: &Arc<conn_limits::PerClient>,
    header_timeout: Duration,
    stop: &watch::Receiver<bool>,
) -> anyhow::Result<Vec<oneshot::Receiver<()>>> {
    let mut done_signals = Vec::with_capacity(listeners.len());
    for (index, listener) in listeners.into_iter().enumerate() {
        let (done, drained) = oneshot::channel();
        let shared = shared.clone();
        let per_client = per_client.clone();
        let stop = stop.clone();
        std::thread::Builder::new()
            .name(format!("tollgate-worker-{index}"))
            .spawn(move || {
                match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime.block_on(async move {
                        tokio::spawn(keep_a_deadline_near());
                        match TcpListener::from_std(listener) {
                            Ok(listener) => {
                                serve_traffic(listener, shared, per_client, header_timeout, stop)
                                    .await
                            }
                            Err(err) => tracing::error!(error = %err, "worker cannot listen"),
                        }
                    }),
                    Err(err) => tracing::error!(error = %err, "worker runtime failed to start"),
                }
                let _ = done.send(());
            })
            .context("starting a worker thread")?;
        done_signals.push(drained);
    }
    Ok(done_signals)
}

/// Keeps a timer due within a quarter second on the worker. Tokio wakes its driver with a
/// syscall whenever a timer is set to fire before everything else pending; between requests a
/// connection's header-read deadline would be that timer every time (measured: one eventfd
/// write and one more epoll wake-up per request at one connection). With this one always
/// sooner, setting a request's timers never wakes the driver.
async fn keep_a_deadline_near() {
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        tick.tick().await;
    }
}

/// The egress policy in force, for clients made before the configuration is.
fn egress_of(shared: std::sync::Weak<Shared>) -> egress::PolicySource {
    Arc::new(move || {
        shared.upgrade().map_or_else(
            || Arc::new(egress::Egress::new(&Default::default())),
            |shared| shared.config.load().egress.clone(),
        )
    })
}

async fn serve_traffic(
    listener: TcpListener,
    shared: Arc<Shared>,
    per_client: Arc<conn_limits::PerClient>,
    header_timeout: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let policy_shared = shared.clone();
    let clients = Arc::new(Clients::new(Arc::new(move || {
        policy_shared.config.load().egress.clone()
    })));
    let graceful = GracefulShutdown::new();
    let builder = Arc::new(conn_limits::builder(header_timeout));
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    tracing::warn!(error = %err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
            _ = crate::stop::stopped(&mut stop) => break,
        };
        let Some(slot) = per_client.admit(peer.ip()) else {
            shared.metrics.refused_connections.inc();
            continue;
        };
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        let clients = clients.clone();
        let peer = Arc::new(headers::Peer::new(peer.ip()));
        let service = service_fn(move |request| {
            let shared = shared.clone();
            let clients = clients.clone();
            let peer = peer.clone();
            async move { Ok::<_, Infallible>(handler::handle(shared, &clients, request, &peer).await) }
        });
        let builder = builder.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let _slot = slot;
            if !conn_limits::first_bytes_arrive(&stream, header_timeout).await {
                return;
            }
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            if let Err(err) = watcher.watch(connection.into_owned()).await {
                tracing::debug!(error = %err, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("in-flight requests did not finish in time");
    }
}

async fn serve_metrics(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    let metrics_shared = shared.clone();
    let ready_shared = shared;
    let app = axum::Router::new()
        .route(
            "/metrics",
            get(move || {
                let shared = metrics_shared.clone();
                async move {
                    let metrics = &shared.metrics;
                    let config = shared.config.load();
                    if config.version > 0 {
                        let age = time::OffsetDateTime::now_utc() - config.generated_at;
                        metrics.snapshot_age_seconds.set(age.as_seconds_f64());
                    }
                    metrics
                        .usage_queue_depth
                        .set(i64::try_from(shared.usage.depth()).unwrap_or(0));
                    metrics
                        .ejected_targets
                        .set(i64::try_from(shared.health.ejected()).unwrap_or(0));
                    (
                        [(http::header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                        metrics.render(),
                    )
                }
            }),
        )
        .route(
            "/healthz",
            get(|| async { axum::Json(serde_json::json!({"status": "ok"})) }),
        )
        .route(
            "/readyz",
            get(move || {
                let shared = ready_shared.clone();
                async move {
                    let version = shared.config.load().version;
                    let status = if version > 0 {
                        http::StatusCode::OK
                    } else {
                        http::StatusCode::SERVICE_UNAVAILABLE
                    };
                    (
                        status,
                        axum::Json(serde_json::json!({"ready": version > 0, "version": version})),
                    )
                }
            }),
        );
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            crate::stop::stopped(&mut stop).await;
        })
        .await;
    if let Err(err) = served {
        tracing::warn!(error = %err, "metrics server stopped");
    }
}

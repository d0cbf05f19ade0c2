//! Active health checks: every target of a service with a health check is asked for the check's
//! path every interval (through the same egress policy as traffic). After `unhealthy_threshold`
//! failures in a row it gets no traffic until `healthy_threshold` passes in a row bring it back.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::{Method, Request};
use http_body_util::{BodyExt, Empty};
use tokio::task::JoinHandle;
use tollgate_protocol::{HealthCheck, ServiceEntry};
use uuid::Uuid;

use crate::forward::Clients;
use crate::health::{HealthRegistry, ProbeState};

/// One running check: what it checks, and its task.
struct Running {
    check: HealthCheck,
    task: JoinHandle<()>,
}

/// The checks running, one task per (service, target).
pub(crate) struct Prober {
    running: Mutex<HashMap<(Uuid, String), Running>>,
    clients: Arc<Clients>,
}

impl Prober {
    pub(crate) fn new(clients: Clients) -> Self {
        Self {
            running: Mutex::new(HashMap::new()),
            clients: Arc::new(clients),
        }
    }

    /// Runs the checks `services` ask for, starting new ones, restarting changed ones, and
    /// stopping (and forgetting the findings of) those no longer asked for.
    pub(crate) fn apply(&self, services: &[ServiceEntry], health: &HealthRegistry) {
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        let mut wanted: HashMap<(Uuid, String), (&ServiceEntry, &HealthCheck)> = HashMap::new();
        for service in services {
            for url in &service.targets {
                wanted.insert((service.id, url.clone()), (service, &service.health_check));
            }
        }
        running.retain(|id, check| {
            let keep = wanted.get(id).is_some_and(|(_, c)| **c == check.check);
            if !keep {
                check.task.abort();
                health.probe(id.0, &id.1).reset();
            }
            keep
        });
        health.retain_probes(|id| wanted.contains_key(id));
        for (id, (service, check)) in wanted {
            if running.contains_key(&id) {
                continue;
            }
            let state = health.probe(id.0, &id.1);
            let task = tokio::spawn(probe(
                self.clients.clone(),
                service.label.clone(),
                id.1.clone(),
                check.clone(),
                state,
            ));
            running.insert(
                id,
                Running {
                    check: check.clone(),
                    task,
                },
            );
        }
    }
}

impl Drop for Prober {
    fn drop(&mut self) {
        let running = self.running.get_mut().unwrap_or_else(|p| p.into_inner());
        for check in running.values() {
            check.task.abort();
        }
    }
}

/// Checks one target forever (until aborted).
async fn probe(
    clients: Arc<Clients>,
    service: String,
    url: String,
    check: HealthCheck,
    state: Arc<ProbeState>,
) {
    let timeout = Duration::from_millis(check.timeout_ms.max(1));
    let client = clients.get(timeout);
    let target = format!("{}{}", url.trim_end_matches('/'), check.path);
    let mut every = tokio::time::interval(Duration::from_millis(check.interval_ms.max(1)));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let request = Request::builder()
            .method(Method::GET)
            .uri(&target)
            .header(http::header::USER_AGENT, "tollgate-health-check")
            .body(Empty::new().map_err(|never| match never {}).boxed_unsync());
        let Ok(request) = request else {
            tracing::warn!(%service, %target, "a health check URL is not valid; not checking it");
            return;
        };
        let outcome = tokio::time::timeout(timeout, async {
            let response = client.request(request).await.ok()?;
            let passed = response.status().as_u16() < 500;
            // Read the (small) answer so the connection can be reused.
            let _ = tokio::time::timeout(timeout, response.into_body().collect()).await;
            Some(passed)
        })
        .await;
        let passed = matches!(outcome, Ok(Some(true)));
        match state.record(passed, &check) {
            Some(true) => {
                tracing::info!(%service, %url, "target passes its health checks again: back in rotation")
            }
            Some(false) => {
                tracing::warn!(%service, %url, "target failed its health checks: out of rotation")
            }
            None => {}
        }
    }
}

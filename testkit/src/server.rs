//! A real server on its own database per test, cloned from a template migrated once per run.

use reqwest::StatusCode;
use sqlx::{Connection, PgConnection, PgPool};
use tokio::sync::oneshot;
use tollgate_server::config::Config;
use tollgate_server::Server;

use crate::api::Api;
use crate::template;

/// The bootstrap platform admin's email in test servers.
pub const ADMIN_EMAIL: &str = "admin@example.com";
/// The bootstrap platform admin's password in test servers.
pub const ADMIN_PASSWORD: &str = "correct horse battery";
/// The token shared by the test server and the proxies tests start.
pub const PROXY_TOKEN: &str = "test-proxy-token-0123456789";

/// A running server with its own database, dropped when the test ends.
pub struct TestServer {
    /// `http://127.0.0.1:port` of the server.
    pub base: String,
    /// A pool on the test's own database, for checks the API does not show.
    pub db: PgPool,
    admin_url: String,
    database: String,
    config: Config,
    running: Option<Running>,
    /// The server's own state (its master key among it).
    _data_dir: tempfile::TempDir,
}

/// The serving task of a started server and the switch that stops it.
struct Running {
    shutdown: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

async fn serve(config: &Config) -> (std::net::SocketAddr, Running) {
    let server = Server::start(config).await.expect("server starts");
    let addr = server.local_addr();
    let (shutdown, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(server.serve(async {
        let _ = stopped.await;
    }));
    (addr, Running { shutdown, task })
}

impl TestServer {
    /// Starts a server on a fresh database cloned from the migrated template.
    pub async fn start() -> Self {
        Self::start_with_admin(ADMIN_EMAIL, ADMIN_PASSWORD).await
    }

    /// Starts a server whose bootstrap admin has the given credentials.
    pub async fn start_with_admin(admin_email: &str, admin_password: &str) -> Self {
        let admin_url = template::admin_url();
        let database = template::clone_database().await;
        let url = template::database_url(&database);

        let data_dir = tempfile::tempdir().expect("data directory");
        let mut config = Config::for_database(url.as_str(), data_dir.path().to_path_buf());
        config.admin_email = admin_email.into();
        config.admin_password = Some(admin_password.into());
        config.proxy_token = Some(PROXY_TOKEN.into());
        // Tests play clients at other addresses with X-Forwarded-For from loopback.
        config.trusted_proxies = vec!["127.0.0.0/8".parse().expect("CIDR")];
        let (addr, running) = serve(&config).await;
        // Restarts come back on the same address, where the proxies look for the server.
        config.listen = addr;
        let db = PgPool::connect(url.as_str()).await.expect("test pool");
        // Test upstreams and providers listen on loopback, which the default egress policy
        // refuses; tests of the policy itself set it back.
        sqlx::query(
            "INSERT INTO platform_settings (name, value)
             VALUES ('egress', '{\"allow\": [\"127.0.0.0/8\"], \"deny\": [], \"allow_private\": true}')",
        )
        .execute(&db)
        .await
        .expect("allow loopback egress");
        sqlx::query("UPDATE config_version SET version = version + 1")
            .execute(&db)
            .await
            .expect("bump the config version");
        Self {
            base: format!("http://{addr}"),
            db,
            admin_url,
            database,
            config,
            running: Some(running),
            _data_dir: data_dir,
        }
    }

    /// Where this server listens.
    pub fn addr(&self) -> std::net::SocketAddr {
        self.config.listen
    }

    /// Starts `binary` (the `tollgate-server` executable) as another replica of this server:
    /// same database, master key and proxy token, its own port; returns once it is ready.
    pub async fn replica_process(&self, binary: &str) -> ServerProcess {
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let child = std::process::Command::new(binary)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("DATABASE_URL", self.config.database_url.as_deref().unwrap())
            .env("TOLLGATE_LISTEN", addr.to_string())
            .env("TOLLGATE_DATA_DIR", &self.config.data_dir)
            .env("TOLLGATE_PROXY_TOKEN", PROXY_TOKEN)
            .env("TOLLGATE_ADMIN_EMAIL", &self.config.admin_email)
            .env("TOLLGATE_TRUSTED_PROXIES", "127.0.0.0/8")
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("tollgate-server starts");
        let replica = ServerProcess { addr, child };
        let ready = format!("http://{addr}/readyz");
        for _ in 0..400 {
            if let Ok(reply) = reqwest::get(&ready).await {
                if reply.status().is_success() {
                    return replica;
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        panic!("the replica on {addr} never became ready");
    }

    /// The connection URL of this server's database.
    pub fn database_url(&self) -> &str {
        self.config.database_url.as_deref().unwrap_or_default()
    }

    /// The name of this server's database.
    pub fn database_name(&self) -> &str {
        &self.database
    }

    /// A connection with rights over every database (to take this one away and back).
    pub async fn superuser(&self) -> PgConnection {
        PgConnection::connect(&self.admin_url)
            .await
            .expect("connect")
    }

    /// Stops the server gracefully (its database stays).
    pub async fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            let _ = running.shutdown.send(());
            let _ = running.task.await;
        }
    }

    /// Points the console's try-it form and snippets at a proxy (restarts the server).
    pub async fn set_proxy_url(&mut self, url: &str) {
        self.config.proxy_url = url.to_string();
        self.restart().await;
    }

    /// Sets how long clients have to send headers (restarts the server).
    pub async fn set_header_timeout(&mut self, timeout: std::time::Duration) {
        self.config.header_timeout = timeout;
        self.restart().await;
    }

    /// Starts the server again on the same address and database.
    pub async fn restart(&mut self) {
        self.stop().await;
        let (_, running) = serve(&self.config).await;
        self.running = Some(running);
    }

    /// A client with no credentials.
    pub fn anonymous(&self) -> Api {
        Api::new(&self.base, None)
    }

    /// A client logged in as the given user.
    pub async fn login(&self, email: &str, password: &str) -> Api {
        let api = self.anonymous();
        let reply = api
            .post(
                "/api/v1/auth/login",
                serde_json::json!({"email": email, "password": password}),
            )
            .await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "login of {email}: {}",
            reply.body
        );
        api
    }

    /// A client logged in as the bootstrap platform admin.
    pub async fn admin(&self) -> Api {
        self.login(ADMIN_EMAIL, ADMIN_PASSWORD).await
    }

    /// Moves the whole request space (any host, `/`) from `default` to `tenant`, as a platform
    /// admin would for a tenant that should serve every route.
    pub async fn give_request_space(&self, tenant: &str) {
        let admin = self.admin().await;
        let emptied = admin
            .put(
                "/api/v1/tenants/default/namespace",
                serde_json::json!({"parts": []}),
            )
            .await;
        assert_eq!(emptied.status, StatusCode::OK, "{}", emptied.text);
        let given = admin
            .put(
                &format!("/api/v1/tenants/{tenant}/namespace"),
                serde_json::json!({"parts": [{"path_prefix": "/"}]}),
            )
            .await;
        assert_eq!(given.status, StatusCode::OK, "{}", given.text);
    }

    /// Creates `tenant` with a user of every role, each signed in.
    pub async fn users_of_every_role(&self, tenant: &str) -> RoleUsers {
        let user = |role: &'static str| {
            let email = format!("{role}@{tenant}.example");
            async move { self.user_with_role(tenant, &email, role).await }
        };
        RoleUsers {
            viewer: user("viewer").await,
            member: user("member").await,
            admin: user("admin").await,
            owner: user("owner").await,
        }
    }

    /// Creates a tenant (as the platform admin) and a user with the given role in it; returns a
    /// client logged in as that user.
    pub async fn user_with_role(&self, tenant: &str, email: &str, role: &str) -> Api {
        let admin = self.admin().await;
        let exists = admin.get(&format!("/api/v1/tenants/{tenant}")).await;
        if exists.status == StatusCode::NOT_FOUND {
            let created = admin
                .post(
                    "/api/v1/tenants",
                    serde_json::json!({"name": tenant, "slug": tenant}),
                )
                .await;
            assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        }
        let added = admin
            .post(
                &format!("/api/v1/tenants/{tenant}/members"),
                serde_json::json!({"email": email, "password": "user-password-1", "role": role}),
            )
            .await;
        assert_eq!(added.status, StatusCode::CREATED, "{}", added.body);
        self.login(email, "user-password-1").await
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(running) = self.running.take() {
            let _ = running.shutdown.send(());
        }
        drop_database(self.admin_url.clone(), self.database.clone());
    }
}

/// Drops a test database, from a thread with a runtime of its own (drops run inside the test's
/// runtime).
fn drop_database(admin_url: String, database: String) {
    let _ = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        runtime.block_on(async {
            let mut conn = PgConnection::connect(&admin_url)
                .await
                .map_err(std::io::Error::other)?;
            sqlx::query(&format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"))
                .execute(&mut conn)
                .await
                .map_err(std::io::Error::other)?;
            Ok::<_, std::io::Error>(())
        })
    })
    .join();
}

/// A database with no schema at all, dropped when the test ends: for what servers do on a
/// fresh installation.
pub struct EmptyDatabase {
    /// Its URL, as `DATABASE_URL` takes it.
    pub url: String,
    name: String,
}

impl EmptyDatabase {
    /// Creates one on the tests' PostgreSQL.
    pub async fn create() -> Self {
        let name = template::empty_database().await;
        Self {
            url: template::database_url(&name),
            name,
        }
    }
}

impl Drop for EmptyDatabase {
    fn drop(&mut self) {
        drop_database(template::admin_url(), self.name.clone());
    }
}

/// A `tollgate-server` process on a test server's database and master key: another replica, as
/// behind a load balancer. Killed (SIGKILL) when dropped.
pub struct ServerProcess {
    /// Where it listens.
    pub addr: std::net::SocketAddr,
    child: std::process::Child,
}

impl ServerProcess {
    /// Stops it (SIGSTOP) without closing anything: connections are accepted by the kernel and
    /// requests sent, but nothing answers, as from a server stuck or cut off mid-network.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Lets a paused server go on (SIGCONT).
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let status = std::process::Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill {signal} failed");
    }

    /// Kills it at once, as a crashed machine would go: no graceful shutdown.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One signed-in user per role in a tenant: `viewer@<tenant>.example` and so on.
pub struct RoleUsers {
    /// Reads only.
    pub viewer: Api,
    /// Manages keys and prompt APIs.
    pub member: Api,
    /// Manages routes, providers, models and members.
    pub admin: Api,
    /// Everything in the tenant, the owner role included.
    pub owner: Api,
}

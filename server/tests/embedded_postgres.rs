//! The server's embedded-PostgreSQL default: the real binary on an empty data directory.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use nix::unistd::{chown, Uid, User};
use serde_json::json;

struct Started {
    child: Child,
    base: String,
    password: Option<String>,
}

/// Starts `tollgate-server` with no DATABASE_URL and reads its first lines of output.
fn start(data_dir: &std::path::Path) -> Started {
    start_as(data_dir, None)
}

/// Like [`start`], as the given OS user.
fn start_as(data_dir: &std::path::Path, user: Option<&User>) -> Started {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tollgate-server"));
    if let Some(user) = user {
        command
            .uid(user.uid.as_raw())
            .gid(user.gid.as_raw())
            .env("HOME", &user.dir);
    }
    let child = command
        .env_remove("DATABASE_URL")
        .env_remove("TOLLGATE_ADMIN_PASSWORD")
        .env_remove("TOLLGATE_ADMIN_EMAIL")
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn tollgate-server");
    // From here on, a failing test still stops the server (and its cluster) on drop.
    let mut started = Started {
        child,
        base: String::new(),
        password: None,
    };
    let stdout = started.child.stdout.take().unwrap();
    let (lines_tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    loop {
        let line = lines
            .recv_timeout(Duration::from_secs(90))
            .expect("the server printed its address in time");
        if let Some(password) = line.trim().strip_prefix("password: ") {
            started.password = Some(password.to_string());
        }
        if let Some(url) = line.strip_prefix("Tollgate console: ") {
            started.base = url.trim().trim_end_matches('/').to_string();
            return started;
        }
    }
}

/// Stops the server with SIGTERM, as an init system would, and expects a clean exit.
fn stop(mut started: Started) {
    let exit = started.terminate();
    assert!(exit.success(), "graceful shutdown exits 0: {exit}");
}

impl Started {
    fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        self.child.wait().unwrap()
    }
}

impl Drop for Started {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.terminate();
        }
    }
}

async fn login(base: &str, password: &str) -> reqwest::StatusCode {
    reqwest::Client::new()
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"email": "admin@localhost", "password": password}))
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn starts_its_own_postgres_on_an_empty_data_directory_and_reuses_it() {
    let data_dir = tempfile::tempdir().unwrap();

    let first = start(data_dir.path());
    let password = first
        .password
        .clone()
        .expect("the first start prints the admin password");
    assert!(password.len() >= 16);
    assert!(data_dir.path().join("postgres/PG_VERSION").exists());
    assert_eq!(login(&first.base, &password).await, 200);
    assert_eq!(login(&first.base, "wrong-password").await, 401);
    stop(first);
    assert!(
        !data_dir.path().join("postgres/postmaster.pid").exists(),
        "the cluster was stopped"
    );

    // Second start: same cluster and admin, no new password.
    let second = start(data_dir.path());
    assert_eq!(second.password, None);
    assert_eq!(login(&second.base, &password).await, 200);
    assert_eq!(setting(data_dir.path(), "min_wal_size").await, "512MB");
    let conf = std::fs::read_to_string(data_dir.path().join("postgres/postgresql.conf")).unwrap();
    assert_eq!(
        conf.matches("include_if_exists = 'tollgate.conf'").count(),
        1,
        "the settings are included once, however often the server starts"
    );
    stop(second);
}

/// A setting of the running cluster, read as its superuser (the port from `postmaster.pid`).
async fn setting(data_dir: &std::path::Path, name: &str) -> String {
    use sqlx::Connection;
    let pid_file = std::fs::read_to_string(data_dir.join("postgres/postmaster.pid")).unwrap();
    let port = pid_file.lines().nth(3).unwrap().trim();
    let password = std::fs::read_to_string(data_dir.join("postgres.password")).unwrap();
    let url = format!(
        "postgres://tollgate:{}@127.0.0.1:{port}/tollgate",
        password.trim()
    );
    let mut db = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::query_scalar("SELECT current_setting($1)")
        .bind(name)
        .fetch_one(&mut db)
        .await
        .unwrap()
}

/// Started as an ordinary user, the server runs PostgreSQL as that same user. (Run as root,
/// the test takes the `postgres` account as the ordinary user; otherwise the test above already
/// runs as one.)
#[tokio::test]
async fn an_ordinary_user_runs_the_cluster_as_itself() {
    let user = if Uid::effective().is_root() {
        User::from_name("postgres")
            .unwrap()
            .expect("a postgres user when testing as root")
    } else {
        User::from_uid(Uid::effective()).unwrap().unwrap()
    };
    let data_dir = tempfile::tempdir().unwrap();
    chown(data_dir.path(), Some(user.uid), Some(user.gid)).unwrap();
    let running_as = Uid::effective().is_root().then_some(&user);

    let started = start_as(data_dir.path(), running_as);
    let password = started.password.clone().unwrap();
    assert_eq!(login(&started.base, &password).await, 200);
    let owner = std::os::unix::fs::MetadataExt::uid(
        &std::fs::metadata(data_dir.path().join("postgres/PG_VERSION")).unwrap(),
    );
    assert_eq!(owner, user.uid.as_raw());
    stop(started);
}

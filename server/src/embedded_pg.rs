//! A private PostgreSQL cluster run from the installed binaries, for a server started without
//! `DATABASE_URL` (and for tests).
//!
//! The cluster lives in `<data dir>/postgres`, listens on a free loopback port with password
//! authentication, and is reused on the next start. PostgreSQL refuses to run as root, so a root
//! caller runs it as the `postgres` system user (or `nobody`).

use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;

use anyhow::{bail, Context};
use nix::unistd::{chown, Uid, User};
use rand::distributions::{Alphanumeric, DistString};
use sqlx::Connection;
use tokio::process::Command;

/// The database role and database the server uses inside its private cluster.
const ROLE: &str = "tollgate";
const DATABASE: &str = "tollgate";

/// The file of tollgate's own settings in the cluster directory, rewritten at every start.
const SETTINGS_FILE: &str = "tollgate.conf";
const SETTINGS: &str = "\
# Written by tollgate-server at every start; ALTER SYSTEM overrides these.
#
# The usage log takes a steady stream of inserts. Keep up to 512 MB of used WAL segments for
# reuse at each checkpoint rather than deleting them and making new ones: PostgreSQL writes a
# new segment full of zeros first, a fifth of its CPU while it ingests usage.
min_wal_size = 512MB
";

/// A running private cluster. Call [`EmbeddedPostgres::stop`] to shut it down cleanly.
#[derive(Debug)]
pub(crate) struct EmbeddedPostgres {
    bin_dir: PathBuf,
    cluster_dir: PathBuf,
    port: u16,
    password: String,
    run_as: Option<User>,
    /// It was running already (another process owns it).
    adopted: bool,
}

impl EmbeddedPostgres {
    /// Creates the cluster under `state_dir/postgres` on first use, starts it (or adopts one
    /// already running there), and makes sure the `tollgate` database exists.
    pub(crate) async fn start(state_dir: &Path) -> anyhow::Result<Self> {
        let bin_dir = find_bin_dir().await?;
        let run_as = unprivileged_user()?;
        std::fs::create_dir_all(state_dir)
            .with_context(|| format!("creating data directory {}", state_dir.display()))?;
        let state_dir = state_dir.canonicalize()?;
        if run_as.is_some() {
            allow_traverse(&state_dir)?;
        }
        let cluster_dir = state_dir.join("postgres");
        let password = superuser_password(&state_dir)?;
        let mut pg = Self {
            bin_dir,
            cluster_dir,
            port: 0,
            password,
            run_as,
            adopted: false,
        };
        if !pg.cluster_dir.join("PG_VERSION").exists() {
            pg.init().await?;
        }
        match pg.running_port() {
            Some(port) if pg.is_running().await => {
                tracing::info!(
                    port,
                    "adopting the PostgreSQL cluster already running in the data directory"
                );
                pg.port = port;
                pg.adopted = true;
            }
            _ => {
                pg.write_settings()?;
                pg.launch().await?
            }
        }
        pg.ensure_database().await?;
        Ok(pg)
    }

    /// Whether another process started the cluster (so it is not this one's to stop).
    pub(crate) fn adopted(&self) -> bool {
        self.adopted
    }

    /// The connection URL of the `tollgate` database.
    pub(crate) fn url(&self) -> String {
        self.url_for(DATABASE)
    }

    fn url_for(&self, database: &str) -> String {
        format!(
            "postgres://{ROLE}:{}@127.0.0.1:{}/{database}",
            self.password, self.port
        )
    }

    /// Stops the cluster (fast shutdown: open sessions are ended, data is flushed).
    pub(crate) async fn stop(self) -> anyhow::Result<()> {
        let output = self
            .command("pg_ctl")
            .arg("stop")
            .arg("-D")
            .arg(&self.cluster_dir)
            .args(["-m", "fast", "-w", "-t", "60"])
            .output()
            .await?;
        check("pg_ctl stop", &output)?;
        tracing::info!("embedded PostgreSQL stopped");
        Ok(())
    }

    async fn init(&self) -> anyhow::Result<()> {
        tracing::info!(dir = %self.cluster_dir.display(), "creating a private PostgreSQL cluster");
        std::fs::create_dir_all(&self.cluster_dir)?;
        std::fs::set_permissions(&self.cluster_dir, std::fs::Permissions::from_mode(0o700))?;
        self.give_to_runner(&self.cluster_dir)?;

        // initdb reads the superuser password from a file the cluster's owner can read.
        let pwfile = self
            .cluster_dir
            .parent()
            .unwrap_or(Path::new("."))
            .join(".postgres-initdb-pw");
        std::fs::write(&pwfile, &self.password)?;
        std::fs::set_permissions(&pwfile, std::fs::Permissions::from_mode(0o600))?;
        self.give_to_runner(&pwfile)?;
        let output = self
            .command("initdb")
            .arg("-D")
            .arg(&self.cluster_dir)
            .args([
                "-U",
                ROLE,
                "--auth=scram-sha-256",
                "-E",
                "UTF8",
                "--locale=C",
            ])
            .arg(format!("--pwfile={}", pwfile.display()))
            .output()
            .await;
        let _ = std::fs::remove_file(&pwfile);
        let output = output.context("running initdb")?;
        if let Err(err) = check("initdb", &output) {
            // A half-made cluster would block every later start.
            let _ = std::fs::remove_dir_all(&self.cluster_dir);
            return Err(err);
        }

        let conf = self.cluster_dir.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf)?;
        text.push_str(
            "\n# tollgate: loopback TCP only, no Unix socket (its path length is limited)\n\
             listen_addresses = '127.0.0.1'\n\
             unix_socket_directories = ''\n",
        );
        std::fs::write(&conf, text)?;
        Ok(())
    }

    /// Writes tollgate's settings to `tollgate.conf`, read through an include at the end of
    /// `postgresql.conf` (added once, so clusters made by older versions get it too). Settings
    /// made with `ALTER SYSTEM` still win: `postgresql.auto.conf` is read after both.
    fn write_settings(&self) -> anyhow::Result<()> {
        let settings = self.cluster_dir.join(SETTINGS_FILE);
        std::fs::write(&settings, SETTINGS)
            .with_context(|| format!("writing {}", settings.display()))?;
        self.give_to_runner(&settings)?;
        let conf = self.cluster_dir.join("postgresql.conf");
        let text = std::fs::read_to_string(&conf)?;
        let include = format!("include_if_exists = '{SETTINGS_FILE}'");
        if !text.lines().any(|line| line.trim() == include) {
            std::fs::write(&conf, format!("{text}\n{include}\n"))?;
        }
        Ok(())
    }

    async fn launch(&mut self) -> anyhow::Result<()> {
        let log = self.cluster_dir.join("server.log");
        let mut last_error = None;
        // A free port can be taken between choosing and binding it: try a few.
        for _ in 0..3 {
            let port = free_port()?;
            let output = self
                .command("pg_ctl")
                .arg("start")
                .arg("-D")
                .arg(&self.cluster_dir)
                .arg("-l")
                .arg(&log)
                .args(["-w", "-t", "60", "-o"])
                .arg(format!("-p {port}"))
                .output()
                .await
                .context("running pg_ctl start")?;
            match check("pg_ctl start", &output) {
                Ok(()) => {
                    self.port = port;
                    tracing::info!(port, "embedded PostgreSQL started");
                    return Ok(());
                }
                Err(err) => last_error = Some(err),
            }
        }
        let tail = std::fs::read_to_string(&log).unwrap_or_default();
        let tail: Vec<&str> = tail.lines().rev().take(10).collect();
        Err(last_error
            .unwrap_or_else(|| anyhow::anyhow!("pg_ctl start failed"))
            .context(format!(
                "PostgreSQL did not start; last lines of {}:\n{}",
                log.display(),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            )))
    }

    async fn is_running(&self) -> bool {
        self.command("pg_ctl")
            .arg("status")
            .arg("-D")
            .arg(&self.cluster_dir)
            .output()
            .await
            .map(|o| o.status.success())
            .unwrap_or(false)
    }

    /// The port recorded in `postmaster.pid` (its fourth line), if the file is there.
    fn running_port(&self) -> Option<u16> {
        let pid_file = std::fs::read_to_string(self.cluster_dir.join("postmaster.pid")).ok()?;
        pid_file.lines().nth(3)?.trim().parse().ok()
    }

    async fn ensure_database(&self) -> anyhow::Result<()> {
        let mut conn = sqlx::PgConnection::connect(&self.url_for("postgres"))
            .await
            .context("connecting to the embedded PostgreSQL")?;
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
                .bind(DATABASE)
                .fetch_one(&mut conn)
                .await?;
        if !exists {
            sqlx::query(&format!("CREATE DATABASE {DATABASE}"))
                .execute(&mut conn)
                .await?;
        }
        conn.close().await?;
        Ok(())
    }

    fn command(&self, program: &str) -> Command {
        let mut command = Command::new(self.bin_dir.join(program));
        command.env("LC_ALL", "C").kill_on_drop(true);
        if let Some(parent) = self.cluster_dir.parent() {
            command.current_dir(parent);
        }
        if let Some(user) = &self.run_as {
            command
                .uid(user.uid.as_raw())
                .gid(user.gid.as_raw())
                .env("HOME", &user.dir)
                .env("USER", &user.name);
        }
        command
    }

    fn give_to_runner(&self, path: &Path) -> anyhow::Result<()> {
        if let Some(user) = &self.run_as {
            chown(path, Some(user.uid), Some(user.gid))
                .with_context(|| format!("handing {} to user {}", path.display(), user.name))?;
        }
        Ok(())
    }
}

/// The account to run PostgreSQL as when we are root; `None` when we are an ordinary user.
fn unprivileged_user() -> anyhow::Result<Option<User>> {
    if !Uid::effective().is_root() {
        return Ok(None);
    }
    for name in ["postgres", "nobody"] {
        if let Some(user) = User::from_name(name)? {
            return Ok(Some(user));
        }
    }
    bail!(
        "PostgreSQL refuses to run as root and there is no 'postgres' or 'nobody' user to run it as; \
         create one, run tollgate-server as an ordinary user, or set DATABASE_URL"
    )
}

/// Lets the unprivileged cluster owner pass through the data directory (not list it).
fn allow_traverse(dir: &Path) -> anyhow::Result<()> {
    let mode = std::fs::metadata(dir)?.permissions().mode();
    if mode & 0o001 == 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode | 0o011))?;
    }
    Ok(())
}

/// The cluster's superuser password, created once and kept (mode 0600) beside the cluster.
fn superuser_password(state_dir: &Path) -> anyhow::Result<String> {
    let path = state_dir.join("postgres.password");
    if let Ok(existing) = std::fs::read_to_string(&path) {
        let existing = existing.trim().to_string();
        if !existing.is_empty() {
            return Ok(existing);
        }
    }
    if state_dir.join("postgres").join("PG_VERSION").exists() {
        bail!(
            "{} is missing, so the existing cluster in {} cannot be reached; restore the file or \
             move the cluster away to start afresh",
            path.display(),
            state_dir.join("postgres").display()
        );
    }
    let password = Alphanumeric.sample_string(&mut rand::thread_rng(), 32);
    std::fs::write(&path, &password)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    Ok(password)
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn check(what: &str, output: &Output) -> anyhow::Result<()> {
    if output.status.success() {
        return Ok(());
    }
    bail!(
        "{what} failed ({}): {}{}",
        output.status,
        String::from_utf8_lossy(&output.stderr).trim(),
        String::from_utf8_lossy(&output.stdout).trim()
    )
}

/// Where packaged PostgreSQL versions live: Debian/Ubuntu, then Homebrew.
const INSTALL_ROOTS: &[&str] = &["/usr/lib/postgresql", "/usr/local/opt", "/opt/homebrew/opt"];

/// Finds the directory holding `initdb` and `pg_ctl`: PATH, then `pg_config --bindir`, then the
/// usual install locations (newest version first).
async fn find_bin_dir() -> anyhow::Result<PathBuf> {
    let pg_config_dir = match Command::new("pg_config").arg("--bindir").output().await {
        Ok(output) if output.status.success() => Some(PathBuf::from(
            String::from_utf8_lossy(&output.stdout).trim(),
        )),
        _ => None,
    };
    locate_bin_dir(std::env::var_os("PATH"), pg_config_dir, INSTALL_ROOTS).ok_or_else(|| {
        anyhow::anyhow!(
            "PostgreSQL server binaries (initdb, pg_ctl) were not found on PATH, via `pg_config --bindir`, \
             or under /usr/lib/postgresql/*/bin. Install PostgreSQL (for example `apt-get install postgresql`) \
             or set DATABASE_URL to use an existing database."
        )
    })
}

fn locate_bin_dir(
    path_var: Option<std::ffi::OsString>,
    pg_config_dir: Option<PathBuf>,
    install_roots: &[&str],
) -> Option<PathBuf> {
    let has_tools = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    if let Some(dir) = path_var
        .iter()
        .flat_map(std::env::split_paths)
        .chain(pg_config_dir)
        .find(|dir| has_tools(dir))
    {
        return Some(dir);
    }
    let mut candidates: Vec<(u32, PathBuf)> = Vec::new();
    for root in install_roots {
        let Ok(entries) = std::fs::read_dir(root) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            // "15" under /usr/lib/postgresql, "postgresql@16" under Homebrew.
            let Ok(version) = name.trim_start_matches("postgresql@").parse::<u32>() else {
                continue;
            };
            let dir = entry.path().join("bin");
            if has_tools(&dir) {
                candidates.push((version, dir));
            }
        }
    }
    candidates.sort_by_key(|(version, _)| std::cmp::Reverse(*version));
    candidates.into_iter().next().map(|(_, dir)| dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_install(dir: &Path) {
        std::fs::create_dir_all(dir).unwrap_or_default();
        for tool in ["initdb", "pg_ctl"] {
            std::fs::write(dir.join(tool), "").unwrap_or_default();
        }
    }

    #[test]
    fn binaries_are_found_on_path_first_then_the_newest_packaged_version() {
        let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let packaged = root.path().join("lib");
        fake_install(&packaged.join("14/bin"));
        fake_install(&packaged.join("16/bin"));
        let on_path = root.path().join("custom/bin");
        fake_install(&on_path);
        let roots = [packaged.to_str().unwrap_or_default()];

        let path_var = std::env::join_paths([root.path().join("empty"), on_path.clone()]).ok();
        assert_eq!(locate_bin_dir(path_var, None, &roots), Some(on_path));
        assert_eq!(
            locate_bin_dir(None, None, &roots),
            Some(packaged.join("16/bin"))
        );
    }

    #[test]
    fn missing_binaries_are_not_found() {
        let empty = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let roots = [empty.path().to_str().unwrap_or_default()];
        assert_eq!(
            locate_bin_dir(Some("".into()), Some(empty.path().into()), &roots),
            None
        );
    }
}

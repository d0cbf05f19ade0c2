//! Test databases: the schema is built once per run into a template, and each test gets a clone
//! (`CREATE DATABASE … TEMPLATE …` copies files instead of replaying every migration).

use std::str::FromStr;

use sha2::{Digest, Sha256};
use sqlx::{Connection, PgConnection, PgPool};
use tokio::sync::OnceCell;

/// The template's name, once this process has made sure it exists.
static TEMPLATE: OnceCell<String> = OnceCell::const_new();

/// The URL of a role that may create databases (`DATABASE_URL`, which `./test.sh` sets).
pub(crate) fn admin_url() -> String {
    std::env::var("DATABASE_URL").expect("DATABASE_URL is not set: run the tests with ./test.sh")
}

/// The URL of `database` on the server of `DATABASE_URL`.
pub(crate) fn database_url(database: &str) -> String {
    let mut url = url::Url::from_str(&admin_url()).expect("DATABASE_URL is a URL");
    url.set_path(&format!("/{database}"));
    url.to_string()
}

/// Creates an empty database (no schema at all) and returns its name.
pub(crate) async fn empty_database() -> String {
    let database = format!("tollgate_test_{}", uuid::Uuid::new_v4().simple());
    let mut conn = PgConnection::connect(&admin_url()).await.expect("connect");
    sqlx::query(&format!("CREATE DATABASE {database}"))
        .execute(&mut conn)
        .await
        .expect("create a database");
    conn.close().await.ok();
    database
}

/// Creates a fresh database with the current schema and returns its name.
pub(crate) async fn clone_database() -> String {
    let template = TEMPLATE.get_or_init(ensure_template).await;
    let database = format!("tollgate_test_{}", uuid::Uuid::new_v4().simple());
    let mut conn = PgConnection::connect(&admin_url()).await.expect("connect");
    sqlx::query(&format!("CREATE DATABASE {database} TEMPLATE {template}"))
        .execute(&mut conn)
        .await
        .expect("clone the template database");
    conn.close().await.ok();
    database
}

/// The template for this build's migrations, created when missing. Test binaries may run at
/// once, so creation is serialised by an advisory lock and published by a rename.
async fn ensure_template() -> String {
    let name = format!("tollgate_template_{}", schema_fingerprint());
    let mut conn = PgConnection::connect(&admin_url()).await.expect("connect");
    sqlx::query("SELECT pg_advisory_lock(hashtext('tollgate.test.template'))")
        .execute(&mut conn)
        .await
        .expect("template lock");
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&name)
            .fetch_one(&mut conn)
            .await
            .expect("look for the template");
    if !exists {
        let stale: Vec<String> = sqlx::query_scalar(
            "SELECT datname FROM pg_database WHERE datname LIKE 'tollgate\\_template\\_%'",
        )
        .fetch_all(&mut conn)
        .await
        .expect("list old templates");
        for old in stale {
            execute(&mut conn, &format!("DROP DATABASE {old} WITH (FORCE)")).await;
        }
        let building = format!("{name}_building");
        execute(&mut conn, &format!("CREATE DATABASE {building}")).await;
        let pool = PgPool::connect(&database_url(&building))
            .await
            .expect("connect to the template");
        tollgate_server::db::prepare_schema(&pool)
            .await
            .expect("migrate the template");
        pool.close().await;
        // A closed connection's server process may linger a moment; renaming waits for it.
        let rename = format!("ALTER DATABASE {building} RENAME TO {name}");
        for attempt in 0.. {
            match sqlx::query(&rename).execute(&mut conn).await {
                Ok(_) => break,
                Err(err)
                    if attempt < 200 && err.to_string().contains("accessed by other users") =>
                {
                    tokio::time::sleep(std::time::Duration::from_millis(25)).await;
                }
                Err(err) => panic!("{rename}: {err}"),
            }
        }
    }
    sqlx::query("SELECT pg_advisory_unlock(hashtext('tollgate.test.template'))")
        .execute(&mut conn)
        .await
        .expect("template unlock");
    conn.close().await.ok();
    name
}

async fn execute(conn: &mut PgConnection, sql: &str) {
    sqlx::query(sql)
        .execute(conn)
        .await
        .unwrap_or_else(|err| panic!("{sql}: {err}"));
}

/// Changes whenever a migration does, so a stale template is never used.
fn schema_fingerprint() -> String {
    let mut digest = Sha256::new();
    for migration in tollgate_server::db::MIGRATOR.iter() {
        digest.update(migration.version.to_le_bytes());
        digest.update(&migration.checksum);
    }
    hex::encode(&digest.finalize()[..8])
}

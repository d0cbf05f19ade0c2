//! The `tollgate-server` binary: parses the command line, starts the server and serves until a
//! signal.

use clap::Parser;
use tollgate_server::config::{AdminCommand, Command, Config};
use tollgate_server::{shutdown_signal, telemetry, Server};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    telemetry::init(config.log_format);
    if let Some(Command::Admin(AdminCommand::ResetPassword { email })) = &config.command {
        let link = tollgate_server::reset_password_link(&config, email).await?;
        println!("{link}");
        return Ok(());
    }
    let server = Server::start(&config).await?;
    let addr = server.local_addr();
    if let Some(admin) = server.created_admin() {
        if let Some(password) = &admin.generated_password {
            // Printed once, to the terminal only: it is never logged or stored in plain text.
            println!(
                "\n  Tollgate created the platform admin.\n    email:    {}\n    password: {password}\n  Keep it now: it is not shown again.\n",
                admin.email
            );
        }
    }
    tracing::info!(%addr, "tollgate-server listening; console at http://{addr}/, API docs at http://{addr}/api/docs");
    println!("Tollgate console: http://{addr}/");
    server.serve(shutdown_signal()).await
}

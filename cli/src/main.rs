//! `tollgate`: a tenant's configuration as code. Apply YAML documents from Git, see what an
//! apply would change (`diff`, exit code 1 when something would), export what is there, and
//! check documents offline (`validate`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};
use serde::Deserialize;
use serde_json::Value;

/// Tollgate's configuration as code: apply, diff, export and validate tenant documents.
#[derive(Parser)]
#[command(name = "tollgate", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Sign in with email and password, make an admin token, and keep it in
    /// ~/.config/tollgate/credentials for the other commands.
    Login {
        #[command(flatten)]
        server: Server,
        /// Your email.
        #[arg(long)]
        email: String,
        /// Your password (prompted on standard input when left out).
        #[arg(long, env = "TOLLGATE_PASSWORD", hide_env_values = true)]
        password: Option<String>,
    },
    /// Apply documents: all or nothing, one new configuration version.
    Apply {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        files: Files,
        /// Show the plan; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Delete the tenant's providers, models, services, routes, prompt APIs and JWT issuers
        /// the documents do not name (keys are never deleted).
        #[arg(long)]
        prune: bool,
    },
    /// Show what applying the documents would change; exit code 1 when anything would.
    Diff {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        files: Files,
        /// Count deletions of what the documents do not name.
        #[arg(long)]
        prune: bool,
    },
    /// Print the tenant's configuration as a document.
    Export {
        #[command(flatten)]
        target: Target,
    },
    /// Check documents offline: syntax, kinds, fields and the services routes name.
    Validate {
        #[command(flatten)]
        files: Files,
    },
}

#[derive(Args)]
struct Server {
    /// The server's URL, like http://127.0.0.1:8001.
    #[arg(long, env = "TOLLGATE_URL")]
    url: Option<String>,
}

#[derive(Args)]
struct Target {
    #[command(flatten)]
    server: Server,
    /// An admin token (tga_…); else the one `tollgate login` kept.
    #[arg(long, env = "TOLLGATE_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// The tenant's slug or id.
    #[arg(long, env = "TOLLGATE_TENANT", default_value = "default")]
    tenant: String,
}

#[derive(Args)]
struct Files {
    /// A YAML file, or a folder of them (*.yaml, *.yml, *.json, in name order); repeatable.
    #[arg(short = 'f', long = "file", required = true)]
    files: Vec<PathBuf>,
}

/// The documents of the files, joined, and where each document came from.
struct Documents {
    text: String,
    /// (file, documents in it, the line of the joined text it starts on), in order.
    origins: Vec<(PathBuf, usize, usize)>,
}

impl Documents {
    fn read(files: &Files) -> anyhow::Result<Self> {
        let mut paths = Vec::new();
        for path in &files.files {
            if path.is_dir() {
                let mut inside: Vec<PathBuf> = std::fs::read_dir(path)
                    .with_context(|| format!("reading {}", path.display()))?
                    .filter_map(|entry| entry.ok().map(|e| e.path()))
                    .filter(|p| {
                        p.extension()
                            .and_then(|e| e.to_str())
                            .is_some_and(|e| matches!(e, "yaml" | "yml" | "json"))
                    })
                    .collect();
                inside.sort();
                paths.extend(inside);
            } else {
                paths.push(path.clone());
            }
        }
        if paths.is_empty() {
            bail!("no .yaml, .yml or .json file found");
        }
        let mut text = String::new();
        let mut origins = Vec::new();
        for path in paths {
            let content = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            // Documents up to the first one that does not parse (the server names that one;
            // serde_yaml's iterator does not end after a syntax error).
            let mut count = 0;
            for document in serde_yaml::Deserializer::from_str(&content) {
                count += 1;
                if serde_yaml::Value::deserialize(document).is_err() {
                    break;
                }
            }
            if !text.is_empty() && !text.ends_with('\n') {
                text.push('\n');
            }
            if !text.is_empty() {
                text.push_str("---\n");
            }
            let first_line = text.lines().count() + 1;
            text.push_str(&content);
            origins.push((path, count, first_line));
        }
        Ok(Self { text, origins })
    }

    /// Rewrites "document N" (and "line L") in a message as the file and its own document
    /// number (and line).
    fn locate(&self, message: &str) -> String {
        let located = self.locate_document(message);
        let Some(at) = located.find(", line ") else {
            return located;
        };
        let digits: String = located[at + 7..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        let (Ok(line), Some((_, _, first))) = (
            digits.parse::<usize>(),
            self.origins
                .iter()
                .rev()
                .find(|(path, _, _)| located.contains(&format!("{}: document", path.display()))),
        ) else {
            return located;
        };
        format!(
            "{}, line {}{}",
            &located[..at],
            line.saturating_sub(first - 1),
            &located[at + 7 + digits.len()..]
        )
    }

    fn locate_document(&self, message: &str) -> String {
        let Some(start) = message.find("document ") else {
            return message.to_string();
        };
        let digits: String = message[start + 9..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        let Ok(mut number) = digits.parse::<usize>() else {
            return message.to_string();
        };
        for (path, count, _) in &self.origins {
            if number <= *count {
                return format!(
                    "{}{}: document {number}{}",
                    &message[..start],
                    path.display(),
                    &message[start + 9 + digits.len()..]
                );
            }
            number -= count;
        }
        message.to_string()
    }
}

/// Where credentials are kept.
fn credentials_path() -> anyhow::Result<PathBuf> {
    let home = std::env::var_os("HOME").context("HOME is not set")?;
    Ok(Path::new(&home).join(".config/tollgate/credentials"))
}

/// The server URL and token: flags and environment first, then what `login` kept.
fn connection(target: &Target) -> anyhow::Result<(String, String)> {
    let kept: Option<Value> = credentials_path()
        .ok()
        .and_then(|p| std::fs::read_to_string(p).ok())
        .and_then(|t| serde_json::from_str(&t).ok());
    let from_kept = |field: &str| {
        kept.as_ref()
            .and_then(|k| k[field].as_str())
            .map(str::to_string)
    };
    let url = target
        .server
        .url
        .clone()
        .or_else(|| from_kept("url"))
        .context("give the server's URL (--url or TOLLGATE_URL), or run tollgate login")?;
    let token = target
        .token
        .clone()
        .or_else(|| from_kept("token"))
        .context("give an admin token (--token or TOLLGATE_TOKEN), or run tollgate login")?;
    Ok((url.trim_end_matches('/').to_string(), token))
}

/// The `detail` of a problem answer, or the body.
fn problem(body: &str) -> String {
    serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v["detail"].as_str().map(str::to_string))
        .unwrap_or_else(|| body.to_string())
}

/// The documents checked offline.
fn check(documents: &Documents) -> anyhow::Result<tollgate_server::CheckedDocument> {
    tollgate_server::check_document(&documents.text)
        .map_err(|e| anyhow::anyhow!(documents.locate(&e)))
}

/// The value of a credential reference: an environment variable, or a file's content (a
/// relative path from the current directory; a final newline is not part of the value).
fn reference_value(name: &str) -> anyhow::Result<String> {
    match name.strip_prefix("file:") {
        Some(path) => Ok(std::fs::read_to_string(path.trim())
            .with_context(|| format!("reading {path}, which ${{{name}}} refers to"))?
            .trim_end_matches(['\r', '\n'])
            .to_string()),
        None => std::env::var(name).with_context(|| {
            format!("${{{name}}} is used for a credential but {name} is not set in the environment")
        }),
    }
}

async fn apply(
    target: &Target,
    documents: &Documents,
    dry_run: bool,
    prune: bool,
) -> anyhow::Result<Value> {
    let mut values = BTreeMap::new();
    for name in check(documents)?.references {
        let value = reference_value(&name)?;
        values.insert(name, value);
    }
    let (url, token) = connection(target)?;
    let response = reqwest::Client::new()
        .post(format!(
            "{url}/api/v1/tenants/{}/config:apply?dry_run={dry_run}&prune={prune}",
            target.tenant
        ))
        .bearer_auth(token)
        .json(&serde_json::json!({"document": documents.text, "values": values}))
        .send()
        .await
        .with_context(|| format!("reaching {url}"))?;
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    if !status.is_success() {
        bail!("{} ({status})", documents.locate(&problem(&body)));
    }
    Ok(serde_json::from_str(&body)?)
}

/// Prints the plan; returns how many objects it changes.
fn print_plan(applied: &Value) -> usize {
    let mut changes = 0;
    for step in applied["plan"].as_array().into_iter().flatten() {
        let action = step["action"].as_str().unwrap_or_default();
        let sign = match action {
            "create" => "+",
            "update" => "~",
            "delete" => "-",
            _ => " ",
        };
        if action != "unchanged" {
            changes += 1;
        }
        let fields: Vec<&str> = step["fields"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let fields = if fields.is_empty() {
            String::new()
        } else {
            format!(": {}", fields.join(", "))
        };
        println!(
            "{sign} {} {} ({action}{fields})",
            step["kind"].as_str().unwrap_or_default(),
            step["name"].as_str().unwrap_or_default()
        );
    }
    changes
}

/// "service(s)" for `Service`.
fn plural(kind: &str) -> &'static str {
    match kind {
        "Provider" => "provider(s)",
        "Model" => "model(s)",
        "Service" => "service(s)",
        "Route" => "route(s)",
        "PromptApi" => "prompt API(s)",
        "JwtIssuer" => "JWT issuer(s)",
        _ => "key policy(ies)",
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Login {
            server,
            email,
            password,
        } => {
            let url = server
                .url
                .context("give the server's URL (--url or TOLLGATE_URL)")?;
            let url = url.trim_end_matches('/').to_string();
            let password = match password {
                Some(p) => p,
                None => {
                    eprint!("Password for {email}: ");
                    let mut line = String::new();
                    std::io::stdin().read_line(&mut line)?;
                    line.trim_end_matches(['\r', '\n']).to_string()
                }
            };
            let client = reqwest::Client::builder().cookie_store(true).build()?;
            let signed_in = client
                .post(format!("{url}/api/v1/auth/login"))
                .json(&serde_json::json!({"email": email, "password": password}))
                .send()
                .await
                .with_context(|| format!("reaching {url}"))?;
            if !signed_in.status().is_success() {
                bail!("sign-in refused: {}", problem(&signed_in.text().await?));
            }
            let made = client
                .post(format!("{url}/api/v1/tokens"))
                .json(&serde_json::json!({"name": "tollgate cli", "expires_in_days": 90}))
                .send()
                .await?;
            let status = made.status();
            let body = made.text().await?;
            if !status.is_success() {
                bail!("could not make an admin token: {}", problem(&body));
            }
            let token: Value = serde_json::from_str(&body)?;
            let secret = token["secret"]
                .as_str()
                .context("the server answered without a token")?;
            let path = credentials_path()?;
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            std::fs::write(
                &path,
                serde_json::json!({"url": url, "token": secret}).to_string(),
            )?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
            }
            println!(
                "Signed in; an admin token valid 90 days is kept in {}",
                path.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Apply {
            target,
            files,
            dry_run,
            prune,
        } => {
            let documents = Documents::read(&files)?;
            let applied = apply(&target, &documents, dry_run, prune).await?;
            let changes = print_plan(&applied);
            if dry_run {
                println!("{changes} change(s) planned; nothing applied (dry run)");
            } else if changes == 0 {
                println!("Nothing to change.");
            } else {
                println!(
                    "{changes} change(s) applied: configuration version {}",
                    applied["version"]
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Diff {
            target,
            files,
            prune,
        } => {
            let documents = Documents::read(&files)?;
            let applied = apply(&target, &documents, true, prune).await?;
            let changes = print_plan(&applied);
            println!("{changes} change(s)");
            Ok(if changes == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Export { target } => {
            let (url, token) = connection(&target)?;
            let response = reqwest::Client::new()
                .get(format!(
                    "{url}/api/v1/tenants/{}/config:export",
                    target.tenant
                ))
                .bearer_auth(token)
                .send()
                .await
                .with_context(|| format!("reaching {url}"))?;
            let status = response.status();
            let body = response.text().await?;
            if !status.is_success() {
                bail!("{} ({status})", problem(&body));
            }
            print!("{body}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Validate { files } => {
            let documents = Documents::read(&files)?;
            let checked = check(&documents)?;
            for outside in &checked.outside {
                println!(
                    "note: {outside}, which these files do not define; it must exist in the tenant"
                );
            }
            for name in &checked.references {
                if let Err(err) = reference_value(name) {
                    println!("note: {err:#}; apply needs it");
                }
            }
            let counts: Vec<String> = checked
                .counts
                .iter()
                .filter(|(_, count)| *count > 0)
                .map(|(kind, count)| format!("{count} {}", plural(kind)))
                .collect();
            println!(
                "valid: {}",
                if counts.is_empty() {
                    "no objects".to_string()
                } else {
                    counts.join(", ")
                }
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match run(Cli::parse()).await {
        Ok(code) => code,
        Err(err) => {
            eprintln!("tollgate: {err:#}");
            ExitCode::from(2)
        }
    }
}

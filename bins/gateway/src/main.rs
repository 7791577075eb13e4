//! `steward`: the one binary. Thin on purpose: parse the CLI, load and validate the config, init
//! tracing, open the database, then hand over to the library crates.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use core_config::{LogFormat, Settings};
use models::Role;
use repositories::{migrations, Db, DbOptions};
use tracing_subscriber::EnvFilter;

/// mimalloc instead of glibc's malloc: under load, glibc's allocation and freeing (and the
/// `munmap`s of its trimming, each a TLB shootdown on every core) were a sixth of the gateway's
/// CPU (decision 141).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(name = "steward", version, about = "Agentic commerce server: booking desk and AI spend gateway")]
struct Cli {
    /// Configuration file (TOML). Defaults to $STEWARD_CONFIG; optional.
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve HTTP and run background jobs (migrates first unless database.migrate_on_start=false).
    Serve,
    /// Apply pending database migrations.
    Migrate,
    /// Seed demo data: farms and huts in Karachi with the weekly price table, a demo admin user
    /// and key (idempotent; the key is kept in --key-file).
    Demo {
        /// Where the demo admin key is kept between runs.
        #[arg(long, default_value = "data/demo-admin.key")]
        key_file: PathBuf,
    },
    /// Manage API keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Audit trail tools.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Configuration tools.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Create a key (and its user, found or created by email); prints the key once.
    Create {
        /// Role of the key and of a newly created user: admin, owner, member or website.
        #[arg(long)]
        role: String,
        /// Name of the user and label of the key.
        #[arg(long)]
        name: String,
        /// Email of the user; defaults to <name>@steward.local.
        #[arg(long)]
        email: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Link pending events, recompute the hash chain and name the first broken link.
    Verify,
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Print the effective configuration (secrets masked), or every problem with it.
    Check,
    /// Print the Markdown reference table of every setting (docs/configuration.md).
    Reference,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Config { command: ConfigCommand::Reference } = cli.command {
        print!("{}", core_config::reference_markdown());
        return ExitCode::SUCCESS;
    }
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprint!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if let Command::Config { command: ConfigCommand::Check } = cli.command {
        println!("# configuration is valid; effective settings (secrets masked):\n");
        print!("{}", settings.to_masked_toml());
        return ExitCode::SUCCESS;
    }
    init_tracing(&settings);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command, settings)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing(settings: &Settings) {
    let filter = EnvFilter::try_from_env("RUST_LOG")
        .or_else(|_| EnvFilter::try_new(&settings.telemetry.filter))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match settings.telemetry.format {
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(true).try_init(),
        LogFormat::Pretty => builder.compact().try_init(),
    };
}

fn open_db(settings: &Settings) -> anyhow::Result<Db> {
    let options = DbOptions::from_settings(&settings.database)?;
    Ok(Db::connect(&options)?)
}

/// Applies pending migrations, then adds what is missing of the model catalogue seed.
async fn migrate(db: &Db) -> anyhow::Result<Vec<String>> {
    let db2 = db.clone();
    let applied = db
        .run_blocking(move || {
            let mut conn = db2.conn()?;
            migrations::run_pending(&mut conn)
        })
        .await?;
    let (providers, models) =
        services::gateway::catalogue::seed(db, services::gateway::catalogue::SEED, models::time::now())
            .await?;
    if providers + models > 0 {
        tracing::info!(providers, models, "model catalogue seeded");
    }
    // The platform user and its booking-desk project, which pays for the booking agent's calls.
    services::platform::ensure(db).await?;
    Ok(applied)
}

async fn run(command: Command, settings: Settings) -> anyhow::Result<()> {
    match command {
        Command::Serve => serve(settings).await,
        Command::Migrate => {
            let db = open_db(&settings)?;
            let applied = migrate(&db).await.context("migrating the database")?;
            if applied.is_empty() {
                println!("database is up to date");
            } else {
                println!("applied {} migration(s): {}", applied.len(), applied.join(", "));
            }
            Ok(())
        }
        Command::Demo { key_file } => demo(&settings, &key_file).await,
        Command::Keys { command: KeysCommand::Create { role, name, email } } => {
            let role: Role = role.parse().map_err(|e| anyhow::anyhow!("--role: {e}"))?;
            let email = email.unwrap_or_else(|| format!("{}@steward.local", slug(&name)));
            let db = open_db(&settings)?;
            let (user, key, secret) = services::keys::create_for_cli(&db, &name, &email, role).await?;
            println!("{secret}");
            eprintln!(
                "created key {} ({}) for user {} <{}>; it is shown only once",
                key.public_id, key.role, user.public_id, user.email
            );
            Ok(())
        }
        Command::Audit { command: AuditCommand::Verify } => {
            let db = open_db(&settings)?;
            let report = services::audit::verify(&db, settings.audit.chain_batch_size).await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            if report.ok {
                Ok(())
            } else {
                let b = report.first_broken.as_ref();
                anyhow::bail!(
                    "audit chain broken at seq {} (event {}): {}",
                    b.map(|b| b.seq).unwrap_or_default(),
                    b.map(|b| b.event_id.as_str()).unwrap_or(""),
                    b.map(|b| b.reason.as_str()).unwrap_or("")
                )
            }
        }
        Command::Config { .. } => Ok(()),
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let db = open_db(&settings)?;
    if settings.database.migrate_on_start {
        let applied = migrate(&db).await.context("migrating the database at start")?;
        if !applied.is_empty() {
            tracing::info!(versions = ?applied, "migrations applied");
        }
    }
    let mut ports = integrations::ports(&settings).map_err(anyhow::Error::msg)?;
    // One adapter per enabled provider of the catalogue whose API key is in the environment.
    // (A database not migrated yet has no catalogue; /readyz says so, and adapters come at restart.)
    match services::gateway::catalogue::providers(&db).await {
        Ok(catalogue) => ports.providers.extend(integrations::providers::from_catalogue(
            &catalogue,
            |var| std::env::var(var).ok(),
            &settings.gateway,
        )),
        Err(e) => tracing::warn!(error = %e, "model catalogue unreadable; only local/echo is served"),
    }
    // Every service built once, shared by the HTTP layer and the background jobs.
    let services = services::Services::build(&settings, db.clone(), ports)?;
    let agent = agents::from_settings(&settings, &services);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let chainer = tasks::spawn_audit_chainer(db.clone(), settings.audit.clone(), stop_rx.clone());
    let purge =
        tasks::spawn_idempotency_purge(db.clone(), tasks::IDEMPOTENCY_PURGE_INTERVAL, stop_rx.clone());
    let scheduler = if settings.jobs.enabled {
        let tick = std::time::Duration::from_secs(settings.jobs.tick_secs);
        Some(tasks::spawn_scheduler(services.clone(), tick, stop_rx.clone()))
    } else {
        None
    };
    // The WhatsApp inbox and the outbox run in every replica (their claims keep them apart).
    let channel_workers = if settings.whatsapp.enabled {
        tasks::spawn_channel_workers(services.clone(), agent.clone(), stop_rx.clone())
    } else {
        Vec::new()
    };
    let host = settings.server.host.clone();
    let backend = settings.database_target().map(|t| t.backend()).unwrap_or("sqlite");
    let app = api::Application::build(settings, services, agent)
        .with_context(|| format!("binding the HTTP server on {host}"))?;
    let base = format!("http://{host}:{}", app.port());
    tracing::info!(%base, database = backend, "steward listening");
    // Written without println!: a closed stdout must not bring the server down.
    let _ = writeln!(
        std::io::stdout(),
        "Steward is listening on {base}\n  guest chat: {base}/   admin console: {base}/admin\n  API docs:  {base}/docs   (OpenAPI: {base}/openapi.json)\n  health:    {base}/healthz  {base}/readyz  metrics: {base}/metrics"
    );
    tokio::spawn(api::stop_on_signal(app.handle()));
    let served = app.run_until_stopped().await;
    let _ = stop_tx.send(true);
    let _ = chainer.await;
    let _ = purge.await;
    if let Some(s) = scheduler {
        let _ = s.await;
    }
    for w in channel_workers {
        let _ = w.await;
    }
    if let Err(e) = services::keys::flush_uses(&db).await {
        tracing::warn!(error = %e, "could not write the last API key uses");
    }
    served.context("serving HTTP")?;
    tracing::info!("stopped");
    Ok(())
}

/// Seeds the demo: an admin user and key, reusing the key stored in `key_file` while it is valid.
async fn demo(settings: &Settings, key_file: &Path) -> anyhow::Result<()> {
    let db = open_db(settings)?;
    migrate(&db).await.context("migrating the database")?;
    let seeded = services::desk::demo::seed(&db).await?;
    if seeded > 0 {
        println!("seeded the demo catalogue: {seeded} properties in Karachi");
    }
    let (member, project) = services::gateway::accounts::seed_demo(&db, models::time::now()).await?;
    println!("demo gateway user {member} (verified, 50 USDC) with project {project} allowing local/echo");
    let desk_project = services::gateway::accounts::fund_platform(
        &db,
        &[&settings.agent.model, &settings.payments.extractor_model],
        models::time::now(),
    )
    .await?;
    println!("platform project {desk_project} (booking-desk) is funded for the booking agent's model calls");
    let member_file = key_file.with_file_name("demo-member.key");
    let member_key = demo_key(
        &db,
        &member_file,
        ("Demo Member", "member@demo.steward.local", Role::Member),
        Some(project.clone()),
    )
    .await?;
    println!("demo member key (saved to {}): {member_key}", member_file.display());
    let admin_key =
        demo_key(&db, key_file, ("Demo Admin", "admin@demo.steward.local", Role::Admin), None).await?;
    println!("demo admin key (saved to {}): {admin_key}", key_file.display());
    Ok(())
}

/// The key stored in `file` while it is valid (and has the wanted project scope); otherwise a
/// new key for the user `(name, email, role)`, scoped to `project`, saved there (mode 0600).
async fn demo_key(
    db: &Db,
    file: &Path,
    (name, email, role): (&str, &str, Role),
    project: Option<String>,
) -> anyhow::Result<String> {
    if let Ok(existing) = std::fs::read_to_string(file) {
        let existing = existing.trim().to_string();
        if services::keys::authenticate(db, &existing).await.is_ok_and(|p| p.project == project) {
            return Ok(existing);
        }
    }
    let (_user, _key, secret) = services::keys::create_scoped_for_cli(db, name, email, role, project).await?;
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    write_private(file, &secret).with_context(|| format!("writing {}", file.display()))?;
    Ok(secret)
}

fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    std::fs::write(path, format!("{contents}\n"))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

fn slug(name: &str) -> String {
    let s: String =
        name.to_ascii_lowercase().chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
    let s = s.trim_matches('-').to_string();
    if s.is_empty() {
        "user".into()
    } else {
        s
    }
}

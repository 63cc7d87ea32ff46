//! `stamps-auth`: the local server (every route on one port over an embedded or DynamoDB
//! store) and the operator's commands (schema, merchants, customers, templates).

mod commands;
mod serve;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "stamps-auth", version, about = "Customer password, PIN and OTP authentication service")]
struct Cli {
    /// Where the data lives: sqlite:PATH or dynamodb:TABLE (endpoint and region from the
    /// standard AWS environment variables).
    #[arg(long, global = true, env = "STAMPS_STORE", default_value = shared::config::DEFAULT_STORE)]
    store: String,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve every route on one port (creates the schema first).
    Serve {
        #[arg(long, default_value = "127.0.0.1:3000")]
        addr: SocketAddr,
        /// Where OTP messages are written instead of being sent.
        #[arg(long, default_value = "outbox")]
        outbox: PathBuf,
    },
    /// Create the table or schema (safe to run again).
    Init,
    /// Manage merchants (the API's clients).
    Merchant {
        #[command(subcommand)]
        command: MerchantCommand,
    },
    /// Manage a merchant's customers.
    Customer {
        #[command(subcommand)]
        command: CustomerCommand,
    },
    /// Manage a merchant's OTP message templates.
    Template {
        #[command(subcommand)]
        command: TemplateCommand,
    },
}

#[derive(Subcommand)]
enum MerchantCommand {
    /// Create a merchant and print its ID and API key (the key is shown only this once).
    Create {
        #[arg(long)]
        name: String,
    },
    /// Import merchants from the system being replaced: JSON lines of merchant_id, name and
    /// api_key (the key as clients send it, e.g. a 40-hex REST-framework token). Keeps the IDs
    /// and keys (stored as keyed hashes only); safe to run again.
    Import {
        /// The JSON-lines file (`-` for standard input).
        file: PathBuf,
    },
    /// Issue a new API key for a merchant (shown only this once) and end its current keys.
    RotateKey {
        #[arg(long)]
        merchant: u64,
        /// How long the old keys keep working: 0 (at once, the default), or e.g. 90s, 30m,
        /// 24h, 7d.
        #[arg(long, default_value = "0", value_parser = commands::parse_duration)]
        grace: i64,
    },
}

#[derive(Subcommand)]
enum CustomerCommand {
    /// Create a customer and print it as JSON.
    Create {
        #[arg(long)]
        merchant: u64,
        #[arg(long)]
        email: Option<String>,
        #[arg(long)]
        mobile: Option<String>,
        #[arg(long = "member-id")]
        member_id: Option<String>,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        password: Option<String>,
    },
    /// A customer's PIN, password, code and delivery state, as `POST /api/auth/customer-status`
    /// answers it.
    Status {
        #[arg(long)]
        merchant: u64,
        /// The customer: an ID, email, mobile number or member ID.
        #[arg(long)]
        user: String,
    },
    /// A customer's security history, newest first, as `POST /api/auth/customer-events`.
    Events {
        #[arg(long)]
        merchant: u64,
        #[arg(long)]
        user: String,
        /// Events per page (1 to 100).
        #[arg(long, default_value_t = shared::history::DEFAULT_LIMIT)]
        limit: u32,
        /// The `next` of the previous page.
        #[arg(long)]
        before: Option<String>,
    },
    /// Change a customer's email or mobile number (an empty value removes it). Naming one also
    /// lets codes be sent to it again after a bounce or a complaint, even unchanged.
    Update {
        #[arg(long)]
        merchant: u64,
        #[arg(long)]
        user: String,
        #[arg(long)]
        email: Option<String>,
        #[arg(long)]
        mobile: Option<String>,
    },
    /// Import customers: JSON lines of id, email, mobile, member_id, name, password and pin
    /// (hashes: any Django hasher's string, or argon2id PHC as `export` writes them),
    /// facebook_id, profile, created_at. Keeps IDs; streams any size; safe to run again.
    Import {
        #[arg(long)]
        merchant: u64,
        /// Check every line against the file and the store; write nothing.
        #[arg(long)]
        dry_run: bool,
        /// The JSON-lines file (`-` for standard input).
        file: PathBuf,
    },
    /// Write a merchant's customers as JSON lines that `import` reads back unchanged (hashes
    /// included: keep the file as safe as the database).
    Export {
        #[arg(long)]
        merchant: u64,
        /// Where to write (standard output when absent).
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum TemplateCommand {
    /// Create or replace a template. Placeholders: {{ otp }}, {{ name }},
    /// {{ expires_in_minutes }}; the HTML body is escaped.
    Put {
        #[arg(long)]
        merchant: u64,
        #[arg(long)]
        code: String,
        /// Email subject.
        #[arg(long)]
        subject: Option<String>,
        /// Email text body.
        #[arg(long)]
        text: Option<String>,
        /// Email HTML body.
        #[arg(long)]
        html: Option<String>,
        /// SMS text.
        #[arg(long)]
        sms: Option<String>,
    },
    /// List a merchant's templates.
    List {
        #[arg(long)]
        merchant: u64,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    // The server logs on stdout; a command's stdout is its answer, so it logs on stderr.
    if matches!(cli.command, Command::Serve { .. }) {
        shared::logging::init();
    } else {
        shared::logging::init_stderr();
    }
    let store = cli.store.as_str();
    let outcome = match cli.command {
        Command::Serve { addr, outbox } => serve::run(store, addr, outbox).await,
        Command::Init => commands::init(store).await,
        Command::Merchant { command } => match command {
            MerchantCommand::Create { name } => commands::create_merchant(store, &name).await,
            MerchantCommand::Import { file } => commands::import_merchants(store, &file).await,
            MerchantCommand::RotateKey { merchant, grace } => commands::rotate_key(store, merchant, grace).await,
        },
        Command::Customer { command } => match command {
            CustomerCommand::Create { merchant, email, mobile, member_id, name, password } => {
                let input = shared::admin::CustomerInput {
                    merchant,
                    email,
                    mobile,
                    member_id,
                    name,
                    password,
                    ..Default::default()
                };
                commands::create_customer(store, input).await
            }
            CustomerCommand::Import { merchant, dry_run, file } => {
                commands::import_customers(store, merchant, &file, dry_run).await
            }
            CustomerCommand::Export { merchant, output } => {
                commands::export_customers(store, merchant, output.as_deref()).await
            }
            CustomerCommand::Status { merchant, user } => commands::customer_status(store, merchant, &user).await,
            CustomerCommand::Events { merchant, user, limit, before } => {
                commands::customer_events(store, merchant, &user, limit, before.as_deref()).await
            }
            CustomerCommand::Update { merchant, user, email, mobile } => {
                commands::update_customer(store, merchant, &user, email, mobile).await
            }
        },
        Command::Template { command } => match command {
            TemplateCommand::Put { merchant, code, subject, text, html, sms } => {
                let input = shared::admin::TemplateInput { merchant, code, subject, text, html, sms };
                commands::put_template(store, input).await
            }
            TemplateCommand::List { merchant } => commands::list_templates(store, merchant).await,
        },
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

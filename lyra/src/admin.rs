//! `lyra admin …`: bank-admin onboarding against the database (the owner role): create an
//! organisation, attach outlets, create users, issue platform API tokens, rotate keys.

use std::io::Read;

use clap::Subcommand;
use lyra_auth::admin::{self, Membership};
use lyra_common::db::OrgId;
use lyra_common::token::Role;

use crate::db;

/// The admin commands.
#[derive(Subcommand)]
pub enum AdminCommand {
    /// Organisations (tenants).
    Org {
        /// What to do.
        #[command(subcommand)]
        command: OrgCommand,
    },
    /// Users.
    User {
        /// What to do.
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Platform API tokens (ingest:write, models:admin, models:predict, metrics:read).
    Token {
        /// What to do.
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Signing keys.
    Keys {
        /// What to do.
        #[command(subcommand)]
        command: KeysCommand,
    },
}

/// `lyra admin org …`.
#[derive(Subcommand)]
pub enum OrgCommand {
    /// Create an organisation and print its id.
    Create {
        /// Its name.
        #[arg(long)]
        name: String,
        /// The bank's id for it (default: the next free one).
        #[arg(long)]
        id: Option<i64>,
    },
    /// Attach outlets (merchant ids) to an organisation.
    Attach {
        /// The organisation.
        #[arg(long)]
        org: i64,
        /// Merchant ids.
        #[arg(required = true)]
        merchants: Vec<i64>,
    },
}

/// `lyra admin user …`.
#[derive(Subcommand)]
pub enum UserCommand {
    /// Create a user: a member of an organisation (`--org`, `--role`) or a bank admin.
    Create {
        /// E-mail (the login).
        #[arg(long)]
        email: String,
        /// Display name.
        #[arg(long)]
        name: String,
        /// Organisation.
        #[arg(long, required_unless_present = "bank_admin")]
        org: Option<i64>,
        /// owner, marketer or viewer.
        #[arg(long, required_unless_present = "bank_admin")]
        role: Option<String>,
        /// A bank admin (platform role) instead of a member.
        #[arg(long, conflicts_with_all = ["org", "role"])]
        bank_admin: bool,
        /// Read the password from standard input; otherwise one is generated and printed once.
        #[arg(long)]
        password_stdin: bool,
    },
}

/// `lyra admin token …`.
#[derive(Subcommand)]
pub enum TokenCommand {
    /// Create a platform token in a bank admin's name; it is printed once.
    Create {
        /// The bank admin's e-mail.
        #[arg(long)]
        admin: String,
        /// What it is for.
        #[arg(long)]
        name: String,
        /// Scopes (repeat the flag).
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
    },
}

/// `lyra admin keys …`.
#[derive(Subcommand)]
pub enum KeysCommand {
    /// Add a new signing key; the previous one stays valid until its tokens expire.
    Rotate,
}

/// Runs an admin command.
pub async fn run(command: AdminCommand) -> anyhow::Result<()> {
    let pool = db::admin_pool().await?;
    match command {
        AdminCommand::Org {
            command: OrgCommand::Create { name, id },
        } => {
            let org = admin::create_org(&pool, &name, id).await?;
            println!("{org}");
        }
        AdminCommand::Org {
            command: OrgCommand::Attach { org, merchants },
        } => {
            admin::attach_outlets(&pool, OrgId(org), &merchants).await?;
            eprintln!("{} outlets attached to organisation {org}", merchants.len());
        }
        AdminCommand::User {
            command:
                UserCommand::Create {
                    email,
                    name,
                    org,
                    role,
                    bank_admin,
                    password_stdin,
                },
        } => {
            let membership = if bank_admin {
                Membership::BankAdmin
            } else {
                let role = role.unwrap_or_default();
                let role = Role::from_membership(&role).ok_or_else(|| {
                    anyhow::anyhow!("--role {role:?}: use owner, marketer or viewer")
                })?;
                Membership::Member(OrgId(org.expect("clap requires --org")), role)
            };
            let (password, generated) = if password_stdin {
                let mut text = String::new();
                std::io::stdin().read_to_string(&mut text)?;
                (text.trim_end_matches(['\n', '\r']).to_string(), false)
            } else {
                (admin::generate_password()?, true)
            };
            let id = admin::create_user(&pool, &email, &name, &password, membership).await?;
            println!("{id}");
            if generated {
                eprintln!("password (shown once): {password}");
            }
        }
        AdminCommand::Token {
            command:
                TokenCommand::Create {
                    admin: email,
                    name,
                    scopes,
                },
        } => {
            let token = admin::create_platform_token(&pool, &email, &name, &scopes).await?;
            println!("{token}");
        }
        AdminCommand::Keys {
            command: KeysCommand::Rotate,
        } => {
            let kid = admin::rotate_keys(&pool).await?;
            println!("{kid}");
        }
    }
    pool.close().await;
    Ok(())
}

//! The `lyra-auth` binary: runs the service until SIGINT or SIGTERM.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    lyra_common::server::main(lyra_common::Service::Auth, lyra_auth::build).await
}

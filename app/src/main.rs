//! The `lyra-app` binary: runs the service until SIGINT or SIGTERM.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    lyra_common::server::main(lyra_common::Service::App, lyra_app::build).await
}

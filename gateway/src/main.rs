//! The `lyra-gateway` binary: runs the service until SIGINT or SIGTERM.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    lyra_common::server::main(lyra_common::Service::Gateway, lyra_gateway::build).await
}

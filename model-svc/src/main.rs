//! The `lyra-model-svc` binary: runs the service until SIGINT or SIGTERM.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    lyra_common::server::main(lyra_common::Service::ModelSvc, lyra_model_svc::build).await
}

//! `stamps-auth serve`: the local server. OTP messages are dispatched in-process after the
//! answer and written to the outbox folder; metrics are served at `GET /metrics`. Stops cleanly
//! on Ctrl-C or SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use shared::App;
use shared::clock::SystemClock;
use shared::delivery::outbox::{LocalPublisher, Outbox};
use shared::delivery::reset_link::ResetLinks;
use shared::http::routes;
use shared::metrics::Sink;
use shared::metrics::registry::Registry;

pub async fn run(store_url: &str, addr: SocketAddr, outbox: PathBuf) -> Result<(), String> {
    let (config, store) = crate::commands::open(store_url).await?;
    let clock = Arc::new(SystemClock);
    let app = App::local(config, Arc::clone(&store)).await.map_err(|e| e.to_string())?;
    // The reset tokens are hashed with the server's key (generated and kept by `App::local`
    // when none is configured).
    let reset_links = ResetLinks::new(app.hash_key.clone(), app.config.v2_reset_emails.into());
    let publisher = Arc::new(
        LocalPublisher::new(
            store as Arc<dyn shared::store::Store>,
            Arc::new(Outbox::new(&outbox, clock.clone())),
            clock,
            reset_links,
        )
        .with_retention(app.config.history_retention_secs),
    );
    let app =
        app.with_publisher(publisher.clone()).with_graph_api().with_metrics(Sink::Registry(Arc::new(Registry::new())));
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    tracing::info!(addr = %local, store = store_url, outbox = %outbox.display(), routes = routes::ROUTES.len(), "listening");
    axum::serve(
        listener,
        shared::server::with_peer_addresses(shared::server::router_with_outbox(Arc::new(app), Some(outbox.clone()))),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await
    .map_err(|e| e.to_string())?;
    // Messages already accepted are written before the process ends.
    publisher.settle().await;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}

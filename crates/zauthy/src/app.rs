//! Wiring: configuration → store → services → HTTP router and the background workers (outbox, webhooks,
//! pruning). `Application::build` binds the port so tests learn it before serving; `run_until_stopped` serves
//! until the shutdown future resolves.

use crate::config::Config;
use crate::delivery::MessageDispatcher;
use crate::mailer::Mailer;
use anyhow::Context;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use zauthy_core::clock::Clock;
use zauthy_core::outbox::{DeliveryOutcome, MessageSender, OutboxLane};
use zauthy_core::passwords::PasswordHasher;
use zauthy_core::tokens::KeyRing;
use zauthy_core::webhooks::WebhookTransport;
use zauthy_core::{CoreConfig, Services};
use zauthy_http::{AppState, HttpConfig};
use zauthy_store::SqlStore;

pub struct Application {
    listener: TcpListener,
    /// Between runs of the pruning job; `None` when it is off.
    prune_interval: Option<Duration>,
    router: axum::Router,
    services: Arc<Services>,
    sender: Arc<dyn MessageSender>,
    webhooks: Arc<dyn WebhookTransport>,
    /// Notified when this process commits webhook deliveries.
    webhook_wakeup: Arc<Notify>,
}

/// Opens and migrates the configured database.
pub async fn open_store(config: &Config) -> anyhow::Result<SqlStore> {
    let url = config.database_url();
    if url.starts_with("sqlite:") {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("creating data directory {}", config.data_dir.display()))?;
    }
    let store = zauthy_store::connect(&url, config.database_max_connections).await.context("opening the database")?;
    store.migrate().await.context("migrating the database")?;
    Ok(store)
}

/// The services on an open store.
pub fn services(config: &Config, store: SqlStore, clock: Arc<dyn Clock>) -> anyhow::Result<Arc<Services>> {
    let master = crate::master_key::load_or_create(config.master_key.as_deref(), &config.data_dir)?;
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    Ok(Arc::new(Services {
        store: Arc::new(store),
        clock,
        config: CoreConfig {
            public_url: config.public_url.trim_end_matches('/').to_owned(),
            access_token_ttl_secs: config.access_token_ttl_secs,
            sessions: config.sessions,
            reset_token_ttl_secs: config.password_reset.token_ttl_secs,
            password_reset_url: config.password_reset.url.clone(),
            webhooks: config.webhooks.settings(),
            federation: config.federation.settings(),
            event_retention_days: (config.event_retention_days > 0).then(|| i64::from(config.event_retention_days)),
        },
        hasher: PasswordHasher::new(config.passwords.argon2, config.passwords.max_concurrent_hashes.unwrap_or(cores)),
        keys: KeyRing::new(master),
        outbox_wakeup: Arc::new(Notify::new()),
        cache: Default::default(),
        token_writes: Default::default(),
        federation: zauthy_core::federation::Federation::new(Arc::new(crate::federation::HttpFederationClient::new(
            config.federation.settings(),
        )?)),
    }))
}

impl Application {
    pub async fn build(config: &Config, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(&config.listen).await.with_context(|| format!("binding {}", config.listen))?;
        Self::build_on(config, clock, listener).await
    }

    /// Like `build`, on a listener bound by the caller (tests learn the port first to set `public_url`).
    pub async fn build_on(config: &Config, clock: Arc<dyn Clock>, listener: TcpListener) -> anyhow::Result<Self> {
        let store = open_store(config).await?;
        let webhook_wakeup = store.webhook_wakeup();
        let services = services(config, store, clock)?;
        let mailer = Mailer::new(&config.email, &config.data_dir)?;
        tracing::info!(delivery = %mailer.describe(), "email delivery");
        let sms = crate::sms::sms_sender(&config.sms, &config.data_dir)?;
        tracing::info!(delivery = %sms.describe(), "SMS delivery");
        let state = AppState::new(
            services.clone(),
            HttpConfig {
                trust_proxy_headers: config.trust_proxy_headers,
                max_body_bytes: config.max_body_bytes,
                rate_limits: config.rate_limits.clone(),
            },
        );
        let http: Arc<dyn WebhookTransport> =
            Arc::new(crate::webhooks::HttpWebhookTransport::new(config.webhooks.settings())?);
        Ok(Self {
            listener,
            prune_interval: (config.prune_interval_secs > 0).then(|| Duration::from_secs(config.prune_interval_secs)),
            router: zauthy_http::router(state),
            services,
            sender: Arc::new(MessageDispatcher { mailer, sms, http: http.clone() }),
            webhooks: http,
            webhook_wakeup,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    pub fn services(&self) -> Arc<Services> {
        self.services.clone()
    }

    /// Serves HTTP and runs the outbox, webhook and pruning workers until `shutdown` resolves, then drains
    /// in-flight requests.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let worker = tokio::spawn(run_outbox_workers(self.services.clone(), self.sender.clone(), stop_rx.clone()));
        let webhooks = tokio::spawn(crate::webhook_worker::run(
            self.services.clone(),
            self.webhooks.clone(),
            self.webhook_wakeup.clone(),
            stop_rx.clone(),
        ));
        let pruning = self
            .prune_interval
            .map(|interval| tokio::spawn(crate::prune_worker::run(self.services.clone(), interval, stop_rx.clone())));
        let app = self.router.into_make_service_with_connect_info::<SocketAddr>();
        let served = axum::serve(self.listener, app)
            .with_graceful_shutdown(async move {
                shutdown.await;
                tracing::info!("shutting down: finishing in-flight requests");
            })
            .await;
        let _ = stop_tx.send(true);
        let _ = worker.await;
        let _ = webhooks.await;
        if let Some(pruning) = pruning {
            let _ = pruning.await;
        }
        served.context("HTTP server")
    }
}

/// Back-channel logout notices sent at once per node: a few endpoints that never answer (each send waits out
/// its timeout) slow the others down but never stop them. Emails and text messages have a worker of their own.
const LOGOUT_WORKERS: usize = 4;

/// Delivers outbox messages until told to stop: one worker for emails and text messages, `LOGOUT_WORKERS`
/// for back-channel logout notices, each claiming its own messages (`OutboxLane`).
pub async fn run_outbox_workers(services: Arc<Services>, sender: Arc<dyn MessageSender>, stop: watch::Receiver<bool>) {
    let lanes = std::iter::once(OutboxLane::Messages).chain(std::iter::repeat_n(OutboxLane::Logout, LOGOUT_WORKERS));
    let workers: Vec<_> = lanes
        .map(|lane| tokio::spawn(run_outbox_worker(services.clone(), sender.clone(), lane, stop.clone())))
        .collect();
    for worker in workers {
        let _ = worker.await;
    }
}

/// Delivers the lane's messages until told to stop. Woken at once by local commits, and polls every second
/// for work queued by other nodes or due for retry.
async fn run_outbox_worker(
    services: Arc<Services>,
    sender: Arc<dyn MessageSender>,
    lane: OutboxLane,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        if *stop.borrow() {
            return;
        }
        // Registered before looking, so a wake-up that comes while this worker sends is not lost.
        let wakeup = services.outbox_wakeup.notified();
        tokio::pin!(wakeup);
        wakeup.as_mut().enable();
        match services.try_deliver_next(&*sender, lane).await {
            Ok(DeliveryOutcome::Empty) => {}
            Ok(_) => continue,
            Err(e) => tracing::error!(error = ?e, "outbox worker"),
        }
        tokio::select! {
            _ = wakeup => {}
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = stop.changed() => {}
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = terminate => {} }
}

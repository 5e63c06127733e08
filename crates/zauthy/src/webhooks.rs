//! Sending webhook deliveries over HTTP: no redirects, a 10 s timeout, at most 4 KiB of the answer kept, and a
//! DNS resolver that drops non-public addresses at connect time, so a name that resolves (or later rebinds)
//! to a private, loopback or metadata address is never reached.

use async_trait::async_trait;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::SocketAddr;
use std::time::Duration;
use zauthy_core::webhooks::{TransportResponse, WebhookSettings, WebhookTransport, check_url, is_public_address};

const BODY_KEPT: usize = 4096;

/// Resolves with the system resolver and keeps only public addresses; no address left is an error.
pub struct PublicOnlyResolver;

impl Resolve for PublicOnlyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> = addrs.into_iter().filter(|a| is_public_address(a.ip())).collect();
            if public.is_empty() {
                return Err(format!("{host} resolves to no public address").into());
            }
            Ok(Box::new(public.into_iter()) as Addrs)
        })
    }
}

pub struct HttpWebhookTransport {
    client: reqwest::Client,
    settings: WebhookSettings,
}

impl HttpWebhookTransport {
    pub fn new(settings: WebhookSettings) -> anyhow::Result<Self> {
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(5))
            .no_proxy();
        if !settings.allow_private_addresses {
            builder = builder.dns_resolver(std::sync::Arc::new(PublicOnlyResolver));
        }
        Ok(Self { client: builder.build()?, settings })
    }
}

#[async_trait]
impl WebhookTransport for HttpWebhookTransport {
    async fn post(
        &self,
        url: &str,
        headers: &[(&'static str, String)],
        body: &[u8],
    ) -> Result<TransportResponse, String> {
        // Checked again at send time: the rules may have tightened since the endpoint was saved, and literal
        // addresses never reach the resolver.
        check_url(url, &self.settings).map_err(|e| e.to_string())?;
        let mut request = self.client.post(url).body(body.to_vec());
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let mut response = request.send().await.map_err(|e| with_causes(&e))?;
        let status = response.status().as_u16();
        let mut kept = Vec::new();
        while kept.len() < BODY_KEPT {
            match response.chunk().await {
                Ok(Some(chunk)) => kept.extend_from_slice(&chunk[..chunk.len().min(BODY_KEPT - kept.len())]),
                _ => break,
            }
        }
        Ok(TransportResponse { status, body: String::from_utf8_lossy(&kept).into_owned() })
    }
}

/// What the delivery history says of any failure to resolve the host name. One message for a name that
/// does not exist and for one that resolves only to private addresses: the history is the organization's to
/// read, and telling the two apart would let it map the names of this server's internal network.
pub const UNRESOLVED: &str = "the destination's host name does not resolve to a public address";

/// The error and its causes: reqwest's own message ("error sending request for url …") does not say why,
/// and the delivery history should (timeout, refused connection, TLS). Name resolution failures are all
/// `UNRESOLVED`; their detail goes to the server's log only.
fn with_causes(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut unresolved = false;
    let mut cause = std::error::Error::source(error);
    while let Some(e) = cause {
        let message = e.to_string();
        unresolved |= message.starts_with("dns error");
        if !text.contains(&message) {
            text.push_str(": ");
            text.push_str(&message);
        }
        cause = e.source();
    }
    if unresolved {
        tracing::info!(detail = %text, "webhook destination did not resolve to a public address");
        return UNRESOLVED.to_owned();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_name_resolving_to_loopback_is_refused_by_the_resolver() {
        let r = PublicOnlyResolver.resolve("localhost".parse().unwrap()).await;
        assert!(r.is_err());
    }
}

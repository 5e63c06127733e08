//! Social login's outbound HTTP client (discovery, JWKS, token, userinfo): no redirects, short timeouts, a
//! size cap on answers, and the webhooks' public-only resolver, so an upstream URL that resolves (or later
//! rebinds) to a private, loopback or metadata address is never reached.

use async_trait::async_trait;
use std::time::Duration;
use zauthy_core::federation::{FederationHttp, FederationSettings, OutboundReply, OutboundRequest, check_outbound_url};

/// Discovery documents and JWKS are small; anything bigger is refused rather than buffered.
const MAX_BODY: usize = 256 * 1024;

pub struct HttpFederationClient {
    client: reqwest::Client,
    settings: FederationSettings,
}

impl HttpFederationClient {
    pub fn new(settings: FederationSettings) -> anyhow::Result<Self> {
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(5))
            .user_agent("zauthy-federation/1")
            .no_proxy();
        if !settings.allow_private_addresses {
            builder = builder.dns_resolver(std::sync::Arc::new(crate::webhooks::PublicOnlyResolver));
        }
        Ok(Self { client: builder.build()?, settings })
    }
}

#[async_trait]
impl FederationHttp for HttpFederationClient {
    async fn send(&self, request: OutboundRequest) -> Result<OutboundReply, String> {
        // Checked again here: literal addresses never reach the resolver.
        check_outbound_url(&request.url, &self.settings, "invalid_upstream_url").map_err(|e| e.to_string())?;
        let mut builder = match &request.form {
            Some(form) => {
                let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
                self.client
                    .post(&request.url)
                    .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(body)
            }
            None => self.client.get(&request.url),
        };
        for (name, value) in &request.headers {
            builder = builder.header(*name, value);
        }
        let mut response = builder.send().await.map_err(|e| format!("{e:#}"))?;
        let status = response.status().as_u16();
        if response.content_length().is_some_and(|n| n > MAX_BODY as u64) {
            return Err(format!("the answer is larger than {MAX_BODY} bytes"));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| format!("{e:#}"))? {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(format!("the answer is larger than {MAX_BODY} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(OutboundReply { status, body })
    }
}

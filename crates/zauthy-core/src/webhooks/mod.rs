//! Webhooks: endpoints an organization registers, the signed body each event is delivered as, and the
//! rules a destination URL must follow (https, no private or literal addresses) so a webhook cannot be
//! pointed at the server's own network.

mod delivery;
mod manage;
pub mod store;

pub use delivery::{ClaimedDelivery, SentDelivery, TransportResponse, WebhookTransport, backoff_schedule};
pub use manage::{CreatedWebhook, WebhookInput, WebhookUpdate};

use crate::error::{CoreError, Result};
use crate::events::Event;
use data_encoding::{BASE64, HEXLOWER};
use serde::Serialize;
use std::net::IpAddr;
use time::OffsetDateTime;

/// Subscribes to every event type.
pub const ALL_EVENTS: &str = "*";
pub const TEST_EVENT: &str = "webhook.test";

#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// Accept `http://` URLs (development only).
    pub allow_http: bool,
    /// Accept destinations on loopback, private and other non-public addresses (development and tests only).
    pub allow_private_addresses: bool,
    /// How long the previous secret keeps signing after a rotation.
    pub secret_overlap_secs: i64,
    /// An endpoint failing without a single success for this long is disabled.
    pub disable_after_secs: i64,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            allow_http: false,
            allow_private_addresses: false,
            secret_overlap_secs: 24 * 3600,
            disable_after_secs: 3 * 24 * 3600,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Webhook {
    pub id: String,
    pub org_id: String,
    pub url: String,
    pub events: Vec<String>,
    pub active: bool,
    /// The signing secret, encrypted under the master key.
    pub secret_enc: String,
    pub previous_secret_enc: Option<String>,
    pub previous_secret_expires_at: Option<OffsetDateTime>,
    /// Since when every attempt failed; cleared by a success.
    pub failing_since: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

impl Webhook {
    pub fn subscribes_to(&self, event_type: &str) -> bool {
        self.events.iter().any(|e| e == ALL_EVENTS || e == event_type)
    }
}

pub const PENDING: &str = "pending";
pub const DELIVERED: &str = "delivered";
pub const FAILED: &str = "failed";

#[derive(Debug, Clone)]
pub struct WebhookDelivery {
    pub id: String,
    pub org_id: String,
    pub webhook_id: String,
    pub event_id: String,
    pub event_type: String,
    /// The exact body that is signed and sent.
    pub payload: String,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: Option<OffsetDateTime>,
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

impl WebhookDelivery {
    /// A pending delivery of `payload` to `webhook`, due now.
    pub fn new(webhook: &Webhook, event_id: &str, event_type: &str, payload: String, now: OffsetDateTime) -> Self {
        Self {
            id: crate::ids::new_id(crate::ids::WEBHOOK_DELIVERY),
            org_id: webhook.org_id.clone(),
            webhook_id: webhook.id.clone(),
            event_id: event_id.to_owned(),
            event_type: event_type.to_owned(),
            payload,
            status: PENDING.to_owned(),
            attempts: 0,
            next_attempt_at: Some(now),
            last_status_code: None,
            last_error: None,
            created_at: now,
            updated_at: now,
        }
    }
}

#[derive(Debug, Clone)]
pub struct WebhookAttempt {
    pub id: String,
    pub delivery_id: String,
    pub webhook_id: String,
    pub attempted_at: OffsetDateTime,
    pub status_code: Option<i32>,
    pub latency_ms: i64,
    /// The first bytes of the response body.
    pub response_body: Option<String>,
    pub error: Option<String>,
    pub next_retry_at: Option<OffsetDateTime>,
}

/// The body of a delivery, field order fixed so re-serialising it (`JSON.stringify(req.body)`) gives the
/// same bytes.
#[derive(Serialize)]
struct Envelope<'a> {
    event: &'a str,
    data: &'a serde_json::Value,
    id: &'a str,
    created_at: String,
}

/// The compact JSON body delivered for `event`; its `id` is the event's, stable across retries.
pub fn payload(event: &Event) -> String {
    payload_of(&event.id, &event.event_type, &event.data, event.created_at)
}

pub fn payload_of(id: &str, event_type: &str, data: &serde_json::Value, created_at: OffsetDateTime) -> String {
    let created_at = created_at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
    serde_json::to_string(&Envelope { event: event_type, data, id, created_at }).unwrap_or_default()
}

/// Hex HMAC-SHA256 of the body under the whole secret string: the `X-Webhook-Signature` header.
pub fn hex_signature(secret: &str, body: &[u8]) -> String {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret.as_bytes());
    HEXLOWER.encode(aws_lc_rs::hmac::sign(&key, body).as_ref())
}

/// Standard Webhooks: `v1,` + base64 HMAC-SHA256 of `{id}.{timestamp}.{body}`, keyed with the base64-decoded
/// part of the secret after `whsec_` (what the Standard Webhooks libraries do).
pub fn standard_signature(secret: &str, msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    let raw = secret.strip_prefix("whsec_").unwrap_or(secret);
    let key_bytes = BASE64.decode(raw.as_bytes()).unwrap_or_else(|_| raw.as_bytes().to_vec());
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &key_bytes);
    let mut ctx = aws_lc_rs::hmac::Context::with_key(&key);
    ctx.update(msg_id.as_bytes());
    ctx.update(b".");
    ctx.update(timestamp.to_string().as_bytes());
    ctx.update(b".");
    ctx.update(body);
    format!("v1,{}", BASE64.encode(ctx.sign().as_ref()))
}

/// A fresh secret: `whsec_` + base64 of 32 random bytes.
pub fn new_secret() -> String {
    format!("whsec_{}", BASE64.encode(&crate::crypto::random_bytes::<32>()))
}

fn invalid_url(detail: impl Into<String>) -> CoreError {
    CoreError::invalid("invalid_webhook_url", detail)
}

/// Whether an address is one a webhook may reach: not loopback, private, link-local (cloud metadata),
/// CGNAT, multicast, broadcast, unspecified, documentation or otherwise reserved, in IPv4, IPv6 or an
/// IPv4-mapped/compatible IPv6 form.
pub fn is_public_address(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_unspecified()
                || v4.is_documentation()
                || o[0] == 0
                || (o[0] == 100 && (o[1] & 0xc0) == 64) // 100.64/10 CGNAT
                || (o[0] == 192 && o[1] == 0 && o[2] == 0) // 192.0.0/24 protocol assignments
                || (o[0] == 198 && (o[1] & 0xfe) == 18) // 198.18/15 benchmarking
                || o[0] >= 240) // 240/4 reserved
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_address(IpAddr::V4(v4));
            }
            let s = v6.segments();
            if s[0..6] == [0, 0, 0, 0, 0, 0] {
                // IPv4-compatible (deprecated) forms, ::1 and :: included.
                return false;
            }
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // fc00::/7 unique local
                || (s[0] & 0xffc0) == 0xfe80 // fe80::/10 link-local
                || (s[0] & 0xffc0) == 0xfec0 // fec0::/10 site-local
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
                || (s[0] == 0x64 && s[1] == 0xff9b) // NAT64 can reach IPv4 private space
                || (s[0] == 0x2001 && s[1] == 0) // 2001::/32 Teredo embeds an IPv4 address too
                || s[0] == 0x2002) // 6to4 embeds any IPv4
        }
    }
}

/// Checks a destination URL at create/update time. The resolved addresses are checked again at connect
/// time by the sender, so DNS rebinding cannot pass either.
pub fn check_url(raw: &str, settings: &WebhookSettings) -> Result<url::Url> {
    let url = url::Url::parse(raw.trim()).map_err(|_| invalid_url("url must be an absolute URL"))?;
    match url.scheme() {
        "https" => {}
        "http" if settings.allow_http => {}
        _ => return Err(invalid_url("url must use https")),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid_url("url must not carry credentials"));
    }
    if url.fragment().is_some() {
        return Err(invalid_url("url must not have a fragment"));
    }
    if raw.len() > 2000 {
        return Err(invalid_url("url is too long"));
    }
    let literal = match url.host() {
        None => return Err(invalid_url("url needs a host")),
        Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
        Some(url::Host::Domain(d)) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            if !settings.allow_private_addresses && (d == "localhost" || d.ends_with(".localhost")) {
                return Err(invalid_url("url must not point at this machine"));
            }
            None
        }
    };
    if let Some(ip) = literal
        && !settings.allow_private_addresses
    {
        let why = if is_public_address(ip) { "a host name, not an IP address" } else { "a public host" };
        return Err(invalid_url(format!("url must name {why}")));
    }
    Ok(url)
}

/// The event types a subscription may name: catalogue entries or `*`.
pub fn check_events(events: &[String]) -> Result<Vec<String>> {
    if events.is_empty() {
        return Err(CoreError::invalid("invalid_webhook_events", "subscribe to at least one event type (or \"*\")"));
    }
    let mut out: Vec<String> = Vec::new();
    for e in events {
        if e != ALL_EVENTS && !crate::events::catalogue::is_known(e) {
            return Err(CoreError::invalid(
                "invalid_webhook_events",
                format!("{e:?} is not an event type; GET /api/v1/webhooks/events lists them"),
            ));
        }
        if !out.contains(e) {
            out.push(e.clone());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_special_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.0.0.1",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "192.0.2.1",
            "::1",
            "::",
            "fc00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "2001:db8::1",
            "ff02::1",
            "64:ff9b::a00:1",
            "2002:7f00:1::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
        ] {
            assert!(!is_public_address(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111"] {
            assert!(is_public_address(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn the_body_is_compact_with_a_fixed_key_order() {
        let t = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        let body = payload_of("evt_1", "user.signup", &serde_json::json!({"user_id": "usr_1", "n": 3}), t);
        assert_eq!(
            body,
            r#"{"event":"user.signup","data":{"n":3,"user_id":"usr_1"},"id":"evt_1","created_at":"2023-11-14T22:13:20Z"}"#
        );
    }
}

//! "Send test event" on an `http` project: a realistic WhatsApp Cloud API
//! message webhook (Meta's `entry[].changes[].value.messages[]` shape)
//! posted to the bot's `/whatsapp_webhook`, signed with
//! `X-Hub-Signature-256` when the project has `WHATSAPP_APP_SECRET`, as
//! Meta signs it (HMAC-SHA256 of the raw body).

use http_body_util::BodyExt;
use hyper::Method;
use hyper::body::Bytes;
use hyper::header::{HeaderMap, HeaderValue};
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};

use super::{HookBody, HookRequest};
use crate::Paige;
use crate::error::{Error, Result};
use crate::model::{Actor, now_millis};
use crate::runtime::Trigger;

/// The secret Meta signs webhooks with.
pub const APP_SECRET_KEY: &str = "WHATSAPP_APP_SECRET";
/// Where a Paige bot takes the WhatsApp webhook.
pub const WHATSAPP_PATH: &str = "/whatsapp_webhook";

/// A text message webhook from Meta, as of the Cloud API.
pub fn whatsapp_message(now_millis: i64) -> serde_json::Value {
    let seconds = (now_millis / 1000).to_string();
    serde_json::json!({
        "object": "whatsapp_business_account",
        "entry": [{
            "id": "102290129340398",
            "changes": [{
                "field": "messages",
                "value": {
                    "messaging_product": "whatsapp",
                    "metadata": {
                        "display_phone_number": "15550783881",
                        "phone_number_id": "106540352242922"
                    },
                    "contacts": [{ "profile": { "name": "Paige Test" }, "wa_id": "16505551234" }],
                    "messages": [{
                        "from": "16505551234",
                        "id": format!("wamid.paige-test-{now_millis}"),
                        "timestamp": seconds,
                        "type": "text",
                        "text": { "body": "Hello from Paige: this is a test message" }
                    }]
                }
            }]
        }]
    })
}

/// HMAC-SHA256 (RFC 2104) of `body` with `key`.
pub fn hmac_sha256(key: &[u8], body: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut block = [0u8; BLOCK];
    if key.len() > BLOCK {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.map(|b| b ^ byte);
    let inner = Sha256::new().chain_update(pad(0x36)).chain_update(body).finalize();
    let outer = Sha256::new().chain_update(pad(0x5c)).chain_update(inner).finalize();
    zeroize::Zeroize::zeroize(&mut block);
    outer.into()
}

impl Paige {
    /// Posts the WhatsApp test message to the project's warm bot; returns
    /// the execution that recorded it.
    pub async fn send_whatsapp_test_event(&self, slug: &str, actor: &Actor) -> Result<i64> {
        if self.runtime_mode(slug).await? != crate::model::RuntimeMode::Http {
            return Err(Error::invalid(
                "not_http_mode",
                "the test event is a webhook for `http` projects; run an `event` project's bot with POST …/executions",
            ));
        }
        let body = serde_json::to_vec(&whatsapp_message(now_millis()))
            .map_err(|e| Error::internal(format!("the test event cannot be encoded: {e}")))?;
        let mut headers = HeaderMap::new();
        headers.insert(
            hyper::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert(
            hyper::header::USER_AGENT,
            HeaderValue::from_static("facebookexternalua"),
        );
        let secrets = self.resolve(slug).await?;
        if let Some((_, secret)) = secrets.secrets.iter().find(|(key, _)| key == APP_SECRET_KEY) {
            let signature = format!(
                "sha256={}",
                hex::encode(hmac_sha256(secret.expose_secret().as_bytes(), &body))
            );
            let value = HeaderValue::from_str(&signature)
                .map_err(|e| Error::internal(format!("the signature is not a header value: {e}")))?;
            headers.insert("x-hub-signature-256", value);
        }
        drop(secrets);
        let request = HookRequest {
            method: Method::POST,
            path_and_query: WHATSAPP_PATH.to_owned(),
            headers,
            body: Bytes::from(body),
            client: None,
            https: false,
        };
        let (answer, streaming) = self.forward_as(slug, request, Trigger::Test, Some(actor)).await?;
        // The caller wants the execution as recorded: the answer read to
        // its end, and its record closed.
        if let HookBody::Streaming(body) = answer.body {
            let _ = body.collect().await;
        }
        if let Some(task) = streaming {
            let _ = task.await;
        }
        answer.execution_id.ok_or_else(|| {
            Error::invalid(
                "bot_busy",
                "the bot is busy: every process is serving and the queue is full; try again in a moment",
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231() {
        // Test case 2.
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn the_test_message_has_metas_shape() {
        let event = whatsapp_message(1_700_000_000_000);
        let message = &event["entry"][0]["changes"][0]["value"]["messages"][0];
        assert_eq!(message["type"], "text");
        assert_eq!(message["timestamp"], "1700000000");
    }
}

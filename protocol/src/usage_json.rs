//! A usage event written as JSON without serde's generic path: a proxy writes one per request,
//! and serde spent most of that on scanning UUIDs, numbers' text and timestamps for characters
//! to escape (none can hold one) and on a `String` per timestamp. The bytes are the ones
//! `serde_json::to_vec` writes (the tests hold the two together); the server reads them with serde.

use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use crate::{AiUsage, ConsumerRef, McpUsage, SubscriptionRef, UsageEvent};

/// Writes `{"dataplane_id":…,"events":[` — the head of a `UsageBatch`.
pub fn write_batch_head(out: &mut Vec<u8>, dataplane_id: Uuid) {
    out.extend_from_slice(b"{\"dataplane_id\":");
    write_uuid(out, dataplane_id);
    out.extend_from_slice(b",\"events\":[");
}

/// Closes what [`write_batch_head`] opened, after the events (separated by commas).
pub fn write_batch_tail(out: &mut Vec<u8>) {
    out.extend_from_slice(b"]}");
}

/// Appends the event as `serde_json::to_vec(event)` would write it. On an error (a time
/// RFC 3339 cannot write, such as a year past 9999) `out` may hold part of the event.
pub fn write_event(out: &mut Vec<u8>, event: &UsageEvent) -> Result<(), time::error::Format> {
    // Destructured so that a field added to the event cannot be left out here.
    let UsageEvent {
        id,
        time,
        tenant_id,
        key_id,
        route_id,
        method,
        status,
        latency_us,
        upstream_latency_us,
        bytes_in,
        bytes_out,
        error_class,
        ai,
        consumer,
        mcp,
        subscription,
    } = event;
    out.extend_from_slice(b"{\"id\":");
    write_uuid(out, *id);
    out.extend_from_slice(b",\"time\":\"");
    write_time(out, *time)?;
    out.extend_from_slice(b"\",\"tenant_id\":");
    write_option(out, *tenant_id, write_uuid);
    out.extend_from_slice(b",\"key_id\":");
    write_option(out, *key_id, write_uuid);
    out.extend_from_slice(b",\"route_id\":");
    write_option(out, *route_id, write_uuid);
    out.extend_from_slice(b",\"method\":");
    write_str(out, method);
    out.extend_from_slice(b",\"status\":");
    write_int(out, *status);
    out.extend_from_slice(b",\"latency_us\":");
    write_int(out, *latency_us);
    out.extend_from_slice(b",\"upstream_latency_us\":");
    write_option(out, *upstream_latency_us, write_int);
    out.extend_from_slice(b",\"bytes_in\":");
    write_int(out, *bytes_in);
    out.extend_from_slice(b",\"bytes_out\":");
    write_int(out, *bytes_out);
    out.extend_from_slice(b",\"error_class\":");
    write_option(out, error_class.as_deref(), write_str);
    if let Some(ai) = ai {
        out.extend_from_slice(b",\"ai\":");
        write_ai(out, ai);
    }
    if let Some(ConsumerRef { issuer_id, name }) = consumer {
        out.extend_from_slice(b",\"consumer\":{\"issuer_id\":");
        write_uuid(out, *issuer_id);
        out.extend_from_slice(b",\"name\":");
        write_str(out, name);
        out.push(b'}');
    }
    if let Some(McpUsage { server_id, tool }) = mcp {
        out.extend_from_slice(b",\"mcp\":{\"server_id\":");
        write_option(out, *server_id, write_uuid);
        out.extend_from_slice(b",\"tool\":");
        write_str(out, tool);
        out.push(b'}');
    }
    if let Some(SubscriptionRef {
        subscription_id,
        product_id,
        application_id,
    }) = subscription
    {
        out.extend_from_slice(b",\"subscription\":{\"subscription_id\":");
        write_uuid(out, *subscription_id);
        out.extend_from_slice(b",\"product_id\":");
        write_uuid(out, *product_id);
        out.extend_from_slice(b",\"application_id\":");
        write_uuid(out, *application_id);
        out.push(b'}');
    }
    out.push(b'}');
    Ok(())
}

fn write_ai(out: &mut Vec<u8>, ai: &AiUsage) {
    let AiUsage {
        model_id,
        provider_id,
        upstream_model,
        input_tokens,
        cached_input_tokens,
        cache_write_tokens,
        output_tokens,
        estimated,
        cost_nanousd,
        ttft_us,
        fallbacks,
        prompt_api_id,
        streamed,
    } = ai;
    out.extend_from_slice(b"{\"model_id\":");
    write_uuid(out, *model_id);
    out.extend_from_slice(b",\"provider_id\":");
    write_option(out, *provider_id, write_uuid);
    out.extend_from_slice(b",\"upstream_model\":");
    write_option(out, upstream_model.as_deref(), write_str);
    out.extend_from_slice(b",\"input_tokens\":");
    write_int(out, *input_tokens);
    out.extend_from_slice(b",\"cached_input_tokens\":");
    write_int(out, *cached_input_tokens);
    out.extend_from_slice(b",\"cache_write_tokens\":");
    write_int(out, *cache_write_tokens);
    out.extend_from_slice(b",\"output_tokens\":");
    write_int(out, *output_tokens);
    out.extend_from_slice(b",\"estimated\":");
    write_bool(out, *estimated);
    out.extend_from_slice(b",\"cost_nanousd\":");
    write_int(out, *cost_nanousd);
    out.extend_from_slice(b",\"ttft_us\":");
    write_option(out, *ttft_us, write_int);
    out.extend_from_slice(b",\"fallbacks\":");
    write_int(out, *fallbacks);
    out.extend_from_slice(b",\"prompt_api_id\":");
    write_option(out, *prompt_api_id, write_uuid);
    out.extend_from_slice(b",\"streamed\":");
    write_bool(out, *streamed);
    out.push(b'}');
}

fn write_option<T>(out: &mut Vec<u8>, value: Option<T>, write: impl FnOnce(&mut Vec<u8>, T)) {
    match value {
        Some(value) => write(out, value),
        None => out.extend_from_slice(b"null"),
    }
}

/// Each byte's two lower-case hex digits.
const HEX_PAIRS: [[u8; 2]; 256] = {
    let digits = b"0123456789abcdef";
    let mut pairs = [[0; 2]; 256];
    let mut byte = 0;
    while byte < 256 {
        pairs[byte] = [digits[byte >> 4], digits[byte & 0xf]];
        byte += 1;
    }
    pairs
};

/// A UUID's hyphenated, lower-case form, written a byte pair at a time from a table (the uuid
/// crate's encoder computes each digit with branches, about 155 instructions per UUID; four
/// UUIDs go into every event, and the proxy makes request ids with it).
pub fn hyphenated(id: Uuid) -> [u8; uuid::fmt::Hyphenated::LENGTH] {
    let mut text = [b'-'; uuid::fmt::Hyphenated::LENGTH];
    let mut at = 0;
    for (index, byte) in id.as_bytes().iter().enumerate() {
        if matches!(index, 4 | 6 | 8 | 10) {
            at += 1;
        }
        text[at..at + 2].copy_from_slice(&HEX_PAIRS[usize::from(*byte)]);
        at += 2;
    }
    text
}

/// A UUID as a JSON string: its hyphenated form holds nothing to escape.
fn write_uuid(out: &mut Vec<u8>, id: Uuid) {
    out.push(b'"');
    out.extend_from_slice(&hyphenated(id));
    out.push(b'"');
}

const DIGITS: &[u8; 10] = b"0123456789";

/// Each number below 100 as two decimal digits.
const DECIMAL_PAIRS: [[u8; 2]; 100] = {
    let mut pairs = [[0; 2]; 100];
    let mut n = 0;
    while n < 100 {
        pairs[n] = [DIGITS[n / 10], DIGITS[n % 10]];
        n += 1;
    }
    pairs
};

/// A time as `time`'s RFC 3339 format writes it (the fraction without trailing zeros, `Z` for
/// UTC). Written by hand for UTC, the offset proxies stamp (the generic formatter took about
/// 320 instructions per event); other offsets, and years RFC 3339 cannot hold (an error), go
/// through `time`.
fn write_time(out: &mut Vec<u8>, time: time::OffsetDateTime) -> Result<(), time::error::Format> {
    let year = time.year();
    if !time.offset().is_utc() || !(0..=9999).contains(&year) {
        time.format_into(out, &Rfc3339)?;
        return Ok(());
    }
    let pair = |n: u8| DECIMAL_PAIRS[usize::from(n % 100)];
    // In 0..=9999, checked above.
    let year = year.unsigned_abs() as usize;
    let (hour, minute, second, nanos) = time.to_hms_nano();
    let mut text = *b"0000-00-00T00:00:00";
    text[0..2].copy_from_slice(&DECIMAL_PAIRS[year / 100]);
    text[2..4].copy_from_slice(&DECIMAL_PAIRS[year % 100]);
    text[5..7].copy_from_slice(&pair(u8::from(time.month())));
    text[8..10].copy_from_slice(&pair(time.day()));
    text[11..13].copy_from_slice(&pair(hour));
    text[14..16].copy_from_slice(&pair(minute));
    text[17..19].copy_from_slice(&pair(second));
    out.extend_from_slice(&text);
    if nanos != 0 {
        let mut fraction = *b".000000000";
        let mut rest = nanos;
        for at in (1..10).rev() {
            fraction[at] = DIGITS[(rest % 10) as usize];
            rest /= 10;
        }
        let digits = 10 - fraction.iter().rev().take_while(|&&b| b == b'0').count();
        out.extend_from_slice(&fraction[..digits]);
    }
    out.push(b'Z');
    Ok(())
}

fn write_int(out: &mut Vec<u8>, value: impl itoa::Integer) {
    out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
}

fn write_bool(out: &mut Vec<u8>, value: bool) {
    out.extend_from_slice(if value { b"true" } else { b"false" });
}

/// Free text (a method, a model's or tool's name, a claim) is escaped as serde_json does.
fn write_str(out: &mut Vec<u8>, text: &str) {
    // Writing into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, text);
}

#[cfg(test)]
mod tests {
    use time::OffsetDateTime;

    use super::*;
    use crate::UsageBatch;

    fn bare_event() -> UsageEvent {
        UsageEvent {
            id: Uuid::now_v7(),
            time: OffsetDateTime::UNIX_EPOCH + time::Duration::nanoseconds(1_234_567_891_234),
            tenant_id: None,
            key_id: None,
            route_id: None,
            method: "GET".into(),
            status: 401,
            latency_us: 17,
            upstream_latency_us: None,
            bytes_in: 0,
            bytes_out: 0,
            error_class: Some("unauthorized".into()),
            ai: None,
            consumer: None,
            mcp: None,
            subscription: None,
        }
    }

    fn full_event() -> UsageEvent {
        UsageEvent {
            tenant_id: Some(Uuid::now_v7()),
            key_id: Some(Uuid::now_v7()),
            route_id: Some(Uuid::now_v7()),
            method: "PRO\"PFIND\\\u{1}é".into(),
            status: 200,
            latency_us: u64::MAX,
            upstream_latency_us: Some(0),
            bytes_in: 12,
            bytes_out: 3400,
            error_class: None,
            ai: Some(AiUsage {
                model_id: Uuid::now_v7(),
                provider_id: Some(Uuid::now_v7()),
                upstream_model: Some("gpt-4o \"mini\"\n".into()),
                input_tokens: 11,
                cached_input_tokens: 2,
                cache_write_tokens: 3,
                output_tokens: 7,
                estimated: true,
                cost_nanousd: i64::MIN,
                ttft_us: Some(250),
                fallbacks: 1,
                prompt_api_id: Some(Uuid::now_v7()),
                streamed: false,
            }),
            consumer: Some(ConsumerRef {
                issuer_id: Uuid::now_v7(),
                name: "ci\u{7f}/bot\t✓".into(),
            }),
            mcp: Some(McpUsage {
                server_id: None,
                tool: "search".into(),
            }),
            subscription: Some(SubscriptionRef {
                subscription_id: Uuid::now_v7(),
                product_id: Uuid::now_v7(),
                application_id: Uuid::now_v7(),
            }),
            ..bare_event()
        }
    }

    fn written(batch: &UsageBatch) -> Vec<u8> {
        let mut out = Vec::new();
        write_batch_head(&mut out, batch.dataplane_id);
        for (index, event) in batch.events.iter().enumerate() {
            if index > 0 {
                out.push(b',');
            }
            write_event(&mut out, event).unwrap_or_else(|e| panic!("{e}"));
        }
        write_batch_tail(&mut out);
        out
    }

    #[test]
    fn events_are_written_as_serde_writes_them() {
        let mut with_offset = full_event();
        with_offset.time = OffsetDateTime::now_utc()
            .to_offset(time::UtcOffset::from_hms(5, 30, 0).unwrap_or(time::UtcOffset::UTC));
        let batch = UsageBatch {
            dataplane_id: Uuid::now_v7(),
            events: vec![bare_event(), full_event(), with_offset],
        };
        let ours = written(&batch);
        let serdes = serde_json::to_vec(&batch).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            String::from_utf8_lossy(&ours),
            String::from_utf8_lossy(&serdes)
        );
        let read: UsageBatch = serde_json::from_slice(&ours).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(read, batch);
    }

    #[test]
    fn uuids_are_written_hyphenated_in_lower_case() {
        for text in [
            "00000000-0000-0000-0000-000000000000",
            "01234567-89ab-cdef-fedc-ba9876543210",
            "ffffffff-ffff-ffff-ffff-ffffffffffff",
        ] {
            let mut out = Vec::new();
            write_uuid(&mut out, text.parse().unwrap());
            assert_eq!(out, format!("\"{text}\"").into_bytes());
        }
    }

    #[test]
    fn times_are_written_as_serde_writes_them() {
        let utc = |nanos: i128| {
            OffsetDateTime::from_unix_timestamp_nanos(nanos).unwrap_or(OffsetDateTime::UNIX_EPOCH)
        };
        let mut times = vec![
            OffsetDateTime::UNIX_EPOCH,
            utc(1_796_340_000_000_000_000),
            utc(1_796_340_000_100_000_000),
            utc(1_796_340_000_000_000_001),
            utc(1_796_340_000_123_456_780),
            utc(-62_135_596_800_000_000_000), // 0001-01-01
            utc(253_402_300_799_999_999_999), // 9999-12-31T23:59:59.999999999
            OffsetDateTime::now_utc(),
        ];
        times.extend(
            [(5, 30, 0), (-8, 0, 0), (0, 0, 30)]
                .into_iter()
                .filter_map(|(h, m, s)| time::UtcOffset::from_hms(h, m, s).ok())
                .map(|offset| OffsetDateTime::now_utc().to_offset(offset)),
        );
        for time in times {
            let mut event = bare_event();
            event.time = time;
            let mut ours = Vec::new();
            let written = write_event(&mut ours, &event);
            match serde_json::to_vec(&event) {
                Ok(serdes) => assert_eq!(
                    String::from_utf8_lossy(&ours),
                    String::from_utf8_lossy(&serdes),
                    "{time}"
                ),
                Err(_) => assert!(written.is_err(), "{time}"),
            }
        }
    }

    #[test]
    fn an_empty_batch_is_valid_json() {
        let batch = UsageBatch {
            dataplane_id: Uuid::nil(),
            events: Vec::new(),
        };
        assert_eq!(
            written(&batch),
            serde_json::to_vec(&batch).unwrap_or_default()
        );
    }

    #[test]
    fn a_time_rfc_3339_cannot_write_is_an_error() {
        let mut event = bare_event();
        event.time = OffsetDateTime::UNIX_EPOCH
            .replace_year(-5)
            .unwrap_or(event.time);
        assert!(write_event(&mut Vec::new(), &event).is_err());
        assert!(serde_json::to_vec(&event).is_err());
    }
}

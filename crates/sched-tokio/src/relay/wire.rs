//! The wire format of relayed events: one payload is one JSON object, ASCII only,
//! within the relay's limit (Postgres: under 8000 bytes),
//!
//! ```text
//! {"v":1,"node":"node-a","inst":"5f1c-18a9","seq":17,"events":[{"k":"executed",...},...]}
//! ```
//!
//! `seq` numbers the payload's first event among all events this scheduler instance
//! (`inst`) relayed; the next payload's `seq` follows its last one, so a receiver that
//! finds a higher number knows exactly how many it missed (`gaps.rs`). Non-ASCII
//! characters are sent as `\uXXXX` escapes, so the length in bytes is the same in every
//! server encoding. A single event too long for a payload has its text fields (the
//! error first, then ids) cut, ending in `[... truncated from N bytes]`.

use chrono::{DateTime, Utc};
use sched_core::policy::Skipped;
use sched_core::store::{RunId, RunStatus};
use serde::{Deserialize, Serialize};

use crate::event::{AbandonedEvent, Event, JobEvent, LeaseLostEvent, RunEvent, SkipEvent};

/// The format's version: a receiver ignores payloads of another one.
const VERSION: u32 = 1;

/// One payload, as decoded.
#[derive(Debug, Deserialize)]
pub(super) struct Batch {
    pub(super) node: String,
    pub(super) inst: String,
    pub(super) seq: u64,
    pub(super) events: Vec<WireEvent>,
}

/// One event on the wire (its node is the batch's).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "k", rename_all = "snake_case")]
pub(super) enum WireEvent {
    Added(Job),
    Modified(Job),
    Removed(Job),
    Submitted(Run),
    Executed(Run),
    Error(Run),
    Missed(Skip),
    Coalesced(Skip),
    MaxInstances(Skip),
    Abandoned(Abandoned),
    LeaseLost(LeaseLost),
    /// A kind from a newer version: counted (its number is taken), not shown.
    #[serde(other)]
    Unknown,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(super) struct Job {
    job: String,
    at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(super) struct Run {
    job: String,
    run: i64,
    scheduled: DateTime<Utc>,
    started: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    duration_ns: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    /// Which attempt (left out for the first: 1; an older node sends none).
    #[serde(default = "first_attempt", skip_serializing_if = "is_first_attempt")]
    attempt: u32,
    /// The run's status word (an older node sends none: read from the event's kind).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status: Option<String>,
}

fn first_attempt() -> u32 {
    1
}

fn is_first_attempt(attempt: &u32) -> bool {
    *attempt == 1
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(super) struct Skip {
    job: String,
    first: DateTime<Utc>,
    last: DateTime<Utc>,
    count: u64,
    #[serde(default)]
    more: bool,
    at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(super) struct Abandoned {
    job: String,
    run: i64,
    scheduled: DateTime<Utc>,
    /// The dead node (the batch's node reported it).
    node: String,
    recovered: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(super) struct LeaseLost {
    job: String,
    run: i64,
    scheduled: DateTime<Utc>,
    reason: String,
    at: DateTime<Utc>,
}

impl WireEvent {
    /// The wire form of a relayed kind (`None` for the others).
    pub(super) fn from_event(event: &Event) -> Option<Self> {
        let job = |e: &JobEvent| Job {
            job: e.job_id.to_string(),
            at: e.at,
        };
        let run = |e: &RunEvent| Run {
            job: e.job_id.to_string(),
            run: e.run_id.0,
            scheduled: e.scheduled,
            started: e.started,
            duration_ns: e
                .duration
                .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)),
            error: e.error.clone(),
            attempt: e.attempt,
            status: Some(e.status.as_str().to_owned()),
        };
        let skip = |e: &SkipEvent| Skip {
            job: e.job_id.to_string(),
            first: e.runs.first,
            last: e.runs.last,
            count: e.runs.count,
            more: e.runs.more,
            at: e.at,
        };
        Some(match event {
            Event::JobAdded(e) => Self::Added(job(e)),
            Event::JobModified(e) => Self::Modified(job(e)),
            Event::JobRemoved(e) => Self::Removed(job(e)),
            Event::JobSubmitted(e) => Self::Submitted(run(e)),
            Event::JobExecuted(e) => Self::Executed(run(e)),
            Event::JobError(e) => Self::Error(run(e)),
            Event::JobMissed(e) => Self::Missed(skip(e)),
            Event::JobCoalesced(e) => Self::Coalesced(skip(e)),
            Event::JobMaxInstances(e) => Self::MaxInstances(skip(e)),
            Event::JobAbandoned(e) => Self::Abandoned(Abandoned {
                job: e.job_id.to_string(),
                run: e.run_id.0,
                scheduled: e.scheduled,
                node: e.node.clone(),
                recovered: e.recovered,
            }),
            Event::JobLeaseLost(e) => Self::LeaseLost(LeaseLost {
                job: e.job_id.to_string(),
                run: e.run_id.0,
                scheduled: e.scheduled,
                reason: e.reason.clone(),
                at: e.at,
            }),
            _ => return None,
        })
    }

    /// The event as `node` reported it (`None` for an unknown kind).
    pub(super) fn into_event(self, node: &str) -> Option<Event> {
        let node = node.to_owned();
        let job = |e: Job, node| JobEvent {
            job_id: e.job.into(),
            at: e.at,
            node,
        };
        let run = |e: Run, node, default: RunStatus| RunEvent {
            status: e
                .status
                .as_deref()
                .and_then(RunStatus::parse)
                .unwrap_or(default),
            result: None,
            job_id: e.job.into(),
            run_id: RunId(e.run),
            scheduled: e.scheduled,
            started: e.started,
            duration: e.duration_ns.map(std::time::Duration::from_nanos),
            error: e.error,
            node,
            attempt: e.attempt,
        };
        let skip = |e: Skip, node| SkipEvent {
            job_id: e.job.into(),
            runs: Skipped {
                first: e.first,
                last: e.last,
                count: e.count,
                more: e.more,
            },
            at: e.at,
            node,
        };
        Some(match self {
            Self::Added(e) => Event::JobAdded(job(e, node)),
            Self::Modified(e) => Event::JobModified(job(e, node)),
            Self::Removed(e) => Event::JobRemoved(job(e, node)),
            Self::Submitted(e) => Event::JobSubmitted(run(e, node, RunStatus::Running)),
            Self::Executed(e) => Event::JobExecuted(run(e, node, RunStatus::Success)),
            Self::Error(e) => Event::JobError(run(e, node, RunStatus::Error)),
            Self::Missed(e) => Event::JobMissed(skip(e, node)),
            Self::Coalesced(e) => Event::JobCoalesced(skip(e, node)),
            Self::MaxInstances(e) => Event::JobMaxInstances(skip(e, node)),
            Self::Abandoned(e) => Event::JobAbandoned(AbandonedEvent {
                job_id: e.job.into(),
                run_id: RunId(e.run),
                scheduled: e.scheduled,
                node: e.node,
                recovered: e.recovered,
                reported_by: node,
            }),
            Self::LeaseLost(e) => Event::JobLeaseLost(LeaseLostEvent {
                job_id: e.job.into(),
                run_id: RunId(e.run),
                scheduled: e.scheduled,
                node,
                reason: e.reason,
                at: e.at,
            }),
            Self::Unknown => return None,
        })
    }

    /// Its text fields, in the order they are cut when the event is too long: the
    /// free text first, then the ids.
    fn texts(&mut self) -> Vec<&mut String> {
        match self {
            Self::Added(e) | Self::Modified(e) | Self::Removed(e) => vec![&mut e.job],
            Self::Submitted(e) | Self::Executed(e) | Self::Error(e) => {
                let mut texts: Vec<&mut String> = e.error.iter_mut().collect();
                texts.push(&mut e.job);
                texts
            }
            Self::Missed(e) | Self::Coalesced(e) | Self::MaxInstances(e) => vec![&mut e.job],
            Self::Abandoned(e) => vec![&mut e.job, &mut e.node],
            Self::LeaseLost(e) => vec![&mut e.reason, &mut e.job],
            Self::Unknown => Vec::new(),
        }
    }
}

/// The most bytes one event may take in a payload of `max` bytes from `node` and
/// `inst`: what the header and the closing brackets leave.
pub(super) fn budget(node: &str, inst: &str, max: usize) -> usize {
    max.saturating_sub(header(node, inst, u64::MAX).len() + "]}".len())
}

/// The smallest budget that holds any event with its texts cut: the fixed fields
/// (kind, three instants, numbers) and four markers.
pub(super) const MIN_BUDGET: usize = 512;

/// `event` as one ASCII JSON object of at most `budget` bytes (at least
/// [`MIN_BUDGET`]); `None` for a kind that is not relayed.
pub(super) fn encode(event: &Event, budget: usize) -> Option<String> {
    let mut wire = WireEvent::from_event(event)?;
    let text = to_ascii_json(&wire);
    if text.len() <= budget {
        return Some(text);
    }
    let fields = wire.texts().len();
    for field in 0..fields {
        let original = std::mem::take(&mut *wire.texts()[field]);
        // The longest prefix (in characters) that fits with the marker.
        let ends: Vec<usize> = original
            .char_indices()
            .map(|(i, _)| i)
            .chain([original.len()])
            .collect();
        let cut = |keep: usize| {
            format!(
                "{}[... truncated from {} bytes]",
                &original[..ends[keep]],
                original.len()
            )
        };
        let (mut fits, mut too_long) = (0, ends.len());
        while fits + 1 < too_long {
            let mid = (fits + too_long) / 2;
            *wire.texts()[field] = cut(mid);
            if to_ascii_json(&wire).len() <= budget {
                fits = mid;
            } else {
                too_long = mid;
            }
        }
        *wire.texts()[field] = cut(fits);
        let text = to_ascii_json(&wire);
        if text.len() <= budget {
            return Some(text);
        }
    }
    // Every text is down to its marker, which MIN_BUDGET holds.
    Some(to_ascii_json(&wire))
}

/// Packs encoded events (each within [`budget`]) into payloads of at most `max` bytes,
/// numbering them from `*seq` on (advanced past the last).
pub(super) fn pack(
    events: &[String],
    node: &str,
    inst: &str,
    seq: &mut u64,
    max: usize,
) -> Vec<String> {
    let mut payloads = Vec::new();
    let mut next = 0;
    while next < events.len() {
        let mut payload = header(node, inst, *seq);
        let first = next;
        while let Some(event) = events.get(next) {
            let comma = usize::from(next > first);
            if next > first && payload.len() + comma + event.len() + 2 > max {
                break;
            }
            if comma == 1 {
                payload.push(',');
            }
            payload.push_str(event);
            next += 1;
        }
        payload.push_str("]}");
        *seq += (next - first) as u64;
        payloads.push(payload);
    }
    payloads
}

/// Reads a payload (`None`: another version of the format).
pub(super) fn decode(payload: &str) -> Result<Option<Batch>, serde_json::Error> {
    #[derive(Deserialize)]
    struct Version {
        v: u32,
    }
    if serde_json::from_str::<Version>(payload)?.v != VERSION {
        return Ok(None);
    }
    serde_json::from_str(payload).map(Some)
}

fn header(node: &str, inst: &str, seq: u64) -> String {
    format!(
        "{{\"v\":{VERSION},\"node\":{},\"inst\":{},\"seq\":{seq},\"events\":[",
        to_ascii_json(node),
        to_ascii_json(inst)
    )
}

/// JSON with every non-ASCII character escaped (`\uXXXX`, surrogate pairs beyond the
/// BMP): serde_json writes them raw, and only inside strings, where the escape means
/// the same.
fn to_ascii_json(value: &(impl Serialize + ?Sized)) -> String {
    let json = serde_json::to_string(value).expect("events serialise: strings, numbers, instants");
    if json.is_ascii() {
        return json;
    }
    let mut ascii = String::with_capacity(json.len() + 16);
    let mut units = [0u16; 2];
    for c in json.chars() {
        if c.is_ascii() {
            ascii.push(c);
        } else {
            for unit in c.encode_utf16(&mut units) {
                ascii.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    ascii
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn executed(error: Option<String>) -> Event {
        let at: DateTime<Utc> = "2026-03-01T12:00:00.123456789Z".parse().expect("instant");
        Event::JobError(RunEvent {
            job_id: "report".into(),
            run_id: RunId(42),
            scheduled: at,
            started: at,
            duration: Some(Duration::from_millis(1500)),
            error,
            attempt: 3,
            status: RunStatus::TimedOut,
            result: None,
            node: "node-a".into(),
        })
    }

    #[test]
    fn an_event_round_trips_with_its_node_from_the_batch() {
        let event = executed(Some("boom: äöü 🚀".into()));
        let text = encode(&event, 7000).expect("relayed kind");
        assert!(text.is_ascii(), "{text}");
        let mut seq = 5;
        let payloads = pack(&[text], "node-a", "i1", &mut seq, 7999);
        assert_eq!(seq, 6);
        let batch = decode(&payloads[0]).expect("valid").expect("this version");
        assert_eq!(
            (batch.node.as_str(), batch.inst.as_str(), batch.seq),
            ("node-a", "i1", 5)
        );
        let back: Vec<Event> = batch
            .events
            .into_iter()
            .filter_map(|e| e.into_event("node-a"))
            .collect();
        assert_eq!(back, [event]);
    }

    #[test]
    fn a_huge_error_is_cut_to_fit_and_says_so() {
        let huge = "é".repeat(20_000); // 40,000 bytes, 120,000 escaped
        let event = executed(Some(huge));
        let budget = budget("node-a", "i1", 7999);
        let text = encode(&event, budget).expect("relayed kind");
        assert!(
            text.len() <= budget && text.len() > budget - 16,
            "{}",
            text.len()
        );
        let payloads = pack(&[text], "node-a", "i1", &mut 0, 7999);
        assert!(payloads[0].len() <= 7999);
        let batch = decode(&payloads[0]).expect("valid").expect("this version");
        let Some(Event::JobError(run)) = batch.events[0].clone().into_event("node-a") else {
            panic!("an error event");
        };
        let error = run.error.expect("kept");
        assert!(error.starts_with("ééé"));
        assert!(
            error.ends_with("[... truncated from 40000 bytes]"),
            "{error}"
        );
        assert_eq!(
            run.job_id.as_str(),
            "report",
            "the id is cut only if the text is not enough"
        );
    }

    #[test]
    fn a_huge_job_id_is_cut_too() {
        let mut event = executed(None);
        if let Event::JobError(run) = &mut event {
            run.job_id = "j".repeat(50_000).into();
        }
        let text = encode(&event, MIN_BUDGET).expect("relayed kind");
        assert!(text.len() <= MIN_BUDGET, "{}", text.len());
        assert!(text.contains("[... truncated from 50000 bytes]"));
    }

    #[test]
    fn events_are_packed_into_numbered_payloads_within_the_limit() {
        let events: Vec<String> = (0..500)
            .map(|i| encode(&executed(Some(format!("e{i}"))), 7000).expect("relayed"))
            .collect();
        let mut seq = 100;
        let payloads = pack(&events, "node-a", "i1", &mut seq, 7999);
        assert_eq!(seq, 600);
        assert!(
            payloads.len() > 1 && payloads.len() < 50,
            "{}",
            payloads.len()
        );
        let mut expected = 100;
        for payload in &payloads {
            assert!(payload.len() <= 7999);
            let batch = decode(payload).expect("valid").expect("this version");
            assert_eq!(batch.seq, expected);
            expected += batch.events.len() as u64;
        }
        assert_eq!(expected, 600);
    }

    #[test]
    fn unknown_kinds_and_other_versions_are_skipped() {
        let payload =
            r#"{"v":1,"node":"n","inst":"i","seq":0,"events":[{"k":"from_the_future","x":1}]}"#;
        let batch = decode(payload).expect("valid").expect("this version");
        assert_eq!(batch.events, [WireEvent::Unknown]);
        let newer = r#"{"v":2,"from":"n","events":{}}"#;
        assert!(decode(newer).expect("valid").is_none());
    }
}

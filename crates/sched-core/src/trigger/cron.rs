//! Cron triggers: croner parses, this module owns the DST rules (see [`super::wall`]).

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock, Weak};

use chrono::{DateTime, LocalResult, NaiveDateTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use croner::parser::{CronParser, Seconds, Year};
use croner::Cron;
use serde::{Deserialize, Serialize};

use super::wall::{resolve_after, search_start, DstRule};
use crate::error::{Error, Result};

/// Upper bound on wall-clock candidates examined for one answer. Candidates that map to
/// no instant only occur inside a DST gap or repeat (at most a day, once, in Samoa 2011),
/// so this is never reached by a pattern that can fire; it guarantees termination.
const MAX_CANDIDATES: usize = 200_000;

/// A cron schedule: a crontab expression, or APScheduler-style fields (see [`CronFields`]).
///
/// Cloning is cheap: parsed patterns are shared between every trigger with the same
/// expression (a parsed pattern is several kilobytes, a clone is one `Arc`).
#[derive(Clone, Serialize, Deserialize)]
#[serde(try_from = "CronSpec", into = "CronSpec")]
pub struct CronTrigger {
    spec: CronSpec,
    compiled: Arc<Compiled>,
}

/// The persisted form: the expression, and whether day-of-month and day-of-week are ANDed.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
struct CronSpec {
    expression: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    and_days: bool,
}

struct Compiled {
    cron: Cron,
    rule: DstRule,
    /// The pattern matches no date at all (`0 0 30 2 *`): answer `None` at once.
    never: bool,
}

impl CronTrigger {
    /// Parses a crontab expression: 5 fields (`minute hour day month weekday`), or 6
    /// with leading seconds; names (`mon`, `jan`), lists, ranges, steps, `@daily`-style
    /// aliases, and croner's `L`, `W` and `#`. When day-of-month and day-of-week are
    /// both restricted a day matches if either does (POSIX).
    ///
    /// ```
    /// use sched_core::trigger::CronTrigger;
    /// assert!(CronTrigger::parse("30 2 * * mon-fri").is_ok());
    /// let err = CronTrigger::parse("61 * * * *").unwrap_err();
    /// assert!(err.to_string().starts_with("invalid cron expression \"61 * * * *\""));
    /// ```
    pub fn parse(expression: &str) -> Result<Self> {
        let fields = expression.split_whitespace().count();
        if !expression.trim_start().starts_with('@') && !(5..=6).contains(&fields) {
            return Err(Error::InvalidCron {
                expr: expression.to_owned(),
                reason: format!(
                    "expected 5 fields (minute hour day month weekday) or 6 with leading seconds, found {fields}"
                ),
            });
        }
        Self::from_spec(CronSpec {
            expression: expression.trim().to_owned(),
            and_days: false,
        })
    }

    /// The expression this trigger was built from (for fields, the generated one).
    pub fn expression(&self) -> &str {
        &self.spec.expression
    }

    /// Whether this is a fixed-time entry (neither minute nor hour starts with `*`),
    /// which fires once per day across DST transitions; otherwise a wildcard entry.
    pub fn is_fixed_time(&self) -> bool {
        self.compiled.rule == DstRule::Fixed
    }

    fn from_spec(spec: CronSpec) -> Result<Self> {
        static CACHE: OnceLock<Mutex<HashMap<CronSpec, Weak<Compiled>>>> = OnceLock::new();
        let cache = CACHE.get_or_init(Default::default);
        if let Some(compiled) = lock(cache).get(&spec).and_then(Weak::upgrade) {
            return Ok(Self { spec, compiled });
        }
        let compiled = Arc::new(Compiled::new(&spec)?);
        let mut cache = lock(cache);
        if cache.len() >= 1024 && cache.len().is_power_of_two() {
            cache.retain(|_, weak| weak.strong_count() > 0);
        }
        cache.insert(spec.clone(), Arc::downgrade(&compiled));
        Ok(Self { spec, compiled })
    }

    /// The first fire time strictly after `after`, in zone `tz`.
    pub(crate) fn next_after(&self, tz: Tz, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if self.compiled.never {
            return None;
        }
        let (wall, fold_start) = search_start(tz, after);
        let wall = wall.with_nanosecond(0).expect("0 is a valid nanosecond");
        let ahead = self.walk(tz, wall, after);
        let in_fold = match fold_start {
            Some(start) if self.compiled.rule == DstRule::Wildcard => {
                self.second_fold(tz, start, wall, after)
            }
            _ => None,
        };
        match (ahead, in_fold) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Walks wall-clock candidates after `from` until one denotes an instant after `after`.
    fn walk(&self, tz: Tz, from: NaiveDateTime, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let mut cursor = from;
        for _ in 0..MAX_CANDIDATES {
            let candidate = self.compiled.cron.find_next_occurrence(&cursor, false).ok()?;
            if let Some(at) = resolve_after(tz, candidate, self.compiled.rule, after) {
                return Some(at);
            }
            cursor = candidate;
        }
        None
    }

    /// When `after` lies in the first occurrence of a repeated hour: the earliest match
    /// in the second occurrence among wall times from `start` up to `until`.
    fn second_fold(
        &self,
        tz: Tz,
        start: NaiveDateTime,
        until: NaiveDateTime,
        after: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        let mut cursor = start;
        let mut inclusive = true;
        for _ in 0..MAX_CANDIDATES {
            let candidate = self.compiled.cron.find_next_occurrence(&cursor, inclusive).ok()?;
            if candidate > until {
                return None;
            }
            if let LocalResult::Ambiguous(_, second) = tz.from_local_datetime(&candidate) {
                let second = second.with_timezone(&Utc);
                if second > after {
                    return Some(second);
                }
            }
            cursor = candidate;
            inclusive = false;
        }
        None
    }
}

impl Compiled {
    fn new(spec: &CronSpec) -> Result<Self> {
        let invalid = |reason: String| Error::InvalidCron {
            expr: spec.expression.clone(),
            reason,
        };
        let parser = CronParser::builder()
            .seconds(Seconds::Optional)
            .year(Year::Optional)
            .dom_and_dow(spec.and_days)
            .build();
        let cron = parser
            .parse(&spec.expression)
            .map_err(|e| invalid(e.to_string().trim_end_matches('.').to_lowercase()))?;
        let rule = classify(&spec.expression);
        // A pattern that matches some date matches one within 28 years of any date
        // (the calendar repeats) unless a year field restricts it; probe once, here,
        // so `next_after` never walks to croner's year-5000 limit per call.
        let epoch = DateTime::<Utc>::UNIX_EPOCH.naive_utc();
        let never = cron.find_next_occurrence(&epoch, true).is_err();
        Ok(Self { cron, rule, never })
    }
}

/// Fixed-time unless the minute or the hour field starts with `*` (or `?`), as in
/// Vixie cron. `@hourly` is a wildcard entry; the other aliases are fixed-time.
fn classify(expression: &str) -> DstRule {
    let expression = expression.trim();
    if let Some(alias) = expression.strip_prefix('@') {
        return if alias.eq_ignore_ascii_case("hourly") {
            DstRule::Wildcard
        } else {
            DstRule::Fixed
        };
    }
    let fields: Vec<&str> = expression.split_whitespace().collect();
    let skip = usize::from(fields.len() >= 6);
    let wild = |f: Option<&&str>| f.is_some_and(|f| f.starts_with('*') || f.starts_with('?'));
    if wild(fields.get(skip)) || wild(fields.get(skip + 1)) {
        DstRule::Wildcard
    } else {
        DstRule::Fixed
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The cache holds no invariant a panicking holder could break.
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl TryFrom<CronSpec> for CronTrigger {
    type Error = Error;
    fn try_from(spec: CronSpec) -> Result<Self> {
        Self::from_spec(spec)
    }
}

impl From<CronTrigger> for CronSpec {
    fn from(trigger: CronTrigger) -> Self {
        trigger.spec
    }
}

impl fmt::Debug for CronTrigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CronTrigger")
            .field("expression", &self.spec.expression)
            .field("and_days", &self.spec.and_days)
            .field("fixed_time", &self.is_fixed_time())
            .finish()
    }
}

impl PartialEq for CronTrigger {
    fn eq(&self, other: &Self) -> bool {
        self.spec == other.spec
    }
}

impl Eq for CronTrigger {}

/// APScheduler-style cron fields: `CronFields::new().hour("8").day_of_week("mon-fri")`.
///
/// Fields are ANDed (a day must match both `day` and `day_of_week`). Fields less
/// significant than the least significant one given default to their minimum, more
/// significant ones to `*`, as in APScheduler: `hour("8")` alone means 08:00:00 daily.
/// `day_of_week` takes names or APScheduler's numbers (`0` = Monday ... `6` = Sunday).
///
/// ```
/// use sched_core::trigger::CronFields;
/// let trigger = CronFields::new().day_of_week("mon-fri").hour("17").minute("30").build()?;
/// assert_eq!(trigger.expression(), "0 30 17 * * MON-FRI *");
/// # Ok::<(), sched_core::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CronFields {
    year: Option<String>,
    month: Option<String>,
    day: Option<String>,
    day_of_week: Option<String>,
    hour: Option<String>,
    minute: Option<String>,
    second: Option<String>,
}

macro_rules! field_setters {
    ($($name:ident: $doc:literal),* $(,)?) => {$(
        #[doc = $doc]
        #[must_use]
        pub fn $name(mut self, value: impl Into<String>) -> Self {
            self.$name = Some(value.into());
            self
        }
    )*};
}

impl CronFields {
    /// No field given yet (`build` would fire every second... of nothing: give one).
    pub fn new() -> Self {
        Self::default()
    }

    field_setters! {
        year: "Four-digit year (`2027`, `2027-2030`).",
        month: "Month 1-12 or `jan`-`dec`.",
        day: "Day of month 1-31, `L` for the last.",
        day_of_week: "Day of week: `mon`-`sun` or 0-6 with 0 = Monday (APScheduler's numbering).",
        hour: "Hour 0-23.",
        minute: "Minute 0-59.",
        second: "Second 0-59.",
    }

    /// Builds the trigger, applying APScheduler's defaults to the fields not given.
    pub fn build(&self) -> Result<CronTrigger> {
        // Most significant first, with APScheduler's default for fields after the last given.
        let fields: [(&'static str, &Option<String>, &str); 7] = [
            ("year", &self.year, "*"),
            ("month", &self.month, "1"),
            ("day", &self.day, "1"),
            ("day_of_week", &self.day_of_week, "*"),
            ("hour", &self.hour, "0"),
            ("minute", &self.minute, "0"),
            ("second", &self.second, "0"),
        ];
        let last_given = fields.iter().rposition(|(_, value, _)| value.is_some());
        let mut values = Vec::with_capacity(7);
        for (index, (name, value, default)) in fields.iter().enumerate() {
            let value = match value {
                Some(v) => normalise_field(name, v)?,
                None if last_given.is_some_and(|last| index > last) => (*default).to_owned(),
                None => "*".to_owned(),
            };
            values.push(value);
        }
        let [year, month, day, dow, hour, minute, second] =
            <[String; 7]>::try_from(values).expect("seven fields");
        CronTrigger::from_spec(CronSpec {
            expression: format!("{second} {minute} {hour} {day} {month} {dow} {year}"),
            and_days: true,
        })
        .map_err(|e| match e {
            Error::InvalidCron { reason, .. } => Error::InvalidCronField {
                field: "fields",
                value: format!("{self:?}"),
                reason,
            },
            other => other,
        })
    }
}

fn normalise_field(name: &'static str, value: &str) -> Result<String> {
    let compact: String = value.chars().filter(|c| !c.is_whitespace()).collect();
    if compact.is_empty() {
        return Err(Error::InvalidCronField {
            field: name,
            value: value.to_owned(),
            reason: "empty value".to_owned(),
        });
    }
    if name != "day_of_week" {
        return Ok(compact);
    }
    // APScheduler numbers weekdays from Monday = 0; croner from Sunday = 0. Spell
    // numbers as names (except after `/` or `#`, where they are counts).
    const NAMES: [&str; 7] = ["MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"];
    let mut out = String::with_capacity(compact.len() + 8);
    let mut previous = ' ';
    let mut chars = compact.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() && previous != '/' && previous != '#' {
            let mut number = c.to_string();
            while let Some(d) = chars.next_if(char::is_ascii_digit) {
                number.push(d);
            }
            match number.parse::<usize>().ok().and_then(|n| NAMES.get(n)) {
                Some(day) => out.push_str(day),
                None => {
                    return Err(Error::InvalidCronField {
                        field: name,
                        value: value.to_owned(),
                        reason: format!("weekday {number} out of range 0-6 (0 = Monday)"),
                    })
                }
            }
            previous = '0';
        } else {
            out.push(c.to_ascii_uppercase());
            previous = c;
        }
    }
    Ok(out)
}

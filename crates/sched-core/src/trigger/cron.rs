//! Cron triggers: croner parses, this module owns the DST rules (see [`super::wall`]).

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, OnceLock, Weak};

use chrono::{DateTime, LocalResult, NaiveDate, NaiveDateTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use croner::parser::{CronParser, Seconds, Year};
use croner::{Cron, YEAR_LOWER_LIMIT, YEAR_UPPER_LIMIT};
use serde::{Deserialize, Serialize};

use super::wall::{in_range, resolve_after, search_start, DstRule};
use crate::error::{Error, Result};
use crate::support::Mutex;

/// Upper bound on wall-clock candidates examined for one answer. Candidates that map to
/// no instant only occur inside a DST gap or repeat (at most a day, once, in Samoa 2011),
/// so this is never reached by a pattern that can fire; it guarantees termination.
const MAX_CANDIDATES: usize = 200_000;

/// The aliases croner expands (`@midnight`, `@reboot` and the like it does not know).
const ALIASES: [&str; 6] = [
    "@yearly",
    "@annually",
    "@monthly",
    "@weekly",
    "@daily",
    "@hourly",
];

/// Crontab fields with their ranges, seconds first (a 5-field expression has none).
const CRONTAB_FIELDS: [(&str, (u64, u64)); 6] = [
    ("second", (0, 59)),
    ("minute", (0, 59)),
    ("hour", (0, 23)),
    ("day of month", (1, 31)),
    ("month", (1, 12)),
    ("day of week", (0, 7)),
];

/// A cron schedule: a crontab expression, or APScheduler-style fields (see [`CronFields`]).
///
/// Cloning is cheap: parsed patterns are shared between every trigger with the same
/// expression (a parsed pattern is several kilobytes, a clone is one `Arc`).
#[derive(Clone, Serialize, Deserialize)]
#[serde(try_from = "CronSpec", into = "CronSpec")]
pub struct CronTrigger {
    // One pointer: a trigger is part of every stored job value.
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
    spec: CronSpec,
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
    ///
    /// # Errors
    ///
    /// [`Error::InvalidCron`] naming the expression and what is wrong with it.
    ///
    /// ```
    /// use sched_core::trigger::CronTrigger;
    /// assert!(CronTrigger::parse("30 2 * * mon-fri").is_ok());
    /// let err = CronTrigger::parse("61 * * * *").unwrap_err();
    /// assert!(err.to_string().starts_with("invalid cron expression \"61 * * * *\""));
    /// ```
    pub fn parse(expression: &str) -> Result<Self> {
        let invalid = |reason: String| Error::InvalidCron {
            expr: expression.to_owned(),
            reason,
        };
        let trimmed = expression.trim();
        if trimmed.starts_with('@') {
            if !ALIASES
                .iter()
                .any(|alias| alias.eq_ignore_ascii_case(trimmed))
            {
                return Err(invalid(format!(
                    "unknown alias, expected one of {}",
                    ALIASES.join(", ")
                )));
            }
        } else {
            let fields: Vec<&str> = trimmed.split_whitespace().collect();
            if !(5..=6).contains(&fields.len()) {
                return Err(invalid(format!(
                    "expected 5 fields (minute hour day month weekday) or 6 with leading seconds, found {}",
                    fields.len()
                )));
            }
            let ranges = &CRONTAB_FIELDS[6 - fields.len()..];
            for (field, (name, range)) in fields.iter().zip(ranges) {
                check_range(name, field, *range).map_err(invalid)?;
            }
        }
        Self::from_spec(CronSpec {
            expression: trimmed.to_owned(),
            and_days: false,
        })
    }

    /// The expression this trigger was built from (for fields, the generated one).
    pub fn expression(&self) -> &str {
        &self.compiled.spec.expression
    }

    /// Whether this is a fixed-time entry (neither minute nor hour starts with `*`),
    /// which fires once per day across DST transitions; otherwise a wildcard entry.
    pub fn is_fixed_time(&self) -> bool {
        self.compiled.rule == DstRule::Fixed
    }

    fn from_spec(spec: CronSpec) -> Result<Self> {
        static CACHE: OnceLock<Mutex<HashMap<CronSpec, Weak<Compiled>>>> = OnceLock::new();
        let cache = CACHE.get_or_init(Default::default);
        if let Some(compiled) = cache.lock().get(&spec).and_then(Weak::upgrade) {
            return Ok(Self { compiled });
        }
        let compiled = Arc::new(Compiled::new(spec.clone())?);
        let mut cache = cache.lock();
        if cache.len() >= 1024 && cache.len().is_power_of_two() {
            cache.retain(|_, weak| weak.strong_count() > 0);
        }
        cache.insert(spec, Arc::downgrade(&compiled));
        Ok(Self { compiled })
    }

    /// The first fire time strictly after `after`, in zone `tz` (`Err`: the search
    /// gave up, see [`MAX_CANDIDATES`]).
    pub(crate) fn next_checked(&self, tz: Tz, after: DateTime<Utc>) -> super::Searched {
        if self.compiled.never {
            return Ok(None);
        }
        // croner searches the years 1 to 5000, and chrono has no wall time near its limits.
        let Some(after) = in_range(after) else {
            return Ok(None);
        };
        let after = after.max(first_year_start(YEAR_LOWER_LIMIT).and_utc());
        let (wall, fold_start) = search_start(tz, after);
        let wall = wall.with_nanosecond(0).expect("0 is a valid nanosecond");
        let ahead = self.walk(tz, wall, after)?;
        let in_fold = match fold_start {
            Some(start) if self.compiled.rule == DstRule::Wildcard => {
                self.second_fold(tz, start, wall, after)?
            }
            _ => None,
        };
        Ok(match (ahead, in_fold) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        })
    }

    /// Walks wall-clock candidates after `from` until one denotes an instant after `after`.
    fn walk(&self, tz: Tz, from: NaiveDateTime, after: DateTime<Utc>) -> super::Searched {
        let mut cursor = from;
        for _ in 0..MAX_CANDIDATES {
            // croner finds nothing before its last year: done.
            let Ok(candidate) = self.compiled.cron.find_next_occurrence(&cursor, false) else {
                return Ok(None);
            };
            if let Some(at) = resolve_after(tz, candidate, self.compiled.rule, after) {
                return Ok(Some(at));
            }
            cursor = candidate;
        }
        Err(super::SearchLimit)
    }

    /// When `after` lies in the first occurrence of a repeated hour: the earliest match
    /// in the second occurrence among wall times from `start` up to `until`.
    fn second_fold(
        &self,
        tz: Tz,
        start: NaiveDateTime,
        until: NaiveDateTime,
        after: DateTime<Utc>,
    ) -> super::Searched {
        let mut cursor = start;
        let mut inclusive = true;
        for _ in 0..MAX_CANDIDATES {
            let Ok(candidate) = self.compiled.cron.find_next_occurrence(&cursor, inclusive) else {
                return Ok(None);
            };
            if candidate > until {
                return Ok(None);
            }
            if let LocalResult::Ambiguous(_, second) = tz.from_local_datetime(&candidate) {
                let second = second.with_timezone(&Utc);
                if second > after {
                    return Ok(Some(second));
                }
            }
            cursor = candidate;
            inclusive = false;
        }
        Err(super::SearchLimit)
    }
}

impl Compiled {
    fn new(spec: CronSpec) -> Result<Self> {
        let invalid = |reason: String| Error::InvalidCron {
            expr: spec.expression.clone(),
            reason,
        };
        let cron = parser(spec.and_days)
            .parse(&numeric_days_of_week(&spec.expression))
            .map_err(|e| invalid(croner_reason(&e)))?;
        let rule = classify(&spec.expression);
        // A pattern that matches some date matches one in every 400 years (the period
        // of the Gregorian calendar) unless a year field restricts it. Probe once, here,
        // over the last 500 years croner searches (or from year 1 for a year field), so
        // `next_after` never walks to croner's year-5000 limit on each call.
        let probe_year = if restricts_year(&spec.expression) {
            YEAR_LOWER_LIMIT
        } else {
            YEAR_UPPER_LIMIT - 500
        };
        let never = cron
            .find_next_occurrence(&first_year_start(probe_year), true)
            .is_err();
        Ok(Self {
            spec,
            cron,
            rule,
            never,
        })
    }
}

/// `expression` with its day-of-week field in numbers (`0`-`7`, Sunday both), the way
/// croner is given it: croner reads a range ending at `sun` as ending at 7, so that
/// `mon-sun` is every day — but then `sun-sun` is every day too. A range whose two ends
/// are both Sunday, named at least at one end (`sun-sun`, `sun-7`), is Sunday alone, as
/// `0-0` and `7-7` are; `0-7` keeps meaning every day.
fn numeric_days_of_week(expression: &str) -> String {
    let fields: Vec<&str> = expression.split_whitespace().collect();
    let position = match fields.len() {
        5 => 4,
        6 | 7 => 5,
        _ => return expression.to_owned(), // an alias, or what croner will refuse
    };
    let mut fields: Vec<String> = fields.into_iter().map(str::to_owned).collect();
    fields[position] = fields[position]
        .split(',')
        .map(|item| match item.split_once('/') {
            Some((days, step)) => format!("{}/{step}", numeric_days(days)),
            None => numeric_days(item),
        })
        .collect::<Vec<_>>()
        .join(",");
    fields.join(" ")
}

/// One item of a day-of-week field (no step) in numbers.
fn numeric_days(days: &str) -> String {
    if let Some((day, nth)) = days.split_once('#') {
        return format!("{}#{nth}", day_number(day, false));
    }
    if let Some(day) = days.strip_suffix(['L', 'l']).filter(|day| !day.is_empty()) {
        return format!("{}L", day_number(day, false));
    }
    let Some((first, last)) = days.split_once('-') else {
        return day_number(days, false);
    };
    let (from, to) = (day_number(first, false), day_number(last, true));
    let sunday = |n: &str| n == "0" || n == "7";
    let named = day_index(first).is_some() || day_index(last).is_some();
    if named && sunday(&from) && sunday(&to) {
        return "0-0".to_owned();
    }
    format!("{from}-{to}")
}

/// A day name's number (Sunday 0, or 7 at the end of a range); anything else as given.
fn day_number(day: &str, range_end: bool) -> String {
    match day_index(day) {
        Some(0) if range_end => "7".to_owned(),
        Some(n) => n.to_string(),
        None => day.to_owned(),
    }
}

fn day_index(day: &str) -> Option<usize> {
    const DAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
    DAYS.iter().position(|name| name.eq_ignore_ascii_case(day))
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

fn parser(and_days: bool) -> CronParser {
    CronParser::builder()
        .seconds(Seconds::Optional)
        .year(Year::Optional)
        .dom_and_dow(and_days)
        .build()
}

/// croner's message in our style: lower-case, no trailing period.
fn croner_reason(error: &croner::errors::CronError) -> String {
    error.to_string().trim_end_matches('.').to_lowercase()
}

/// Whether a seventh field restricts the year (`CronFields::year`).
fn restricts_year(expression: &str) -> bool {
    let fields: Vec<&str> = expression.split_whitespace().collect();
    fields.len() == 7 && !matches!(fields[6], "*" | "?")
}

/// Midnight on the first of January of `year` (a year within croner's limits).
fn first_year_start(year: i32) -> NaiveDateTime {
    NaiveDate::from_ymd_opt(year, 1, 1)
        .expect("croner's year limits are valid chrono years")
        .and_time(chrono::NaiveTime::MIN)
}

/// Checks the numbers of one field against its range, so that the error names the
/// field (croner only says "number out of bounds"). Anything else is croner's to judge.
fn check_range(name: &str, field: &str, (lo, hi): (u64, u64)) -> std::result::Result<(), String> {
    for item in field.split(',') {
        // A step (`*/5`) and an nth weekday (`fri#2`) are counts, not values.
        let item = item.split_once('/').map_or(item, |(values, _)| values);
        let item = item.split_once('#').map_or(item, |(values, _)| values);
        for value in item.split('-') {
            let digits: String = value.chars().take_while(char::is_ascii_digit).collect();
            if let Ok(number) = digits.parse::<u64>() {
                if !(lo..=hi).contains(&number) {
                    return Err(format!("{name} {number} out of range {lo}-{hi}"));
                }
            }
        }
    }
    Ok(())
}

impl TryFrom<CronSpec> for CronTrigger {
    type Error = Error;
    fn try_from(spec: CronSpec) -> Result<Self> {
        Self::from_spec(spec)
    }
}

impl From<CronTrigger> for CronSpec {
    fn from(trigger: CronTrigger) -> Self {
        trigger.compiled.spec.clone()
    }
}

impl fmt::Debug for CronTrigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CronTrigger")
            .field("expression", &self.compiled.spec.expression)
            .field("and_days", &self.compiled.spec.and_days)
            .field("fixed_time", &self.is_fixed_time())
            .finish()
    }
}

impl PartialEq for CronTrigger {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.compiled, &other.compiled) || self.compiled.spec == other.compiled.spec
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

/// A value for a [`CronFields`] field: a string as APScheduler takes it (`"8"`,
/// `"mon-fri"`, `"*/15"`, `"last fri"`), or a number (`8`).
pub trait CronValue {
    /// The value as the field's text.
    fn into_cron_value(self) -> String;
}

impl CronValue for &str {
    fn into_cron_value(self) -> String {
        self.to_owned()
    }
}

impl CronValue for String {
    fn into_cron_value(self) -> String {
        self
    }
}

impl CronValue for &String {
    fn into_cron_value(self) -> String {
        self.clone()
    }
}

macro_rules! cron_numbers {
    ($($ty:ty),*) => {$(
        impl CronValue for $ty {
            fn into_cron_value(self) -> String {
                self.to_string()
            }
        }
    )*};
}

cron_numbers!(u8, u16, u32, u64, usize, i8, i16, i32, i64, isize);

macro_rules! field_setters {
    ($($name:ident: $doc:literal),* $(,)?) => {$(
        #[doc = $doc]
        #[must_use]
        pub fn $name(mut self, value: impl CronValue) -> Self {
            self.$name = Some(value.into_cron_value());
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
        year: "Four-digit year (`2027`, `2027-2030`), 1 to 4999 (the years croner searches).",
        month: "Month 1-12 or `jan`-`dec`.",
        day: "Day of month 1-31 (lists, ranges, steps), `last` (or `L`) for the last; or, as in APScheduler, a weekday of the month: `last fri`, `1st mon` ... `5th sun` (not together with `day_of_week`).",
        day_of_week: "Day of week: `mon`-`sun` or 0-6 with 0 = Monday (APScheduler's numbering).",
        hour: "Hour 0-23.",
        minute: "Minute 0-59.",
        second: "Second 0-59.",
    }

    /// Builds the trigger, applying APScheduler's defaults to the fields not given.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidCronField`] naming the field, its value and the reason.
    pub fn build(&self) -> Result<CronTrigger> {
        let fields = self.fields();
        let last_given = fields.iter().rposition(Option::is_some);
        let mut values = Vec::with_capacity(7);
        for (index, ((name, (_, default)), value)) in BUILDER_FIELDS.iter().zip(fields).enumerate()
        {
            values.push(match value {
                Some(v) => normalise_field(name, v)?,
                None if last_given.is_some_and(|last| index > last) => (*default).to_owned(),
                None => "*".to_owned(),
            });
        }
        let [year, month, mut day, mut dow, hour, minute, second] =
            <[String; 7]>::try_from(values).expect("seven fields");
        // `last fri`, `2nd mon`: a weekday of the month, which croner writes in the
        // day-of-week field.
        if let Some(weekdays) = self
            .day
            .as_deref()
            .map(weekday_of_month)
            .transpose()?
            .flatten()
        {
            if self.day_of_week.is_some() {
                return Err(Error::InvalidCronField {
                    field: "day",
                    value: self.day.clone().unwrap_or_default(),
                    reason: "a weekday of the month cannot be combined with day_of_week".into(),
                });
            }
            (day, dow) = ("*".to_owned(), weekdays);
        }
        let expression = format!("{second} {minute} {hour} {day} {month} {dow} {year}");
        CronTrigger::from_spec(CronSpec {
            expression,
            and_days: true,
        })
        .map_err(|e| self.blame().unwrap_or(e))
    }

    /// The fields as given, most significant first (the order of [`BUILDER_FIELDS`]).
    fn fields(&self) -> [Option<&str>; 7] {
        [
            &self.year,
            &self.month,
            &self.day,
            &self.day_of_week,
            &self.hour,
            &self.minute,
            &self.second,
        ]
        .map(Option::as_deref)
    }

    /// The first given field that croner rejects on its own: an error that names it,
    /// rather than the generated seven-field expression the user never wrote.
    fn blame(&self) -> Option<Error> {
        let parser = parser(true);
        let fields = BUILDER_FIELDS.iter().zip(self.fields());
        fields
            .into_iter()
            .find_map(|((name, (position, _)), value)| {
                let value = value?;
                let mut alone = ["*"; 7];
                let normalised = normalise_field(name, value).ok()?;
                alone[*position] = &normalised;
                let reason = parser.parse(&alone.join(" ")).err()?;
                Some(Error::InvalidCronField {
                    field: name,
                    value: value.to_owned(),
                    reason: croner_reason(&reason),
                })
            })
    }
}

/// The builder's fields, most significant first: name, position in croner's
/// seven-field pattern, and APScheduler's default when a less significant one is given.
const BUILDER_FIELDS: [(&str, (usize, &str)); 7] = [
    ("year", (6, "*")),
    ("month", (4, "1")),
    ("day", (3, "1")),
    ("day_of_week", (5, "*")),
    ("hour", (2, "0")),
    ("minute", (1, "0")),
    ("second", (0, "0")),
];

/// APScheduler's weekday-of-the-month expressions in the `day` field, as croner's
/// day-of-week items: `last fri` → `5L`, `2nd mon` → `1#2` (a comma list of them).
/// `None`: plain days of the month. A list mixing both is refused.
fn weekday_of_month(value: &str) -> Result<Option<String>> {
    const ORDINALS: [&str; 5] = ["1st", "2nd", "3rd", "4th", "5th"];
    let invalid = |reason: String| Error::InvalidCronField {
        field: "day",
        value: value.to_owned(),
        reason,
    };
    let mut weekdays = Vec::new();
    let mut days = 0;
    for item in value.split(',') {
        let words: Vec<&str> = item.split_whitespace().collect();
        let [which, weekday] = words[..] else {
            days += 1;
            continue;
        };
        let Some(weekday) = day_index(weekday) else {
            return Err(invalid(format!(
                "{weekday:?} is not a weekday (mon, tue, wed, thu, fri, sat, sun)"
            )));
        };
        let which = which.to_ascii_lowercase();
        if which == "last" {
            weekdays.push(format!("{weekday}L"));
        } else if let Some(nth) = ORDINALS.iter().position(|o| *o == which) {
            weekdays.push(format!("{weekday}#{}", nth + 1));
        } else {
            return Err(invalid(format!(
                "{which:?} is not last, 1st, 2nd, 3rd, 4th or 5th"
            )));
        }
    }
    match (weekdays.is_empty(), days) {
        (true, _) => Ok(None),
        (false, 0) => Ok(Some(weekdays.join(","))),
        (false, _) => Err(invalid(
            "mixes days of the month with weekdays of the month (add one job for each)".into(),
        )),
    }
}

fn normalise_field(name: &'static str, value: &str) -> Result<String> {
    let compact: String = value.chars().filter(|c| !c.is_whitespace()).collect();
    let invalid = |reason: String| Error::InvalidCronField {
        field: name,
        value: value.to_owned(),
        reason,
    };
    if compact.is_empty() {
        return Err(invalid("empty value".to_owned()));
    }
    if name == "day" {
        if weekday_of_month(value)?.is_some() {
            return Ok("*".to_owned()); // written in the day-of-week field by `build`
        }
        // `last` (APScheduler) is croner's `L`, alone or in a list.
        let days: Vec<&str> = compact
            .split(',')
            .map(|item| {
                if item.eq_ignore_ascii_case("last") {
                    "L"
                } else {
                    item
                }
            })
            .collect();
        let days = days.join(",");
        check_range(name, &days, (1, 31)).map_err(invalid)?;
        return Ok(days);
    }
    if name != "day_of_week" {
        let range = match name {
            // croner stops searching once it reaches its last year, so that year
            // would never fire (but at its first instant): it is not accepted.
            "year" => (YEAR_LOWER_LIMIT as u64, YEAR_UPPER_LIMIT as u64 - 1),
            "month" => (1, 12),
            "day" => (1, 31),
            "hour" => (0, 23),
            _ => (0, 59),
        };
        check_range(name, &compact, range).map_err(invalid)?;
        return Ok(compact);
    }
    // APScheduler's `*/2` steps from Monday (its 0), croner's from Sunday: spell the
    // range out so that both count from Monday.
    let compact = compact.replace("*/", "MON-SUN/");
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

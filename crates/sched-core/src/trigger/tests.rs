use super::*;

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).expect("test instant").with_timezone(&Utc)
}

#[test]
fn spring_forward_fixed_time_fires_after_gap() {
    let t = Trigger::cron("30 2 * * *").unwrap().timezone(chrono_tz::America::New_York);
    let a = t.next_after(utc("2026-03-07T12:00:00-05:00")).unwrap();
    assert_eq!(a, utc("2026-03-08T03:00:00-04:00"));
    let b = t.next_after(a).unwrap();
    assert_eq!(b, utc("2026-03-09T02:30:00-04:00"));
}

//! How serious a record is: one mapping from a decision's verdict or an audit event's outcome
//! to a log status, shared by the Datadog `status` and the OTLP severity, so moving a
//! destination from one path to the other changes no field.

use docket_delivery::Body;
use docket_records::{Outcome, Verdict};

/// The log level of a record, with its Datadog status and OpenTelemetry severity number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// An allowed request, a successful admin action.
    Info,
    /// A request Docket changed: modified or redacted.
    Notice,
    /// A request Docket blocked, an admin action refused for lack of permission.
    Warn,
    /// An admin action that failed.
    Error,
}

impl Level {
    /// The level of `record`.
    pub fn of(record: &Body) -> Self {
        match record {
            Body::Decision(d) => match d.decision.verdict {
                Verdict::Allow => Self::Info,
                Verdict::Modify | Verdict::Redact => Self::Notice,
                Verdict::Deny => Self::Warn,
            },
            Body::Audit(a) => match a.outcome {
                Outcome::Success => Self::Info,
                Outcome::Denied => Self::Warn,
                Outcome::Failed => Self::Error,
            },
        }
    }

    /// Datadog's status word (also the OTLP `severity_text`).
    pub fn status(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Notice => "notice",
            Self::Warn => "warn",
            Self::Error => "error",
        }
    }

    /// The OpenTelemetry `SeverityNumber` (INFO 9, INFO2 10, WARN 13, ERROR 17), as Datadog
    /// itself maps these statuses.
    pub fn severity_number(self) -> i32 {
        match self {
            Self::Info => 9,
            Self::Notice => 10,
            Self::Warn => 13,
            Self::Error => 17,
        }
    }
}

#[cfg(test)]
mod tests {
    use docket_records::samples;

    use super::*;

    fn decision(verdict: Verdict) -> Body {
        let mut r = samples::enriched();
        r.decision.verdict = verdict;
        Body::Decision(Box::new(r))
    }

    fn audit(outcome: Outcome) -> Body {
        let mut r = samples::audit();
        r.outcome = outcome;
        Body::Audit(Box::new(r))
    }

    #[test]
    fn verdicts_and_outcomes_map_to_one_status_and_severity() {
        let cases = [
            (decision(Verdict::Allow), "info", 9),
            (decision(Verdict::Modify), "notice", 10),
            (decision(Verdict::Redact), "notice", 10),
            (decision(Verdict::Deny), "warn", 13),
            (audit(Outcome::Success), "info", 9),
            (audit(Outcome::Denied), "warn", 13),
            (audit(Outcome::Failed), "error", 17),
        ];
        for (record, status, number) in cases {
            let level = Level::of(&record);
            assert_eq!((level.status(), level.severity_number()), (status, number));
        }
    }
}

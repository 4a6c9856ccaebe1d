//! Realistic records: random ids, callers, routes and policy mixes, and free text drawn from a
//! vocabulary, so that the records compress like a gateway's and not like a repeated template.

use docket_delivery::{Body, Exported, Source};
use docket_records::{
    Actor, Audit, Caller, Decision, EnrichedDecision, JoinStatus, Micros, ModelRoute, Outcome,
    PolicyAction, PolicyChange, PolicyKind, PolicyRef, Resource, Stage, Verdict,
};
use rand::RngExt;
use rand::rngs::ThreadRng;
use rand::seq::IndexedRandom;

const WORDS: &[&str] = &[
    "account",
    "address",
    "agent",
    "answer",
    "api",
    "approval",
    "attachment",
    "audit",
    "balance",
    "bank",
    "billing",
    "block",
    "browser",
    "budget",
    "card",
    "case",
    "change",
    "chat",
    "claim",
    "client",
    "code",
    "comment",
    "company",
    "compliance",
    "contract",
    "credential",
    "customer",
    "data",
    "database",
    "date",
    "debug",
    "deploy",
    "detail",
    "device",
    "document",
    "domain",
    "draft",
    "email",
    "employee",
    "export",
    "file",
    "finance",
    "form",
    "health",
    "history",
    "identity",
    "image",
    "incident",
    "invoice",
    "issue",
    "key",
    "label",
    "language",
    "ledger",
    "license",
    "limit",
    "list",
    "login",
    "medical",
    "meeting",
    "memo",
    "message",
    "model",
    "network",
    "note",
    "number",
    "order",
    "owner",
    "partner",
    "passport",
    "password",
    "patient",
    "payment",
    "payroll",
    "phone",
    "plan",
    "policy",
    "portal",
    "price",
    "profile",
    "project",
    "prompt",
    "query",
    "quote",
    "record",
    "refund",
    "region",
    "report",
    "request",
    "review",
    "risk",
    "role",
    "salary",
    "schedule",
    "script",
    "secret",
    "server",
    "session",
    "ship",
    "source",
    "summary",
    "supplier",
    "support",
    "table",
    "task",
    "tax",
    "team",
    "ticket",
    "token",
    "trade",
    "transfer",
    "travel",
    "user",
    "vendor",
    "wallet",
    "warranty",
    "was",
    "is",
    "the",
    "a",
    "of",
    "to",
    "in",
    "for",
    "with",
    "from",
    "contains",
    "mentions",
    "matched",
    "detected",
    "masked",
    "removed",
    "before",
    "after",
    "sent",
    "leaving",
    "outside",
    "internal",
    "external",
    "personal",
    "private",
    "sensitive",
    "unapproved",
];
const FIRST: &[&str] = &[
    "alice", "bob", "carol", "dan", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory",
    "niaj", "olivia", "peggy", "rupert", "sybil", "trent", "victor", "walter", "yusuf", "zoe",
];
const LAST: &[&str] = &[
    "smith", "jones", "garcia", "muller", "rossi", "dubois", "kowalski", "nakamura", "silva",
    "haddad", "okafor", "larsen", "novak", "tanaka", "reyes", "khan", "andersen", "moreau",
];
const DOMAINS: &[&str] = &[
    "example.com",
    "example.org",
    "corp.example",
    "eu.example.net",
];
const TEAMS: &[&str] = &[
    "research", "support", "sales", "finance", "legal", "platform", "data", "security", "ops",
];
const MODELS: &[(&str, &str, &str)] = &[
    ("gpt-4o", "gpt-4o-mini", "openai"),
    ("gpt-4.1", "gpt-4.1", "openai"),
    ("claude-sonnet-4", "claude-sonnet-4", "anthropic"),
    ("claude-haiku-4", "claude-haiku-4", "anthropic"),
    ("gemini-2.5-pro", "gemini-2.5-flash", "google"),
    ("llama-3.3-70b", "llama-3.3-70b", "bedrock"),
    ("mistral-large", "mistral-medium", "mistral"),
];
const RULES: &[&str] = &[
    "email",
    "card_number",
    "iban",
    "phone",
    "ssn",
    "api_key",
    "password",
    "address",
    "jailbreak",
    "toxicity",
    "max_tokens",
    "model_allowlist",
    "cost_cap",
    "code_secret",
];
const ENTITIES: &[&str] = &[
    "EMAIL",
    "CARD_NUMBER",
    "IBAN",
    "PHONE",
    "PERSON",
    "LOCATION",
    "SSN",
    "API_KEY",
    "URL",
];
const KINDS: &[PolicyKind] = &[
    PolicyKind::Redaction,
    PolicyKind::Guardrail,
    PolicyKind::Routing,
];
const VERDICTS: &[Verdict] = &[Verdict::Deny, Verdict::Modify, Verdict::Redact];

/// How many distinct policies drive decisions; each has one edit in the audit topic.
pub const POLICIES: usize = 24;

/// Makes realistic decisions, enriched decisions and policy edits.
pub struct Faker {
    rng: ThreadRng,
    start: i64,
    made: i64,
}

impl Default for Faker {
    fn default() -> Self {
        Self::new()
    }
}

impl Faker {
    /// A maker whose decisions start now, one microsecond apart.
    pub fn new() -> Self {
        Self {
            rng: rand::rng(),
            start: Micros::now().0,
            made: 0,
        }
    }

    /// The id, name, kind and version of policy `i` (of [`POLICIES`]).
    pub fn policy(i: usize) -> PolicyRef {
        PolicyRef {
            id: format!("pol-{:04x}", 0x3a00 + i * 37),
            name: format!(
                "{} {} rule {i}",
                WORDS[i * 3 % WORDS.len()],
                WORDS[i * 7 % 40]
            ),
            kind: KINDS[i % KINDS.len()],
            version: 3 + (i as i64 * 5) % 17,
        }
    }

    /// The latest edit of policy `i`, a minute before the decisions: every decision that names
    /// the policy joins to it.
    pub fn edit(&mut self, i: usize) -> Audit {
        let policy = Self::policy(i);
        Audit {
            event_id: docket_records::samples::event_id(),
            request_id: format!("req-{:012x}", self.rng.random::<u64>() >> 16),
            time: Micros(self.start - 60_000_000),
            actor: Actor {
                id: format!("admin-{}", FIRST.choose(&mut self.rng).unwrap()),
                kind: "user".to_owned(),
                role: "policy_admin".to_owned(),
                source_ip: Some(self.ip(192)),
            },
            action: "policy.update".to_owned(),
            resource: Resource {
                kind: "policy".to_owned(),
                id: policy.id,
                name: Some(policy.name),
            },
            outcome: Outcome::Success,
            details: [("changed".to_owned(), self.words(2, 5))].into(),
            policy_version: Some(policy.version),
        }
    }

    /// A decision: one in five a plain allow, the rest driven by one of [`POLICIES`] with one
    /// to three actions.
    pub fn decision(&mut self) -> Decision {
        self.made += 1;
        let (requested, routed, provider) = *MODELS.choose(&mut self.rng).unwrap();
        let policy = (self.rng.random_range(0..5) != 0)
            .then(|| Self::policy(self.rng.random_range(0..POLICIES)));
        let verdict = policy
            .as_ref()
            .map_or(Verdict::Allow, |_| *VERDICTS.choose(&mut self.rng).unwrap());
        let actions = match &policy {
            Some(p) => (0..self.rng.random_range(1..=3))
                .map(|_| self.action(p))
                .collect(),
            None => Vec::new(),
        };
        Decision {
            event_id: docket_records::samples::event_id(),
            correlation_id: format!("{:032x}", self.rng.random::<u128>()),
            time: Micros(self.start + self.made),
            gateway_instance: format!("gateway-{:04x}-{}", 0x7f9c, self.rng.random_range(0..4)),
            stage: if self.rng.random() {
                Stage::Request
            } else {
                Stage::Response
            },
            verdict,
            policy,
            policy_set_version: 40 + self.rng.random_range(0..3),
            actions,
            caller: self.caller(),
            model: ModelRoute {
                requested: requested.to_owned(),
                routed: Some(routed.to_owned()),
                provider: Some(provider.to_owned()),
            },
        }
    }

    /// An enriched decision whose framed Avro body is about `target` bytes: the first action's
    /// reason carries the extra text (`size` gives a record's encoded length).
    pub fn enriched(
        &mut self,
        target: usize,
        size: impl Fn(&EnrichedDecision) -> usize,
    ) -> EnrichedDecision {
        let mut decision = self.decision();
        if decision.actions.is_empty() {
            let p = Self::policy(self.rng.random_range(0..POLICIES));
            decision.actions.push(self.action(&p));
            decision.verdict = Verdict::Deny;
            decision.policy = Some(p);
        }
        let mut record = EnrichedDecision {
            policy_change: Some(self.change(&decision)),
            decision,
            join_status: JoinStatus::Joined,
        };
        let missing = target.saturating_sub(size(&record));
        if let Some(reason) = record.decision.actions[0].reason.as_mut() {
            reason.push(' ');
            reason.push_str(&self.text(missing.saturating_sub(2)));
        }
        record
    }

    fn change(&mut self, decision: &Decision) -> PolicyChange {
        let version = decision.policy.as_ref().map(|p| p.version);
        let time = Micros(self.start - 60_000_000);
        PolicyChange {
            audit_event_id: docket_records::samples::event_id(),
            action: "policy.update".to_owned(),
            actor_id: format!("admin-{}", FIRST.choose(&mut self.rng).unwrap()),
            actor_role: "policy_admin".to_owned(),
            time,
            policy_version: version,
            lag_ms: decision.time.millis_since(time),
        }
    }

    fn action(&mut self, policy: &PolicyRef) -> PolicyAction {
        let redacted = self.rng.random_range(0..4);
        let entities = (0..redacted)
            .map(|_| (*ENTITIES.choose(&mut self.rng).unwrap()).to_owned())
            .collect();
        PolicyAction {
            policy_id: policy.id.clone(),
            policy_version: policy.version,
            verdict: *VERDICTS.choose(&mut self.rng).unwrap(),
            rule_id: Some((*RULES.choose(&mut self.rng).unwrap()).to_owned()),
            target: Some(format!(
                "messages[{}].content",
                self.rng.random_range(0..12)
            )),
            reason: Some(self.words(4, 14)),
            redacted_count: redacted,
            entity_types: entities,
        }
    }

    fn caller(&mut self) -> Caller {
        let first = FIRST.choose(&mut self.rng).unwrap();
        let last = LAST.choose(&mut self.rng).unwrap();
        let domain = DOMAINS.choose(&mut self.rng).unwrap();
        Caller {
            api_key_id: format!(
                "key-{:08x}",
                self.rng.random_range(0..4096u32) * 2_654_435_761 % u32::MAX
            ),
            user: Some(format!("{first}.{last}@{domain}")),
            team: Some((*TEAMS.choose(&mut self.rng).unwrap()).to_owned()),
            source_ip: Some(self.ip(10)),
        }
    }

    fn ip(&mut self, first: u8) -> String {
        let [a, b, c]: [u8; 3] = self.rng.random();
        format!("{first}.{a}.{b}.{c}")
    }

    /// Between `min` and `max` words of the vocabulary.
    fn words(&mut self, min: usize, max: usize) -> String {
        let n = self.rng.random_range(min..=max);
        let words: Vec<&str> = (0..n)
            .map(|_| *WORDS.choose(&mut self.rng).unwrap())
            .collect();
        words.join(" ")
    }

    /// Words of the vocabulary, now and then a number, `len` bytes long.
    fn text(&mut self, len: usize) -> String {
        let mut out = String::with_capacity(len + 16);
        while out.len() < len {
            if self.rng.random_range(0..8) == 0 {
                out.push_str(&self.rng.random_range(0..100_000u32).to_string());
            } else {
                out.push_str(WORDS.choose(&mut self.rng).unwrap());
            }
            out.push(' ');
        }
        out.truncate(len);
        out
    }
}

/// `count` realistic enriched decisions as the sinks receive them (about 2,100 bytes of JSON
/// each, the throughput benchmarks' records), read from four partitions of
/// `docket.decisions.enriched`: the input of the benchmarks of the sinks' encodings.
pub fn exported(count: usize) -> Vec<Exported> {
    let mut faker = Faker::new();
    let json_len = |r: &EnrichedDecision| serde_json::to_vec(r).map_or(0, |v| v.len());
    (0..count)
        .map(|i| {
            let source = Source {
                topic: "docket.decisions.enriched".into(),
                partition: (i % 4) as i32,
                offset: i as i64,
            };
            let record = Body::Decision(Box::new(faker.enriched(2_100, json_len)));
            Exported::new(record, source)
        })
        .collect()
}

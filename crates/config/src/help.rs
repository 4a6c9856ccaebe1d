//! A binary's `--help`: what it is, then every environment variable it reads, grouped, with
//! its default and one line of help, from the same declarations the readers use.

use std::fmt::Write;
use std::process::ExitCode;

use crate::var::{Default, Var};

/// What a binary says about itself and the variables it reads.
#[derive(Debug, Clone, Copy)]
pub struct Help<'a> {
    /// The binary's name.
    pub binary: &'a str,
    /// One line saying what it does.
    pub about: &'a str,
    /// Its variables, by group (`("Kafka", docket_kafka::VARS)`).
    pub sections: &'a [(&'a str, &'a [Var])],
}

impl Help<'_> {
    /// Answers the command line: `--help`/`-h` prints [`Help::render`] and `--version`/`-V`
    /// the version, both ending the program successfully; any other argument is refused
    /// (exit 2). `None`: no arguments, run.
    pub fn answer(
        &self,
        args: impl IntoIterator<Item = String>,
        version: &str,
    ) -> Option<ExitCode> {
        let first = args.into_iter().next()?;
        match first.as_str() {
            "--help" | "-h" => print!("{}", self.render()),
            "--version" | "-V" => println!("{} {version}", self.binary),
            other => {
                eprintln!(
                    "{}: unexpected argument '{other}' (see --help)",
                    self.binary
                );
                return Some(ExitCode::from(2));
            }
        }
        Some(ExitCode::SUCCESS)
    }

    /// The help text.
    pub fn render(&self) -> String {
        let width = self
            .sections
            .iter()
            .flat_map(|(_, vars)| vars.iter().map(|v| v.name.len()))
            .max()
            .unwrap_or(0);
        let mut out = format!(
            "{}: {}\n\nUsage: {} [--help | --version]\n\nIt reads these environment variables \
             (durations like 5s or 250ms, sizes like 16MiB or plain bytes):\n",
            self.binary, self.about, self.binary
        );
        for (title, vars) in self.sections {
            let _ = writeln!(out, "\n{title}:");
            for var in *vars {
                let _ = writeln!(
                    out,
                    "  {:width$}  {}{}",
                    var.name,
                    var.help,
                    default_note(var)
                );
            }
        }
        out
    }
}

fn default_note(var: &Var) -> String {
    let default = match var.default {
        Default::Required => " [required]".to_owned(),
        Default::Unset => String::new(),
        Default::Value(v) => format!(" [default: {v}]"),
        Default::Described(how) => format!(" [default: {how}]"),
    };
    match var.old {
        Some(old) => format!("{default} (formerly {})", old.name),
        None => default,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::var::OldName;

    const VARS: &[Var] = &[
        Var::new("DOCKET_T_GRACE", "how long to wait")
            .default("5s")
            .old(OldName::millis("DOCKET_T_GRACE_MS")),
        Var::new("DOCKET_T_BUCKET", "the bucket").required(),
    ];

    #[test]
    fn help_lists_every_variable_with_its_default() {
        let help = Help {
            binary: "docket-t",
            about: "tests",
            sections: &[("Test", VARS)],
        };
        let text = help.render();
        assert!(
            text.contains(
                "DOCKET_T_GRACE   how long to wait [default: 5s] (formerly DOCKET_T_GRACE_MS)"
            ),
            "{text}"
        );
        assert!(
            text.contains("DOCKET_T_BUCKET  the bucket [required]"),
            "{text}"
        );
        assert_eq!(help.answer(Vec::new(), "0"), None);
        assert_eq!(
            help.answer(vec!["--bogus".into()], "0"),
            Some(ExitCode::from(2))
        );
    }
}

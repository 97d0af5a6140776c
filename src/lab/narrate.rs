//! Where the walkthrough's lines go, and how a command is shown in them.
//!
//! The walkthrough is a transcript: step headings, the commands it runs (after
//! a `$`), and what they and the programs beside them print. It goes to
//! standard output, unless standard output carries a grade as JSON
//! (`--output json`): then all of it goes to standard error, so that a script
//! reads the JSON alone.

use std::fmt;
use std::io::Write;

/// Where the walkthrough's lines go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Narration {
    Stdout,
    Stderr,
}

impl Narration {
    /// One line of the transcript.
    pub fn line(self, text: fmt::Arguments<'_>) {
        self.write(text, "\n");
    }

    /// Text as it is, with no newline added (a command's output).
    pub fn text(self, text: &str) {
        self.write(format_args!("{text}"), "");
    }

    fn write(self, text: fmt::Arguments<'_>, end: &str) {
        // A closed pipe (`... | head`) must not end the walkthrough, and the
        // programs it runs must still be stopped.
        let _ = match self {
            Narration::Stdout => write!(std::io::stdout().lock(), "{text}{end}"),
            Narration::Stderr => write!(std::io::stderr().lock(), "{text}{end}"),
        };
    }
}

/// A command line as a person would type it, with long JSON shortened.
pub fn shown(args: &[&str]) -> String {
    args.iter()
        .map(|arg| {
            if !arg.contains(' ') && !arg.contains('"') {
                return arg.to_string();
            }
            let flat: String = arg.split_whitespace().collect::<Vec<_>>().join(" ");
            if flat.chars().count() > 60 {
                format!("'{}...'", flat.chars().take(57).collect::<String>())
            } else {
                format!("'{flat}'")
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_is_shown_as_typed_with_long_json_shortened() {
        let record =
            r#"{"session_id": "a1", "customer_number": 100, "city": "Washington", "country": "USA"}"#;
        assert_eq!(
            shown(&["produce", "--stream", "s", "--json-string", record]),
            r#"produce --stream s --json-string '{"session_id": "a1", "customer_number": 100, "city": "Was...'"#
        );
        assert_eq!(
            shown(&["etl", "--dest", r#"{"a": 1}"#]),
            r#"etl --dest '{"a": 1}'"#
        );
    }
}

//! The README's synopsis of `p2p`, generated from the clap definition (the same one that
//! prints `--help`), and the tests that keep the README in step with it.
//!
//! The README's block between `<!-- p2p usage: begin -->` and `<!-- p2p usage: end -->` is
//! [`synopsis`]'s output in a `text` fence. When a command or an option changes,
//! `readme_usage_matches_the_command_line` fails and shows the new block;
//! `P2P_WRITE_README=1 cargo test -p peergroup-cli readme` writes it into README.md.
//! `synopsis_and_help_name_the_same_options` checks each line against the rendered
//! `--help` of its command, and `readme_examples_parse` that every `p2p …` command in the
//! README's shell examples is accepted by the same definition.

use clap::{ArgAction, Command};

/// Longest synopsis line; longer ones continue on the next line, indented.
const WIDTH: usize = 92;

/// One line per leaf command: `p2p <path> <positionals> <options>`, options of the top
/// level (`--data-dir`) on the first line only.
pub(crate) fn synopsis(cli: &Command) -> String {
    let mut out = String::new();
    let globals: Vec<String> =
        cli.get_arguments().filter(|a| a.is_global_set()).filter_map(argument).collect();
    out.push_str(&format!("p2p {} <COMMAND>\n", globals.join(" ")));
    for sub in cli.get_subcommands() {
        leaves(sub, "p2p", &mut out);
    }
    out
}

/// Appends the synopsis lines of `cmd` (a leaf) or of its subcommands.
fn leaves(cmd: &Command, parent: &str, out: &mut String) {
    let path = format!("{parent} {}", cmd.get_name());
    if cmd.has_subcommands() {
        for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
            leaves(sub, &path, out);
        }
        return;
    }
    let positionals = cmd.get_positionals();
    let options = cmd.get_arguments().filter(|a| !a.is_positional() && !a.is_global_set());
    let words: Vec<String> = positionals.chain(options).filter_map(argument).collect();
    wrap(&path, &words, out);
}

/// An argument as the synopsis shows it (`None` for `--help`, `--version` and hidden ones).
fn argument(a: &clap::Arg) -> Option<String> {
    if matches!(a.get_action(), ArgAction::Help | ArgAction::HelpLong | ArgAction::Version)
        || a.is_hide_set()
    {
        return None;
    }
    let value = a
        .get_value_names()
        .map(|v| v.iter().map(ToString::to_string).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| a.get_id().as_str().to_uppercase());
    let repeated = matches!(a.get_action(), ArgAction::Append)
        || a.get_num_args().is_some_and(|n| n.max_values() > 1);
    let dots = if repeated { "..." } else { "" };
    let text = match a.get_long() {
        None => format!("<{value}>{dots}"),
        Some(long) if matches!(a.get_action(), ArgAction::SetTrue | ArgAction::Count) => {
            format!("--{long}")
        }
        Some(long) => format!("--{long} {value}{dots}"),
    };
    Some(if a.is_required_set() { text } else { format!("[{text}]") })
}

/// Appends `path words…`, wrapped at [`WIDTH`] with continuation lines indented under the
/// first word.
fn wrap(path: &str, words: &[String], out: &mut String) {
    let indent = path.chars().count() + 1;
    let mut line = path.to_owned();
    for w in words {
        if line.chars().count() + 1 + w.chars().count() > WIDTH && line.trim().contains(' ') {
            out.push_str(line.trim_end());
            out.push('\n');
            line = " ".repeat(indent - 1);
        }
        line.push(' ');
        line.push_str(w);
    }
    out.push_str(&line);
    out.push('\n');
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failure is a failed test

    use super::*;
    use clap::{CommandFactory, Parser};

    const BEGIN: &str = "<!-- p2p usage: begin";
    const END: &str = "<!-- p2p usage: end -->";

    fn readme_path() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md")
    }

    /// The README's block: the text between the fence after BEGIN and END.
    fn block(readme: &str) -> Option<(usize, usize)> {
        let begin = readme.find(BEGIN)?;
        let start = begin + readme[begin..].find("```text\n")? + "```text\n".len();
        let end = start + readme[start..].find("```\n")?;
        readme[end..].find(END)?;
        Some((start, end))
    }

    #[test]
    fn readme_usage_matches_the_command_line() {
        let expected = synopsis(&crate::Cli::command());
        let path = readme_path();
        let readme = std::fs::read_to_string(&path).unwrap();
        let (start, end) = block(&readme).expect("README.md has no `p2p usage` block");
        if readme[start..end] == expected {
            return;
        }
        if std::env::var_os("P2P_WRITE_README").is_some() {
            let new = format!("{}{expected}{}", &readme[..start], &readme[end..]);
            std::fs::write(&path, new).unwrap();
            return;
        }
        panic!(
            "README.md's `p2p` usage differs from the command line; the block should read \
             (P2P_WRITE_README=1 cargo test -p peergroup-cli readme writes it):\n{expected}"
        );
    }

    /// The synopsis and `p2p <command> --help` name the same options, both ways.
    #[test]
    fn synopsis_and_help_name_the_same_options() {
        let mut cli = crate::Cli::command();
        cli.build();
        let mut entries: Vec<String> = Vec::new();
        for l in synopsis(&crate::Cli::command()).lines() {
            match entries.last_mut() {
                Some(last) if !l.starts_with("p2p ") => last.push_str(l),
                _ => entries.push(l.to_owned()),
            }
        }
        let longs = |text: &str| -> Vec<String> {
            let mut v: Vec<String> = text
                .split(|c: char| c.is_whitespace() || "[],=<".contains(c))
                .filter(|w| w.starts_with("--") && w.len() > 2)
                .filter(|w| !matches!(*w, "--help" | "--version" | "--data-dir"))
                .map(str::to_owned)
                .collect();
            v.sort();
            v.dedup();
            v
        };
        assert!(entries.len() >= 25, "{entries:?}");
        for entry in entries.iter().skip(1) {
            let words: Vec<&str> = entry.split_whitespace().collect();
            let mut cmd = &mut cli;
            for name in words[1..].iter().take_while(|w| !w.starts_with(['<', '[', '-'])) {
                cmd = cmd.find_subcommand_mut(name).unwrap();
            }
            let help = cmd.render_long_help().to_string();
            // the option lines of --help (`  -x, --long <VALUE>`), not its prose
            let options: String = help
                .lines()
                .filter(|l| l.trim_start().starts_with('-'))
                .collect::<Vec<_>>()
                .join("\n");
            assert_eq!(longs(entry), longs(&options), "{entry}\n--help:\n{help}");
        }
    }

    /// Every `p2p …` line of the README's `sh` blocks parses (comments and redirections
    /// left out, quotes honoured).
    #[test]
    fn readme_examples_parse() {
        let readme = std::fs::read_to_string(readme_path()).unwrap();
        let mut in_sh = false;
        let mut checked = 0;
        for line in readme.lines() {
            match line.trim() {
                "```sh" => in_sh = true,
                "```" => in_sh = false,
                l if in_sh && l.starts_with("p2p ") => {
                    let words = shell_words(l);
                    if let Err(e) = crate::Cli::try_parse_from(&words) {
                        panic!("README example `{l}` does not parse:\n{e}");
                    }
                    checked += 1;
                }
                _ => {}
            }
        }
        assert!(checked >= 5, "only {checked} README examples found");
    }

    /// Splits a shell command line: `'…'` and `"…"` quotes, up to a `#` comment or a `>`
    /// redirection.
    fn shell_words(line: &str) -> Vec<String> {
        let mut words = Vec::new();
        let mut word: Option<String> = None;
        let mut chars = line.chars();
        while let Some(c) = chars.next() {
            match c {
                '#' | '>' if word.is_none() => break,
                ' ' | '\t' => words.extend(word.take()),
                '\'' | '"' => {
                    let w = word.get_or_insert_with(String::new);
                    for q in chars.by_ref() {
                        if q == c {
                            break;
                        }
                        w.push(q);
                    }
                }
                c => word.get_or_insert_with(String::new).push(c),
            }
        }
        words.extend(word);
        words
    }

    #[test]
    fn shell_words_split_like_a_shell() {
        assert_eq!(
            shell_words(r#"p2p group create chess --friendly-name "Chess club" > x # c"#),
            ["p2p", "group", "create", "chess", "--friendly-name", "Chess club"]
        );
        assert_eq!(shell_words("p2p a 'b c'd"), ["p2p", "a", "b cd"]);
    }
}

//! Subcommands whose arguments are built only when they are used.
//!
//! clap's derive builds the whole command tree, every argument of every
//! subcommand with its help text, before it parses anything: measured, it
//! was half of the instructions of a `paige run` handed to `paige serve`
//! (about 1.2 M of 2.3 M, under callgrind). [`Lazy`] wraps a subcommand's
//! payload so that its arguments (and, for a group, its subcommands) are
//! added by [`clap::Command::defer`]: clap builds them when that subcommand
//! is parsed, or when a usage error needs it. What is parsed, and every
//! help text, stays the same.
//!
//! The help and the completion scripts are made from the whole tree built
//! at once ([`whole_tree`]): clap mirrors the subcommands into its `help`
//! subcommand when it builds the top level, so `paige help secrets set`
//! (and its completion) needs every group's subcommands there already.

use std::cell::Cell;

use clap::{ArgMatches, Args, Command, FromArgMatches, Subcommand};

thread_local! {
    /// Set while [`whole_tree`] builds: nothing is deferred.
    static WHOLE: Cell<bool> = const { Cell::new(false) };
}

/// Runs `build` (which builds a command tree) with nothing deferred.
pub fn whole_tree<R>(build: impl FnOnce() -> R) -> R {
    WHOLE.with(|whole| whole.set(true));
    let built = build();
    WHOLE.with(|whole| whole.set(false));
    built
}

/// `augment` now, inside [`whole_tree`], or deferred until `cmd` is used.
fn later(cmd: Command, augment: fn(Command) -> Command) -> Command {
    if WHOLE.with(Cell::get) {
        augment(cmd)
    } else {
        cmd.defer(augment)
    }
}

/// A subcommand's arguments (or its own subcommands), built when used.
#[derive(Debug)]
pub struct Lazy<T>(pub T);

impl<T: FromArgMatches> FromArgMatches for Lazy<T> {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        T::from_arg_matches(matches).map(Lazy)
    }

    fn from_arg_matches_mut(matches: &mut ArgMatches) -> Result<Self, clap::Error> {
        T::from_arg_matches_mut(matches).map(Lazy)
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        self.0.update_from_arg_matches(matches)
    }

    fn update_from_arg_matches_mut(&mut self, matches: &mut ArgMatches) -> Result<(), clap::Error> {
        self.0.update_from_arg_matches_mut(matches)
    }
}

impl<T: Args> Args for Lazy<T> {
    fn augment_args(cmd: Command) -> Command {
        later(cmd, T::augment_args)
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        later(cmd, T::augment_args_for_update)
    }

    fn group_id() -> Option<clap::Id> {
        T::group_id()
    }
}

impl<T: Subcommand> Subcommand for Lazy<T> {
    fn augment_subcommands(cmd: Command) -> Command {
        later(cmd, T::augment_subcommands)
    }

    fn augment_subcommands_for_update(cmd: Command) -> Command {
        later(cmd, T::augment_subcommands_for_update)
    }

    fn has_subcommand(name: &str) -> bool {
        T::has_subcommand(name)
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::whole_tree;
    use crate::cli::Cli;

    /// Every path of subcommands under `command`, the command's own first.
    fn paths(command: &clap::Command, prefix: &[String], out: &mut Vec<Vec<String>>) {
        out.push(prefix.to_vec());
        for sub in command.get_subcommands() {
            let mut path = prefix.to_vec();
            path.push(sub.get_name().to_owned());
            paths(sub, &path, out);
        }
    }

    /// The long help of the subcommand at `path`, from a tree built lazily
    /// or whole: clap builds what a parse of `paige <path> --help` would.
    fn help(whole: bool, path: &[String]) -> String {
        let mut command = if whole {
            whole_tree(Cli::command)
        } else {
            Cli::command()
        };
        command.build();
        let mut at = &mut command;
        for name in path {
            at = at.find_subcommand_mut(name).unwrap();
        }
        at.render_long_help().to_string()
    }

    #[test]
    fn the_tree_is_sound_and_every_help_is_the_same_built_lazily() {
        whole_tree(Cli::command).debug_assert();
        let mut whole = whole_tree(Cli::command);
        whole.build();
        let mut all = Vec::new();
        paths(&whole, &[], &mut all);
        // The groups and their subcommands: `secrets set`, `code push`, ...
        assert!(all.len() > 40, "{} commands", all.len());
        // `paige help …` mirrors the tree only when built whole, as
        // `parse` builds it for any help.
        for path in all.iter().filter(|path| path.first().is_none_or(|p| p != "help")) {
            let lazily = help(false, path);
            assert_eq!(lazily, help(true, path), "paige {}", path.join(" "));
            if path.first().is_some_and(|p| p == "secrets") && path.len() == 2 && path[1] == "set" {
                assert!(lazily.contains("<SLUG>") && lazily.contains("--data-dir"), "{lazily}");
            }
        }
    }

    #[test]
    fn a_lazy_tree_builds_only_the_subcommand_used_and_parses_as_the_whole_one() {
        let lazily = Cli::command();
        let run = lazily.find_subcommand("run").unwrap();
        // Not built yet: only its name and summary.
        assert_eq!(run.get_arguments().count(), 0);
        for args in [
            &["paige", "--data-dir", "/d", "run", "demo", "--", "node", "-e", "1"][..],
            &["paige", "secrets", "set", "demo", "API_KEY", "--data-dir", "/e"],
            &["paige", "--kms-cache-ttl=0", "executions", "list", "demo", "--limit=3"],
        ] {
            let parsed = <Cli as clap::Parser>::try_parse_from(args).unwrap();
            let whole = whole_tree(|| Cli::command().try_get_matches_from(args)).unwrap();
            let whole = <Cli as clap::FromArgMatches>::from_arg_matches(&whole).unwrap();
            assert_eq!(format!("{parsed:?}"), format!("{whole:?}"), "{args:?}");
        }
    }
}

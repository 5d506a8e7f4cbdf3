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
//!
//! Deferred or not, clap still copies each global option (paige has 15:
//! `--data-dir`, the `--kms-*` ones…) into every subcommand when it builds
//! the top level, another 0.4 M instructions. So [`tree_for`] gives clap
//! the top level with only the subcommand the command line names ([`Used`]),
//! when that name can be found for certain before clap parses.

use std::cell::Cell;
use std::ffi::OsString;

use clap::{ArgMatches, Args, Command, CommandFactory, FromArgMatches, Subcommand};

thread_local! {
    /// Set while [`whole_tree`] builds: nothing is deferred.
    static WHOLE: Cell<bool> = const { Cell::new(false) };
    /// Set while [`tree_for`] builds the top level: no subcommand is added.
    static BARE: Cell<bool> = const { Cell::new(false) };
}

/// The command tree to parse `args` with: the top level of `P` with only
/// the subcommand of `S` that `args` names, or, when that is not certain,
/// `P`'s whole (lazy) tree. Either parses `args` the same way: what clap
/// does before it meets the subcommand depends on the top level's own
/// options only, and after it, on that subcommand only.
pub fn tree_for<P: CommandFactory, S: Subcommand>(args: &[OsString]) -> Command {
    BARE.with(|bare| bare.set(true));
    let bare = P::command();
    BARE.with(|bare| bare.set(false));
    let used = used_subcommand(&bare, args).and_then(|name| {
        S::augment_subcommands(Command::new("all"))
            .find_subcommand(name)
            .cloned()
    });
    match used {
        Some(subcommand) => bare.subcommand(subcommand),
        None => P::command(),
    }
}

/// The first of `args` (after the program's name) that is neither an
/// option of `top` nor an option's value: clap's subcommand. `None` where
/// the scan could differ from clap's: `--`, a short option, an option
/// `top` does not have (`--version`, a typo), an option taking several
/// values, a value that starts with `-`, an argument that is not UTF-8.
fn used_subcommand<'a>(top: &Command, args: &'a [OsString]) -> Option<&'a str> {
    let mut rest = args.iter().skip(1);
    while let Some(arg) = rest.next() {
        let arg = arg.to_str()?;
        let Some(long) = arg.strip_prefix("--") else {
            return if arg.starts_with('-') { None } else { Some(arg) };
        };
        let (name, inline_value) = match long.split_once('=') {
            Some((name, _)) => (name, true),
            None => (long, false),
        };
        let option = top
            .get_arguments()
            .find(|a| !name.is_empty() && a.get_long() == Some(name))?;
        if option.get_num_args().is_some_and(|n| n.max_values() != 1) {
            return None;
        }
        if option.get_action().takes_values() && !inline_value && rest.next()?.to_str()?.starts_with('-') {
            return None;
        }
    }
    None
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

/// Reads a wrapper from clap's matches as its payload is read.
macro_rules! from_matches_as_payload {
    ($wrapper:ident) => {
        impl<T: FromArgMatches> FromArgMatches for $wrapper<T> {
            fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
                T::from_arg_matches(matches).map($wrapper)
            }

            fn from_arg_matches_mut(matches: &mut ArgMatches) -> Result<Self, clap::Error> {
                T::from_arg_matches_mut(matches).map($wrapper)
            }

            fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
                self.0.update_from_arg_matches(matches)
            }

            fn update_from_arg_matches_mut(&mut self, matches: &mut ArgMatches) -> Result<(), clap::Error> {
                self.0.update_from_arg_matches_mut(matches)
            }
        }
    };
}

from_matches_as_payload!(Lazy);

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

/// The subcommands of a command line: all of them, except while
/// [`tree_for`] builds the top level alone.
#[derive(Debug)]
pub struct Used<T>(pub T);

from_matches_as_payload!(Used);

impl<T: Subcommand> Subcommand for Used<T> {
    fn augment_subcommands(cmd: Command) -> Command {
        if BARE.with(Cell::get) {
            cmd
        } else {
            T::augment_subcommands(cmd)
        }
    }

    fn augment_subcommands_for_update(cmd: Command) -> Command {
        if BARE.with(Cell::get) {
            cmd
        } else {
            T::augment_subcommands_for_update(cmd)
        }
    }

    fn has_subcommand(name: &str) -> bool {
        T::has_subcommand(name)
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

    use super::{tree_for, whole_tree};
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

    /// What clap makes of `args` with `command`: the parsed command line,
    /// or the error's kind and text.
    fn outcome(command: clap::Command, args: &[&str]) -> String {
        match command.try_get_matches_from(args) {
            Ok(matches) => format!("{:?}", <Cli as clap::FromArgMatches>::from_arg_matches(&matches)),
            Err(e) => format!("{:?}: {}", e.kind(), e.render()),
        }
    }

    #[test]
    fn the_tree_for_a_command_line_parses_it_as_the_whole_tree_does() {
        let cases: &[&[&str]] = &[
            &["paige", "run", "demo", "--", "/bin/true"],
            &["paige", "--data-dir", "/d", "run", "demo"],
            &["paige", "--data-dir=/d", "--local", "run", "demo", "--data-dir", "/e"],
            // An option's value that is a subcommand's name.
            &["paige", "--server", "run", "projects", "list"],
            &["paige", "--server=run", "projects", "list"],
            &["paige", "--kms", "transit", "--kms-cache-ttl", "0", "keys", "status"],
            &["paige", "secrets", "set", "demo", "API_KEY"],
            &["paige", "code", "push", "demo", "."],
            // Errors: clap must say the same.
            &["paige", "run"],
            &["paige", "run", "demo", "--bogus"],
            &["paige", "--bot-uid-base", "12", "run", "demo"],
            &["paige", "--local=yes", "run", "demo"],
            &["paige", "sercets", "list", "demo"],
            &["paige", "--data-dir"],
            &["paige", "--data-dir", "-x", "run", "demo"],
            &["paige", "-V"],
            &["paige", "--version"],
            &["paige", "--", "run", "demo"],
            &["paige"],
        ];
        for args in cases {
            let owned: Vec<std::ffi::OsString> = args.iter().map(Into::into).collect();
            let whole = outcome(whole_tree(Cli::command), args);
            let used = outcome(tree_for::<Cli, crate::cli::Command>(&owned), args);
            assert_eq!(used, whole, "{args:?}");
        }
        // Found for certain: the top level and that one subcommand.
        let args: Vec<std::ffi::OsString> = ["paige", "--server", "run", "projects", "list"]
            .iter()
            .map(Into::into)
            .collect();
        let names: Vec<String> = tree_for::<Cli, crate::cli::Command>(&args)
            .get_subcommands()
            .map(|c| c.get_name().to_owned())
            .collect();
        assert_eq!(names, ["projects"]);
        // Not certain: every subcommand.
        let args: Vec<std::ffi::OsString> = ["paige", "-V"].iter().map(Into::into).collect();
        assert!(tree_for::<Cli, crate::cli::Command>(&args).get_subcommands().count() > 10);
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

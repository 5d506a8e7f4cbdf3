//! Bot code: stored in the database (the source of truth, on both
//! backends) and run from this node's copy of it. Paths confined to the
//! tree, whole-tree pushes that are atomic, size limits with clear errors,
//! a local copy rebuilt whenever it is not the database's revision, and
//! old copies kept exactly as long as an execution runs in them.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use paige::Error;
use paige::runtime::{CodeLimits, ExecutionRequest, ExecutionStatus, Stream, Trigger, check_code_path};

use super::{bot, lines_of, run, stored};
use crate::common::{Env, actor, both_backends, stderr, stdout};

fn code_of(err: &Error) -> &'static str {
    err.code()
}

/// Runs the project's entry point and returns its stdout lines.
async fn entry_output(env: &Env, slug: &str) -> Vec<String> {
    let request = ExecutionRequest::entry_point(serde_json::json!({}), Trigger::Test, actor());
    let record = run(env, slug, request).await;
    let execution = stored(env, slug, record.id).await;
    assert_eq!(record.status, ExecutionStatus::Succeeded, "{:?}", execution.log);
    lines_of(&execution, Stream::Stdout)
        .into_iter()
        .map(str::to_owned)
        .collect()
}

/// A copy of the hello bot at `version`, with extra files.
fn hello(dir: &Path, version: &str, extra: &[(&str, &[u8])]) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::copy(bot("hello").join("app.js"), dir.join("app.js")).unwrap();
    std::fs::write(dir.join("version.json"), format!(r#"{{"version": "{version}"}}"#)).unwrap();
    for (path, bytes) in extra {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
}

/// The names in this node's `trees/` directory for a project.
fn trees(env: &Env, project_id: i64) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(env.paige.code_dir(project_id).join("trees"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The real path of this node's live tree.
fn live(env: &Env, project_id: i64) -> PathBuf {
    std::fs::canonicalize(env.paige.code_dir(project_id).join("current")).unwrap()
}

async fn project_id(env: &Env, slug: &str) -> i64 {
    env.paige.project(slug).await.unwrap().id
}

/// A stored entry: (path, kind, content).
type Entry = (String, String, Vec<u8>);

/// The project's revision and entries as the database has them, by path.
async fn stored_code(env: &Env, project_id: i64) -> (Option<i64>, Vec<Entry>) {
    let db = env.db().await;
    let revision: Vec<i64> = db
        .column(
            "SELECT revision FROM code_revisions WHERE project_id = ?",
            &[project_id.into()],
        )
        .await;
    let mut entries: Vec<Entry> = db
        .rows(
            "SELECT path, kind, content FROM code_files WHERE project_id = ?",
            &[project_id.into()],
        )
        .await;
    entries.sort();
    (revision.first().copied(), entries)
}

fn paths(entries: &[Entry]) -> Vec<&str> {
    entries.iter().map(|(p, _, _)| p.as_str()).collect()
}

fn content<'a>(entries: &'a [Entry], path: &str) -> &'a [u8] {
    &entries.iter().find(|(p, _, _)| p == path).unwrap().2
}

/// Details of the project's audit records of `action`, oldest first.
async fn audited(env: &Env, project_id: i64, action: &str) -> Vec<String> {
    env.db()
        .await
        .column(
            "SELECT detail FROM audit_events WHERE project_id = ? AND action = ? ORDER BY id",
            &[project_id.into(), action.into()],
        )
        .await
}

fn dir_bytes(dir: &Path) -> u64 {
    crate::common::all_files(dir).iter().map(|(_, b)| b.len() as u64).sum()
}

#[test]
fn code_paths_are_relative_and_stay_inside_the_tree() {
    let limits = CodeLimits::default();
    for good in [
        "app.js",
        "lib/util.js",
        "a/b/c/d.json",
        ".env.example",
        "with space.js",
        "..hidden",
    ] {
        assert_eq!(check_code_path(good, &limits).unwrap(), Path::new(good), "{good}");
    }
    for bad in [
        "",
        "/etc/passwd",
        "../app.js",
        "lib/../../x",
        "lib/..",
        "./app.js",
        "lib/./x",
        "a//b",
        "lib/",
        "a\0b",
        ".paige-tmp-1",
    ] {
        let err = check_code_path(bad, &limits).unwrap_err();
        assert_eq!(code_of(&err), "invalid_code_path", "{bad:?}");
        assert!(err.to_string().starts_with("invalid code path"), "{err}");
    }
    let deep = vec!["d"; 40].join("/");
    assert!(
        check_code_path(&deep, &limits)
            .unwrap_err()
            .to_string()
            .contains("deeper than 32")
    );
    let long = "x".repeat(300);
    assert!(
        check_code_path(&long, &limits)
            .unwrap_err()
            .to_string()
            .contains("255 bytes")
    );
}

both_backends!(a_push_replaces_the_whole_stored_code);

async fn a_push_replaces_the_whole_stored_code(env: Env) {
    env.project("bot").await;
    let id = project_id(&env, "bot").await;
    let v1 = env.dir.path().join("v1");
    hello(&v1, "v1", &[("lib/old.js", b"// v1 only")]);
    let out = env.cli(&["code", "push", "bot", v1.to_str().unwrap()], b"");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        format!("pushed 3 files ({} bytes) to bot\n", dir_bytes(&v1))
    );
    // Stored in the database; no node has built a copy yet.
    let (revision, entries) = stored_code(&env, id).await;
    assert_eq!(revision, Some(1));
    assert_eq!(paths(&entries), ["app.js", "lib/old.js", "version.json"]);
    assert_eq!(content(&entries, "lib/old.js"), b"// v1 only");
    assert!(entries.iter().all(|(_, kind, _)| kind == "file"));
    assert!(!env.paige.code_dir(id).join("current").exists());
    assert_eq!(entry_output(&env, "bot").await, vec!["hello from v1"]);

    let v2 = env.dir.path().join("v2");
    hello(&v2, "v2", &[]);
    env.paige.push_code("bot", &v2, &actor()).await.unwrap();
    let (revision, entries) = stored_code(&env, id).await;
    assert_eq!(revision, Some(2));
    assert_eq!(
        paths(&entries),
        ["app.js", "version.json"],
        "a file of the old push survived"
    );
    assert_eq!(entry_output(&env, "bot").await, vec!["hello from v2"]);
    let tree = live(&env, id);
    assert!(tree.join("app.js").exists());
    assert!(
        !tree.join("lib/old.js").exists(),
        "a file of the old push survived on disk"
    );
    assert!(
        tree.file_name().unwrap().to_string_lossy().starts_with("r2-"),
        "{tree:?}"
    );

    // Older trees go once nothing runs in them.
    let v3 = env.dir.path().join("v3");
    hello(&v3, "v3", &[]);
    env.paige.push_code("bot", &v3, &actor()).await.unwrap();
    assert_eq!(entry_output(&env, "bot").await, vec!["hello from v3"]);
    let names = trees(&env, id);
    assert_eq!(names.len(), 1, "{names:?}");
    assert!(names[0].starts_with("r3-"), "{names:?}");

    let bytes = dir_bytes(&v3);
    assert_eq!(
        audited(&env, id, "code.push").await,
        vec![
            format!("revision 1: 3 files, {} bytes", dir_bytes(&v1)),
            format!("revision 2: 2 files, {} bytes", dir_bytes(&v2)),
            format!("revision 3: 2 files, {bytes} bytes"),
        ]
    );
    let audit = env.cli(&["audit", "bot"], b"");
    assert!(stdout(&audit).contains("code.push"), "{}", stdout(&audit));
}

both_backends!(an_old_tree_stays_while_an_execution_runs_in_it, multi_thread);

async fn an_old_tree_stays_while_an_execution_runs_in_it(env: Env) {
    // Reads version.txt at once, or (given a port) only after it was told
    // to go there: by then a newer revision is live.
    const WAITER: &str = r#"'use strict';
const fs = require('fs');
let input = '';
process.stdin.on('data', (c) => { input += c; });
process.stdin.on('end', () => {
  const event = JSON.parse(input);
  if (!event.port) { console.log(`now ${fs.readFileSync('version.txt', 'utf8')}`); return; }
  const socket = require('net').connect(event.port, '127.0.0.1', () => socket.write(`${process.pid}\n`));
  socket.once('data', () => {
    socket.end();
    console.log(`late ${fs.readFileSync('version.txt', 'utf8')}`);
  });
});
"#;
    env.project("bot").await;
    let id = project_id(&env, "bot").await;
    env.paige
        .put_code_file("bot", "app.js", WAITER.as_bytes(), &actor())
        .await
        .unwrap();
    env.paige
        .put_code_file("bot", "version.txt", b"v1", &actor())
        .await
        .unwrap();
    let mut rendezvous = super::Rendezvous::new().await;
    let request = ExecutionRequest::entry_point(serde_json::json!({"port": rendezvous.port()}), Trigger::Test, actor());
    let paige = env.paige.clone();
    let slow = tokio::spawn(async move { paige.execute("bot", request, None).await.unwrap() });
    rendezvous.ready().await;
    let old_tree = live(&env, id);

    env.paige
        .put_code_file("bot", "version.txt", b"v2", &actor())
        .await
        .unwrap();
    assert_eq!(entry_output(&env, "bot").await, vec!["now v2"]);
    assert_ne!(live(&env, id), old_tree);
    assert!(
        old_tree.join("version.txt").exists(),
        "the tree of a running execution was removed"
    );
    assert_eq!(trees(&env, id).len(), 2, "{:?}", trees(&env, id));
    rendezvous.go().await;
    let record = slow.await.unwrap();
    let execution = stored(&env, "bot", record.id).await;
    assert_eq!(record.status, ExecutionStatus::Succeeded, "{:?}", execution.log);
    assert_eq!(lines_of(&execution, Stream::Stdout), vec!["late v1"]);

    // Once nothing runs in it, the next build removes it.
    env.paige
        .put_code_file("bot", "version.txt", b"v3", &actor())
        .await
        .unwrap();
    assert_eq!(entry_output(&env, "bot").await, vec!["now v3"]);
    assert!(!old_tree.exists());
    assert_eq!(trees(&env, id).len(), 1, "{:?}", trees(&env, id));
}

/// Extra files of a pushed directory: (path, bytes).
type Files = Vec<(String, Vec<u8>)>;

/// A pushed directory that must be refused: what, how to plant it in a
/// copy of the hello bot (given a file outside), error code, message.
type Refused = (&'static str, fn(&Path, &Path), &'static str, &'static str);

both_backends!(a_refused_push_changes_nothing);

async fn a_refused_push_changes_nothing(env: Env) {
    env.project("bot").await;
    let id = project_id(&env, "bot").await;
    let v1 = env.dir.path().join("v1");
    hello(&v1, "v1", &[]);
    env.paige.push_code("bot", &v1, &actor()).await.unwrap();
    assert_eq!(entry_output(&env, "bot").await, vec!["hello from v1"]);
    let before = stored_code(&env, id).await;
    let trees_before = trees(&env, id);

    let limits = CodeLimits {
        max_file_bytes: 1000,
        max_total_bytes: 5000,
        max_files: 10,
        ..CodeLimits::default()
    };
    // Entries are read in name order: app.js and friends are read before
    // the one that is refused.
    let over_limits: Vec<(&str, Files, &str, &str)> = vec![
        (
            "a file too large",
            vec![("zz/big.bin".to_owned(), vec![0u8; 1001])],
            "code_file_too_large",
            "a file may have at most 1000 bytes",
        ),
        (
            "too much in all",
            (0..6).map(|i| (format!("data/{i}.bin"), vec![1u8; 900])).collect(),
            "code_too_large",
            "larger than 5000 bytes in all",
        ),
        (
            "too many files",
            (0..12).map(|i| (format!("many/{i:02}.js"), b"//".to_vec())).collect(),
            "code_too_many_files",
            "more than 10 files",
        ),
    ];
    for (what, files, code, message) in over_limits {
        let dir = env.dir.path().join(what.replace(' ', "-"));
        let extra: Vec<(&str, &[u8])> = files.iter().map(|(p, b)| (p.as_str(), b.as_slice())).collect();
        hello(&dir, "v2", &extra);
        let err = env
            .paige
            .push_code_with_limits("bot", &dir, &limits, &actor())
            .await
            .unwrap_err();
        assert_eq!(err.code(), code, "{what}: {err}");
        assert!(err.to_string().contains(message), "{what}: {err}");
        assert_eq!(stored_code(&env, id).await, before, "{what}: the stored code changed");
        assert_eq!(entry_output(&env, "bot").await, vec!["hello from v1"], "{what}");
        assert_eq!(trees(&env, id), trees_before, "{what}: this node's copy changed");
    }

    let bad_paths: Vec<Refused> = vec![
        (
            "a reserved name",
            |dir, _| {
                std::fs::write(dir.join("zz.js"), "")
                    .and_then(|()| std::fs::write(dir.join(".paige-x"), ""))
                    .unwrap()
            },
            "invalid_code_path",
            "names starting with `.paige-` are reserved",
        ),
        (
            "a name that is not UTF-8",
            |dir, _| std::fs::write(dir.join(OsStr::from_bytes(b"bad-\xff.js")), "").unwrap(),
            "invalid_code_path",
            "file names must be UTF-8",
        ),
        (
            "too deep",
            |dir, _| {
                let deep = (0..33).fold(dir.to_path_buf(), |p, _| p.join("d"));
                std::fs::create_dir_all(&deep).unwrap();
                std::fs::write(deep.join("x.js"), "").unwrap();
            },
            "invalid_code_path",
            "nested deeper than 32 levels",
        ),
        (
            "a symlink out",
            |dir, outside| {
                std::fs::create_dir(dir.join("zz")).unwrap();
                let target = Path::new("../..").join(outside.file_name().unwrap());
                symlink(target, dir.join("zz/link")).unwrap();
            },
            "invalid_code_path",
            "symlink that points outside the directory",
        ),
        (
            "an absolute symlink",
            |dir, outside| symlink(outside, dir.join("abs")).unwrap(),
            "invalid_code_path",
            "absolute target",
        ),
        (
            "a dangling symlink",
            |dir, _| symlink("no-such-file", dir.join("dangling")).unwrap(),
            "invalid_code_path",
            "does not resolve",
        ),
        (
            "a fifo",
            |dir, _| {
                let made = std::process::Command::new("mkfifo")
                    .arg(dir.join("pipe"))
                    .status()
                    .unwrap();
                assert!(made.success());
            },
            "invalid_code_path",
            "only regular files, directories and symlinks",
        ),
    ];
    let outside = env.dir.path().join("outside.txt");
    std::fs::write(&outside, "not for the bot").unwrap();
    for (what, plant, code, message) in bad_paths {
        let dir = env.dir.path().join(what.replace(' ', "-"));
        hello(&dir, "v2", &[]);
        plant(&dir, &outside);
        let err = env.paige.push_code("bot", &dir, &actor()).await.unwrap_err();
        assert_eq!(err.code(), code, "{what}: {err}");
        assert!(err.to_string().contains(message), "{what}: {err}");
        assert_eq!(stored_code(&env, id).await, before, "{what}: the stored code changed");
        assert_eq!(entry_output(&env, "bot").await, vec!["hello from v1"], "{what}");
        assert_eq!(trees(&env, id), trees_before, "{what}: this node's copy changed");
    }

    // Through the CLI too.
    let dir = env.dir.path().join("a-symlink-out");
    let out = env.cli(&["code", "push", "bot", dir.to_str().unwrap()], b"");
    assert_eq!(out.status.code(), Some(2), "the usage class");
    assert!(
        stderr(&out).contains("symlink that points outside the directory"),
        "{}",
        stderr(&out)
    );
    assert_eq!(stored_code(&env, id).await, before);
    assert_eq!(
        audited(&env, id, "code.push").await.len(),
        1,
        "a refused push was audited"
    );
}

both_backends!(symlinks_may_point_inside_the_pushed_directory_only);

async fn symlinks_may_point_inside_the_pushed_directory_only(env: Env) {
    env.project("bot").await;
    let id = project_id(&env, "bot").await;
    let dir = env.dir.path().join("inside");
    hello(&dir, "v1", &[("lib/real.js", b"module.exports = 'real';")]);
    symlink("lib/real.js", dir.join("alias.js")).unwrap();
    symlink("../version.json", dir.join("lib/version.json")).unwrap();
    let summary = env.paige.push_code("bot", &dir, &actor()).await.unwrap();
    assert_eq!(summary.files, 3, "symlinks are not counted as files");
    let (_, entries) = stored_code(&env, id).await;
    let links: Vec<(&str, &[u8])> = entries
        .iter()
        .filter(|(_, kind, _)| kind == "symlink")
        .map(|(p, _, c)| (p.as_str(), c.as_slice()))
        .collect();
    assert_eq!(
        links,
        vec![
            ("alias.js", b"lib/real.js".as_slice()),
            ("lib/version.json", b"../version.json".as_slice())
        ]
    );

    assert_eq!(entry_output(&env, "bot").await, vec!["hello from v1"]);
    let tree = live(&env, id);
    assert!(
        tree.join("alias.js")
            .symlink_metadata()
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(
        std::fs::read_to_string(tree.join("alias.js")).unwrap(),
        "module.exports = 'real';"
    );
    assert_eq!(
        std::fs::canonicalize(tree.join("lib/version.json")).unwrap(),
        tree.join("version.json")
    );

    // Not a directory at all.
    let err = env
        .paige
        .push_code("bot", &dir.join("app.js"), &actor())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "invalid_code_dir");
}

both_backends!(put_code_file_writes_one_file_and_never_follows_a_symlink);

async fn put_code_file_writes_one_file_and_never_follows_a_symlink(env: Env) {
    env.project("bot").await;
    let id = project_id(&env, "bot").await;
    // The first file starts the code.
    env.paige
        .put_code_file("bot", "app.js", b"console.log(require('./lib/v.js'))", &actor())
        .await
        .unwrap();
    let summary = env
        .paige
        .put_code_file("bot", "lib/v.js", b"module.exports = 'put v1';", &actor())
        .await
        .unwrap();
    assert_eq!((summary.files, summary.bytes), (2, 34 + 26));
    let (revision, entries) = stored_code(&env, id).await;
    assert_eq!((revision, paths(&entries)), (Some(2), vec!["app.js", "lib/v.js"]));
    assert_eq!(entry_output(&env, "bot").await, vec!["put v1"]);
    env.paige
        .put_code_file("bot", "lib/v.js", b"module.exports = 'put v2';", &actor())
        .await
        .unwrap();
    assert_eq!(entry_output(&env, "bot").await, vec!["put v2"]);
    assert_eq!(
        audited(&env, id, "code.put").await,
        vec![
            "revision 1: app.js (34 bytes)",
            "revision 2: lib/v.js (26 bytes)",
            "revision 3: lib/v.js (26 bytes)"
        ]
    );

    for bad in ["../escape.js", "/tmp/abs.js", "lib/../../x.js"] {
        let err = env.paige.put_code_file("bot", bad, b"x", &actor()).await.unwrap_err();
        assert_eq!(err.code(), "invalid_code_path", "{bad}");
    }

    // A symlink of the stored code is never written through.
    let dir = env.dir.path().join("with-link");
    std::fs::create_dir_all(dir.join("lib")).unwrap();
    std::fs::write(dir.join("app.js"), "console.log(require('./lib/v.js'))").unwrap();
    std::fs::write(dir.join("lib/v.js"), "module.exports = 'linked';").unwrap();
    symlink("lib", dir.join("evil")).unwrap();
    env.paige.push_code("bot", &dir, &actor()).await.unwrap();
    let pushed = stored_code(&env, id).await;
    let err = env
        .paige
        .put_code_file("bot", "evil/planted.js", b"x", &actor())
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("a directory on the path is a symlink"),
        "{err}"
    );
    // A file in the way of a directory, a directory in the way of a file.
    let err = env
        .paige
        .put_code_file("bot", "app.js/x", b"x", &actor())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("in the way"), "{err}");
    let err = env.paige.put_code_file("bot", "lib", b"x", &actor()).await.unwrap_err();
    assert!(err.to_string().contains("directory of that name"), "{err}");
    assert_eq!(
        stored_code(&env, id).await,
        pushed,
        "a refused write changed the stored code"
    );

    // A symlink planted in this node's copy (say, by a bot at run time) is
    // never followed: writes go to the database, and the next copy is
    // built afresh.
    assert_eq!(entry_output(&env, "bot").await, vec!["linked"]);
    let outside = env.dir.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    symlink(&outside, live(&env, id).join("planted")).unwrap();
    env.paige
        .put_code_file("bot", "planted/x.js", b"module.exports = 'x';", &actor())
        .await
        .unwrap();
    assert_eq!(entry_output(&env, "bot").await, vec!["linked"]);
    assert!(!outside.join("x.js").exists(), "a write went through a planted symlink");
    let tree = live(&env, id);
    assert!(tree.join("planted").symlink_metadata().unwrap().is_dir());
    assert_eq!(
        std::fs::read_to_string(tree.join("planted/x.js")).unwrap(),
        "module.exports = 'x';"
    );

    // Size limits, checked against the stored code.
    let before = stored_code(&env, id).await;
    let limits = CodeLimits {
        max_file_bytes: 100,
        max_total_bytes: 150,
        max_files: 3,
        ..CodeLimits::default()
    };
    let err = env
        .paige
        .put_code_file_with_limits("bot", "big.js", &[b'x'; 101], &limits, &actor())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "code_file_too_large");
    // 34 + 26 bytes, and 100 in place of 21: over 150 in all.
    let err = env
        .paige
        .put_code_file_with_limits("bot", "planted/x.js", &[b'x'; 100], &limits, &actor())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "code_too_large", "{err}");
    assert!(err.to_string().contains("larger than 150 bytes in all"), "{err}");
    let err = env
        .paige
        .put_code_file_with_limits("bot", "one-more.js", b"//", &limits, &actor())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "code_too_many_files", "{err}");
    assert!(err.to_string().contains("more than 3 files"), "{err}");
    // Overwriting within the limits is fine.
    env.paige
        .put_code_file_with_limits("bot", "planted/x.js", b"module.exports = 'y';", &limits, &actor())
        .await
        .unwrap();
    let (revision, entries) = stored_code(&env, id).await;
    assert_eq!(revision, before.0.map(|r| r + 1));
    assert_eq!(
        paths(&entries),
        paths(&before.1),
        "a refused write left an entry behind"
    );
    assert_eq!(entry_output(&env, "bot").await, vec!["linked"]);
    let names: Vec<_> = std::fs::read_dir(live(&env, id))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        names.iter().all(|n| !n.to_string_lossy().starts_with(".paige-")),
        "{names:?}"
    );
}

both_backends!(this_nodes_copy_is_rebuilt_from_the_database);

async fn this_nodes_copy_is_rebuilt_from_the_database(env: Env) {
    env.project("bot").await;
    let id = project_id(&env, "bot").await;
    let v1 = env.dir.path().join("v1");
    hello(&v1, "v1", &[]);
    env.paige.push_code("bot", &v1, &actor()).await.unwrap();
    assert_eq!(entry_output(&env, "bot").await, vec!["hello from v1"]);

    // Deleting the whole local copy costs only a rebuild.
    std::fs::remove_dir_all(env.data_dir().join("code")).unwrap();
    assert_eq!(entry_output(&env, "bot").await, vec!["hello from v1"]);
    let tree = live(&env, id);
    assert!(
        tree.file_name().unwrap().to_string_lossy().starts_with("r1-"),
        "{tree:?}"
    );

    // A copy named for the current revision but holding other content is
    // not used: the name carries the start of the content's digest.
    let forged = tree.parent().unwrap().join("r1-0000000000000000-forged");
    hello(&forged, "stale", &[]);
    let link = env.paige.code_dir(id).join("forged-link");
    symlink("trees/r1-0000000000000000-forged", &link).unwrap();
    std::fs::rename(&link, env.paige.code_dir(id).join("current")).unwrap();
    assert_eq!(entry_output(&env, "bot").await, vec!["hello from v1"]);
    assert_ne!(live(&env, id), forged);

    // A copy is built only from content that matches its revision's
    // digest: an entry changed behind paige's back is refused, not run.
    env.db()
        .await
        .execute(
            "UPDATE code_files SET content = ? WHERE project_id = ? AND path = 'version.json'",
            &[br#"{"version": "tampered"}"#.as_slice().into(), id.into()],
        )
        .await;
    std::fs::remove_dir_all(env.data_dir().join("code")).unwrap();
    let request = ExecutionRequest::entry_point(serde_json::json!({}), Trigger::Test, actor());
    let err = env.paige.execute("bot", request, None).await.unwrap_err();
    assert!(err.to_string().contains("does not match its digest"), "{err}");
    assert!(!err.to_string().contains("tampered"), "{err}");
    let names = trees(&env, id);
    assert!(names.is_empty(), "a rejected build was left behind: {names:?}");
}

both_backends!(code_kept_on_disk_by_an_earlier_version_is_imported);

async fn code_kept_on_disk_by_an_earlier_version_is_imported(env: Env) {
    // The layout before code was stored: current -> trees/<millis>-<random>.
    fn plant_legacy(env: &Env, project_id: i64, version: &str) -> PathBuf {
        let dir = env.paige.code_dir(project_id);
        let tree = dir.join("trees/1700000000000-0123456789abcdef");
        hello(&tree, version, &[]);
        symlink("trees/1700000000000-0123456789abcdef", dir.join("current")).unwrap();
        tree
    }
    env.project("bot").await;
    let id = project_id(&env, "bot").await;
    let legacy = plant_legacy(&env, id, "legacy");
    assert_eq!(entry_output(&env, "bot").await, vec!["hello from legacy"]);
    let (revision, entries) = stored_code(&env, id).await;
    assert_eq!((revision, paths(&entries)), (Some(1), vec!["app.js", "version.json"]));
    assert_eq!(audited(&env, id, "code.import").await.len(), 1);
    assert!(!legacy.exists(), "the copy built from the database replaces it");

    // A file written to such a project adds to the imported code.
    env.project("bot2").await;
    let id = project_id(&env, "bot2").await;
    plant_legacy(&env, id, "legacy two");
    env.paige
        .put_code_file("bot2", "extra.js", b"// new", &actor())
        .await
        .unwrap();
    let (revision, entries) = stored_code(&env, id).await;
    assert_eq!(
        (revision, paths(&entries)),
        (Some(2), vec!["app.js", "extra.js", "version.json"])
    );
    assert_eq!(entry_output(&env, "bot2").await, vec!["hello from legacy two"]);
}

both_backends!(concurrent_executions_after_a_push_share_one_new_copy, multi_thread);

async fn concurrent_executions_after_a_push_share_one_new_copy(env: Env) {
    env.project("bot").await;
    let id = project_id(&env, "bot").await;
    let app = "console.log(`${require('./version.json').version} in ${process.cwd()}`);";
    env.paige
        .put_code_file("bot", "app.js", app.as_bytes(), &actor())
        .await
        .unwrap();
    for version in ["v1", "v2"] {
        let json = format!(r#"{{"version": "{version}"}}"#);
        env.paige
            .put_code_file("bot", "version.json", json.as_bytes(), &actor())
            .await
            .unwrap();
        let mut runs = tokio::task::JoinSet::new();
        for _ in 0..8 {
            let paige = env.paige.clone();
            runs.spawn(async move {
                let request = ExecutionRequest::entry_point(serde_json::json!({}), Trigger::Test, actor());
                let record = paige.execute("bot", request, None).await.unwrap();
                paige.execution("bot", record.id).await.unwrap()
            });
        }
        let mut outputs = std::collections::BTreeSet::new();
        for execution in runs.join_all().await {
            assert_eq!(
                execution.record.status,
                ExecutionStatus::Succeeded,
                "{:?}",
                execution.log
            );
            outputs.insert(lines_of(&execution, Stream::Stdout).join("\n"));
        }
        // All eight ran the new version, shown at the sandbox's fixed path.
        assert_eq!(
            outputs.into_iter().collect::<Vec<_>>(),
            vec![format!("{version} in {}", paige::runtime::bwrap::CODE_DIR)]
        );
    }
    assert_eq!(trees(&env, id).len(), 1, "{:?}", trees(&env, id));
}

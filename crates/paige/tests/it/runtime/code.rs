//! Bot code: paths confined to the project's tree, whole-tree pushes that
//! are atomic, size limits with clear errors.

use std::os::unix::fs::symlink;
use std::path::Path;

use paige::Error;
use paige::runtime::{CodeLimits, ExecutionRequest, ExecutionStatus, Stream, Trigger, check_code_path};

use super::{bot, lines_of, run, stored};
use crate::common::{Env, actor, stderr, stdout};

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

fn trees(env: &Env, project_id: i64) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(env.paige.code_dir(project_id).join("trees"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
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

#[tokio::test]
async fn a_push_replaces_the_whole_tree() {
    let env = Env::new().await;
    env.project("bot").await;
    let v1 = env.dir.path().join("v1");
    hello(&v1, "v1", &[("lib/old.js", b"// v1 only")]);
    let out = env.cli(&["code", "push", "bot", v1.to_str().unwrap()], b"");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        format!("pushed 3 files ({} bytes) to bot\n", dir_bytes(&v1))
    );
    assert_eq!(entry_output(&env, "bot").await, vec!["hello from v1"]);

    let v2 = env.dir.path().join("v2");
    hello(&v2, "v2", &[]);
    env.paige.push_code("bot", &v2, &actor()).await.unwrap();
    assert_eq!(entry_output(&env, "bot").await, vec!["hello from v2"]);
    let project = env.paige.project("bot").await.unwrap();
    let live = std::fs::canonicalize(env.paige.code_dir(project.id).join("current")).unwrap();
    assert!(live.join("app.js").exists());
    assert!(!live.join("lib/old.js").exists(), "a file of the old push survived");
    // The previous tree is kept (for executions still running in it), no more.
    let v3 = env.dir.path().join("v3");
    hello(&v3, "v3", &[]);
    env.paige.push_code("bot", &v3, &actor()).await.unwrap();
    assert_eq!(trees(&env, project.id).len(), 2, "{:?}", trees(&env, project.id));

    let audit = env.cli(&["audit", "bot"], b"");
    assert!(stdout(&audit).contains("code.push"), "{}", stdout(&audit));
}

/// Extra files of a pushed directory: (path, bytes).
type Files = Vec<(String, Vec<u8>)>;

fn dir_bytes(dir: &Path) -> u64 {
    crate::common::all_files(dir).iter().map(|(_, b)| b.len() as u64).sum()
}

#[tokio::test]
async fn a_push_that_fails_half_way_leaves_the_old_code_live() {
    let env = Env::new().await;
    env.project("bot").await;
    let v1 = env.dir.path().join("v1");
    hello(&v1, "v1", &[]);
    env.paige.push_code("bot", &v1, &actor()).await.unwrap();
    let project = env.paige.project("bot").await.unwrap();
    let before = trees(&env, project.id);

    let limits = CodeLimits {
        max_file_bytes: 1000,
        max_total_bytes: 5000,
        max_files: 10,
        ..CodeLimits::default()
    };
    // Files are copied in name order: app.js and friends are copied before
    // the one that is refused.
    let cases: Vec<(&str, Files, &str, &str)> = vec![
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
    for (what, files, code, message) in cases {
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
        assert_eq!(entry_output(&env, "bot").await, vec!["hello from v1"], "{what}");
        assert_eq!(
            trees(&env, project.id),
            before,
            "{what}: a staging tree was left behind"
        );
    }

    // Through the CLI: a symlink out, found after other files were copied.
    let dir = env.dir.path().join("link-out");
    hello(&dir, "v2", &[]);
    let secret_file = env.dir.path().join("outside.txt");
    std::fs::write(&secret_file, "not for the bot").unwrap();
    std::fs::create_dir(dir.join("zz")).unwrap();
    symlink("../../outside.txt", dir.join("zz/link")).unwrap();
    let out = env.cli(&["code", "push", "bot", dir.to_str().unwrap()], b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("symlink that points outside the directory"),
        "{}",
        stderr(&out)
    );
    assert_eq!(entry_output(&env, "bot").await, vec!["hello from v1"]);
    assert_eq!(trees(&env, project.id), before);
}

#[tokio::test]
async fn symlinks_may_point_inside_the_pushed_directory_only() {
    let env = Env::new().await;
    env.project("bot").await;
    let outside = env.dir.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("secret.txt"), "outside").unwrap();

    let dir = env.dir.path().join("absolute");
    hello(&dir, "v1", &[]);
    symlink(outside.join("secret.txt"), dir.join("abs")).unwrap();
    let err = env.paige.push_code("bot", &dir, &actor()).await.unwrap_err();
    assert!(err.to_string().contains("absolute target"), "{err}");

    let dir = env.dir.path().join("dangling");
    hello(&dir, "v1", &[]);
    symlink("no-such-file", dir.join("dangling")).unwrap();
    let err = env.paige.push_code("bot", &dir, &actor()).await.unwrap_err();
    assert!(err.to_string().contains("does not resolve"), "{err}");

    let dir = env.dir.path().join("inside");
    hello(&dir, "v1", &[("lib/real.js", b"module.exports = 'real';")]);
    symlink("lib/real.js", dir.join("alias.js")).unwrap();
    symlink("../version.json", dir.join("lib/version.json")).unwrap();
    let summary = env.paige.push_code("bot", &dir, &actor()).await.unwrap();
    assert_eq!(summary.files, 3);
    let project = env.paige.project("bot").await.unwrap();
    let live = std::fs::canonicalize(env.paige.code_dir(project.id).join("current")).unwrap();
    assert_eq!(
        std::fs::read_to_string(live.join("alias.js")).unwrap(),
        "module.exports = 'real';"
    );
    assert_eq!(
        std::fs::canonicalize(live.join("lib/version.json")).unwrap(),
        live.join("version.json")
    );

    // Other kinds of files are refused.
    let dir = env.dir.path().join("fifo");
    hello(&dir, "v1", &[]);
    let status = std::process::Command::new("mkfifo")
        .arg(dir.join("pipe"))
        .status()
        .unwrap();
    assert!(status.success());
    let err = env.paige.push_code("bot", &dir, &actor()).await.unwrap_err();
    assert!(err.to_string().contains("only regular files"), "{err}");
    // Not a directory at all.
    let err = env
        .paige
        .push_code("bot", &dir.join("app.js"), &actor())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "invalid_code_dir");
}

#[tokio::test]
async fn put_code_file_writes_one_file_and_never_follows_a_symlink() {
    let env = Env::new().await;
    env.project("bot").await;
    // The first file creates the tree.
    env.paige
        .put_code_file("bot", "app.js", b"console.log(require('./lib/v.js'))", &actor())
        .await
        .unwrap();
    let summary = env
        .paige
        .put_code_file("bot", "lib/v.js", b"module.exports = 'put v1';", &actor())
        .await
        .unwrap();
    assert_eq!(summary.files, 2);
    assert_eq!(entry_output(&env, "bot").await, vec!["put v1"]);
    env.paige
        .put_code_file("bot", "lib/v.js", b"module.exports = 'put v2';", &actor())
        .await
        .unwrap();
    assert_eq!(entry_output(&env, "bot").await, vec!["put v2"]);

    for bad in ["../escape.js", "/tmp/abs.js", "lib/../../x.js"] {
        let err = env.paige.put_code_file("bot", bad, b"x", &actor()).await.unwrap_err();
        assert_eq!(err.code(), "invalid_code_path", "{bad}");
    }
    // A symlink planted in the tree (say, by a bot at run time) is not followed.
    let project = env.paige.project("bot").await.unwrap();
    let live = std::fs::canonicalize(env.paige.code_dir(project.id).join("current")).unwrap();
    let outside = env.dir.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    symlink(&outside, live.join("evil")).unwrap();
    let err = env
        .paige
        .put_code_file("bot", "evil/planted.js", b"x", &actor())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("symlink"), "{err}");
    assert!(!outside.join("planted.js").exists());
    // A file in the way of a directory, a directory in the way of a file.
    let err = env
        .paige
        .put_code_file("bot", "app.js/x", b"x", &actor())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("in the way"), "{err}");
    let err = env.paige.put_code_file("bot", "lib", b"x", &actor()).await.unwrap_err();
    assert!(err.to_string().contains("directory of that name"), "{err}");

    // Size limits.
    let limits = CodeLimits {
        max_file_bytes: 100,
        max_total_bytes: 150,
        ..CodeLimits::default()
    };
    let err = env
        .paige
        .put_code_file_with_limits("bot", "big.js", &[b'x'; 101], &limits, &actor())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "code_file_too_large");
    let err = env
        .paige
        .put_code_file_with_limits("bot", "more.js", &[b'x'; 100], &limits, &actor())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "code_too_large");
    assert_eq!(entry_output(&env, "bot").await, vec!["put v2"]);
    // Nothing was left behind by the refused writes.
    assert!(!live.join("big.js").exists() && !live.join("more.js").exists());
    let names: Vec<_> = std::fs::read_dir(&live)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        names.iter().all(|n| !n.to_string_lossy().starts_with(".paige-")),
        "{names:?}"
    );
}

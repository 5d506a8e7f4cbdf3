use super::*;

#[test]
fn passwd_and_group_name_the_bot_and_no_one_twice() {
    let text = passwd(200_007, 200_007);
    assert!(
        text.starts_with("paige:x:200007:200007:Paige bot:/tmp:/bin/sh\n"),
        "{text}"
    );
    assert!(text.contains("\nroot:x:0:0:"));
    assert_eq!(passwd(0, 0).matches(":x:0:").count(), 1);
    assert!(group(200_007).starts_with("paige:x:200007:\n"));
    assert_eq!(group(65_534).matches(":x:65534:").count(), 1);
}

fn fds() -> SetupFds<'static> {
    SetupFds {
        info: 11,
        block: 12,
        late_args: None,
        passwd: 13,
        group: 14,
        nsswitch: 15,
        etc_files: &[("/etc/hosts", 21)],
        start: Some(17),
    }
}

fn position(args: &[OsString], seq: &[&str]) -> Option<usize> {
    args.windows(seq.len())
        .position(|w| w.iter().zip(seq).all(|(a, b)| a == OsStr::new(b)))
}

#[test]
fn the_command_line_shows_the_code_read_only_and_hides_paiges_files() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = std::fs::canonicalize(dir.path()).unwrap();
    let data = cwd.join("paige-data");
    std::fs::create_dir(&data).unwrap();
    let code = cwd.join("tree");
    std::fs::create_dir(&code).unwrap();
    let hidden = vec![data.clone()];
    let args = [OsString::from("app.js")];
    let spec = Spec {
        program: OsStr::new("node"),
        args: &args,
        code: Some(&code),
        cwd: Cwd::Host(&cwd),
        user: Some((200_001, 200_001)),
        hidden: &hidden,
        tmpfs_bytes: 1 << 20,
        socket_dir: None,
        awaits_command: false,
    };
    let argv = spec.args(fds(), &[7]).unwrap();
    let s = |p: &Path| p.to_str().unwrap().to_owned();
    assert!(
        position(&argv, &["--ro-bind", &s(&code), CODE_DIR]).is_some(),
        "{argv:?}"
    );
    let bind = position(&argv, &["--ro-bind", &s(&cwd), &s(&cwd)]).unwrap();
    let mask = position(&argv, &["--tmpfs", &s(&data)]).unwrap();
    assert!(mask > bind, "the mask goes over the bind: {argv:?}");
    assert!(position(&argv, &["--size", "1048576", "--tmpfs", "/tmp"]).is_some());
    // The sandbox's own files, and the host's regular files of /etc, are
    // copied (no mount); the rest of /etc is bound. All before the root
    // is made read-only.
    let read_only = position(&argv, &["--remount-ro", "/"]).unwrap();
    for (fd, file) in [("13", "/etc/passwd"), ("21", "/etc/hosts")] {
        let copy = position(&argv, &["--perms", "0444", "--file", fd, file]);
        assert!(copy.is_some_and(|at| at < read_only), "{file}: {argv:?}");
    }
    assert!(position(&argv, &["--ro-bind-try", "/etc/hosts"]).is_none(), "{argv:?}");
    assert!(position(&argv, &["--ro-bind-try", "/etc/ssl", "/etc/ssl"]).is_some());
    assert!(position(&argv, &["--ro-bind-data"]).is_none(), "{argv:?}");
    assert!(position(&argv, &["--info-fd", "11", "--block-fd", "12"]).is_some());
    assert!(position(&argv, &["--args"]).is_none(), "no late arguments unless asked");
    let late = SetupFds {
        late_args: Some(16),
        ..fds()
    };
    let with_late = spec.args(late, &[7]).unwrap();
    let at = position(&with_late, &["--args", "16"]).expect("the late arguments' pipe");
    assert!(at < position(&with_late, &["--"]).unwrap(), "{with_late:?}");
    assert!(position(&argv, &["--chdir", &s(&cwd)]).is_some());
    // Root: no user namespace; paige-start, from its descriptor, switches
    // users in front of the bot, after the shell that closes the inherited
    // descriptor 7.
    assert!(position(&argv, &["--unshare-user"]).is_none());
    let shell = position(
        &argv,
        &[
            "/bin/sh",
            "-c",
            "exec 7<&-; exec /usr/bin/env -u OLDPWD -u SHLVL -u _ \"$@\"",
            "sh",
        ],
    )
    .unwrap();
    let start = position(&argv, &["/proc/self/fd/17", "200001", "200001", "node", "app.js"]).unwrap();
    assert!(shell < start);
    assert_eq!(start + 5, argv.len(), "{argv:?}");
    assert!(position(&argv, &["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]).is_some());
    // Not open: no sandbox, rather than a bot left root.
    let closed = SetupFds { start: None, ..fds() };
    let err = spec.args(closed, &[]).unwrap_err();
    assert!(err.to_string().contains("paige-start is not open"), "{err}");

    // Started inside paige's files: refused.
    let inside = Spec {
        cwd: Cwd::Host(&data),
        ..spec.clone()
    };
    let err = inside.args(fds(), &[]).unwrap_err();
    assert!(err.to_string().contains("inside paige's own files"), "{err}");

    // Without root: a user namespace, no user switch (paige-start's
    // descriptor unused), a two-digit descriptor closed by bash.
    let own = Spec {
        user: None,
        cwd: Cwd::Code,
        ..spec
    };
    let argv = own.args(fds(), &[12]).unwrap();
    assert!(position(&argv, &["--unshare-user", "--disable-userns"]).is_some());
    assert!(position(&argv, &["/proc/self/fd/17"]).is_none(), "{argv:?}");
    assert!(position(&argv, &["--cap-add"]).is_none(), "{argv:?}");
    assert!(
        position(
            &argv,
            &[
                "/bin/bash",
                "-c",
                "exec 12<&-; exec /usr/bin/env -u OLDPWD -u SHLVL -u _ \"$@\"",
                "sh"
            ]
        )
        .is_some()
    );
    assert!(position(&argv, &["--chdir", CODE_DIR]).is_some());
    assert!(position(&argv, &["--ro-bind", &s(&cwd), &s(&cwd)]).is_none());

    // Nothing to close: bwrap execs the bot itself, nothing in between
    // (the PWD bwrap sets is the platform's).
    let argv = own.args(fds(), &[]).unwrap();
    assert!(position(&argv, &["/bin/sh"]).is_none() && position(&argv, &["/bin/bash"]).is_none());
    assert!(position(&argv, &["/usr/bin/env"]).is_none(), "{argv:?}");
    assert_eq!(&argv[argv.len() - 3..], ["--", "node", "app.js"]);
}

#[test]
fn a_prepared_sandbox_runs_paige_start_waiting_on_its_stdin_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = std::fs::canonicalize(dir.path()).unwrap();
    let spec = Spec {
        program: OsStr::new(""),
        args: &[],
        code: None,
        cwd: Cwd::Host(&cwd),
        user: Some((200_001, 200_001)),
        hidden: &[],
        tmpfs_bytes: 1 << 20,
        socket_dir: None,
        awaits_command: true,
    };
    // Even with a descriptor to close: paige-start closes it itself.
    let argv = spec.args(fds(), &[7]).unwrap();
    assert_eq!(
        &argv[argv.len() - 5..],
        ["--", "/proc/self/fd/17", "--stdin", "200001", "200001"],
        "{argv:?}"
    );
    assert!(position(&argv, &["--chdir", cwd.to_str().unwrap()]).is_some());
    assert!(position(&argv, &["--cap-add", "CAP_SETUID"]).is_some());
    // Without root: no ids, no switch; paige-start still reads the command.
    let own = Spec {
        user: None,
        ..spec.clone()
    };
    let argv = own.args(fds(), &[]).unwrap();
    assert_eq!(&argv[argv.len() - 3..], ["--", "/proc/self/fd/17", "--stdin"]);
    assert!(position(&argv, &["--cap-add"]).is_none(), "{argv:?}");
    // paige-start not open: no sandbox.
    let closed = SetupFds { start: None, ..fds() };
    assert!(spec.args(closed, &[]).is_err());
}

#[test]
fn a_binary_missing_at_first_is_found_once_installed_then_kept() {
    static FOUND: OnceLock<PathBuf> = OnceLock::new();
    assert_eq!(found_once(&FOUND, || None), None);
    let installed = PathBuf::from("/usr/bin/installed-later");
    assert_eq!(
        found_once(&FOUND, || Some(installed.clone())),
        Some(installed.as_path())
    );
    // Kept: not looked for again.
    let kept = found_once(&FOUND, || panic!("looked for again"));
    assert_eq!(kept, Some(installed.as_path()));
}

#[test]
fn paige_start_is_opened_only_when_no_one_else_can_write_it() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("paige-start");
    std::fs::write(&file, b"\x7fELF").unwrap();
    let mode = |m: u32| std::fs::set_permissions(&file, std::fs::Permissions::from_mode(m)).unwrap();
    mode(0o755);
    let fd = open_trusted(&file).unwrap();
    assert!(
        rustix::io::fcntl_getfd(&fd)
            .unwrap()
            .contains(rustix::io::FdFlags::CLOEXEC)
    );
    for writable in [0o775, 0o757, 0o777] {
        mode(writable);
        let err = open_trusted(&file).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::PermissionDenied, "{writable:o}");
        assert!(err.to_string().contains("no one else can write"), "{err}");
    }
    mode(0o755);
    assert!(open_trusted(dir.path()).is_err(), "a directory");
    assert!(open_trusted(&dir.path().join("absent")).is_err());
    if rustix::process::geteuid().is_root() {
        // Owned by another user: refused, whatever its mode.
        std::os::unix::fs::chown(&file, Some(4242), None).unwrap();
        assert_eq!(open_trusted(&file).unwrap_err().kind(), io::ErrorKind::PermissionDenied);
    }
}

#[test]
fn the_regular_files_of_etc_are_opened_to_be_copied_and_nothing_else() {
    let opened = open_etc_files();
    for (path, fd) in &opened {
        assert!(ETC_ENTRIES.contains(path), "{path}");
        let meta = std::fs::metadata(path).unwrap();
        assert!(meta.is_file() && meta.len() <= ETC_COPY_MAX_BYTES, "{path}");
        let flags = rustix::io::fcntl_getfd(fd).unwrap();
        assert!(
            flags.contains(rustix::io::FdFlags::CLOEXEC),
            "{path}: opened inheritable"
        );
    }
    for entry in ETC_ENTRIES {
        let small_file = std::fs::metadata(entry).is_ok_and(|m| m.is_file() && m.len() <= ETC_COPY_MAX_BYTES);
        let readable = std::fs::File::open(entry).is_ok();
        assert_eq!(
            opened.iter().any(|(path, _)| path == entry),
            small_file && readable,
            "{entry}"
        );
    }
    // A Debian host has both kinds.
    assert!(opened.iter().any(|(path, _)| *path == "/etc/services"), "{opened:?}");
    assert!(!opened.iter().any(|(path, _)| *path == "/etc/ssl"));
}

#[test]
fn only_small_regular_files_are_copied_and_a_fifo_does_not_block() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| -> &'static str { Box::leak(dir.path().join(name).to_str().unwrap().into()) };
    let (small, large, sub, fifo, absent) = (path("small"), path("large"), path("sub"), path("fifo"), path("absent"));
    std::fs::write(small, b"127.0.0.1 localhost\n").unwrap();
    std::fs::write(large, vec![b'#'; ETC_COPY_MAX_BYTES as usize + 1]).unwrap();
    std::fs::create_dir(sub).unwrap();
    rustix::fs::mknodat(rustix::fs::CWD, fifo, FileType::Fifo, Mode::from_raw_mode(0o600), 0).unwrap();
    // A blocking open of the FIFO would wait here for a writer for ever.
    let opened = open_copyable(&[small, large, sub, fifo, absent]);
    let names: Vec<&str> = opened.iter().map(|(p, _)| *p).collect();
    assert_eq!(names, [small], "the others are bound, or skipped");
    let mut text = String::new();
    std::io::Read::read_to_string(
        &mut std::fs::File::from(opened.into_iter().next().unwrap().1),
        &mut text,
    )
    .unwrap();
    assert_eq!(text, "127.0.0.1 localhost\n");
}

//! The rules of SPEC §2: every rule has a refusing case and an accepting
//! edge case, and a refused write changes nothing.

use paige::secrets::rules::{self, RuleError, ValueWarning};

use crate::common::{Env, actor, both_backends, secret};

#[test]
fn key_rules_refuse_and_accept_at_the_edges() {
    let long_ok = "K".repeat(128);
    let long_bad = "K".repeat(129);
    // (key, expected code or None for accepted, fragment of the message)
    let table: &[(&str, Option<&str>, &str)] = &[
        ("", Some("invalid_key"), "1 to 128 characters"),
        ("A", None, ""),
        (&long_bad, Some("invalid_key"), "this one has 129"),
        (&long_ok, None, ""),
        ("1KEY", Some("invalid_key"), "must not start with a digit"),
        ("K1", None, ""),
        ("_1", None, ""),
        ("openai_api_key", Some("lowercase_key"), "did you mean OPENAI_API_KEY?"),
        ("Stripe_Key", Some("lowercase_key"), "did you mean STRIPE_KEY?"),
        // Never "did you mean" a reserved name: why its upper case is refused.
        (
            "path",
            Some("reserved_key"),
            "PATH is reserved because the runtime sets",
        ),
        ("node_options", Some("reserved_key"), "NODE_OPTIONS is reserved"),
        ("paige_token", Some("reserved_key"), "the prefix PAIGE_"),
        ("ld_preload", Some("reserved_key"), "LD_* variables"),
        ("OPENAI_API_KEY", None, ""),
        ("MY-KEY", Some("invalid_key"), "found '-' at position 2"),
        ("MY KEY", Some("invalid_key"), "found ' ' at position 2"),
        ("KÉY", Some("invalid_key"), "found 'É' at position 1"),
        ("MY_KEY", None, ""),
        (
            "PAIGE_TOKEN",
            Some("reserved_key"),
            "the prefix PAIGE_ belongs to the platform",
        ),
        ("PAIGE", None, ""),
        ("PAIGETOKEN", None, ""),
        ("PATH", Some("reserved_key"), "PATH is reserved"),
        ("PATH_TO_API", None, ""),
        ("HOME", Some("reserved_key"), "home directory"),
        ("PWD", Some("reserved_key"), "the runtime sets the working directory"),
        ("OLDPWD", Some("reserved_key"), "previous working directory"),
        ("SHLVL", Some("reserved_key"), "nesting level"),
        ("_", Some("reserved_key"), "last argument of a command"),
        ("PWD_HASH", None, ""),
        ("_TOKEN", None, ""),
        ("PORT", Some("reserved_key"), "port"),
        ("SHELL", Some("reserved_key"), "shell"),
        ("TZ", Some("reserved_key"), "time zone"),
        ("ENV", Some("reserved_key"), "start-up"),
        ("BASH_ENV", Some("reserved_key"), "bash runs"),
        ("NODE_OPTIONS", Some("reserved_key"), "Node.js reads start-up flags"),
        ("NODE_PATH", Some("reserved_key"), "Node.js loads modules"),
        ("NODE_EXTRA_CA_CERTS", Some("reserved_key"), "TLS certificates"),
        ("NODE_OPTIONS_BACKUP", None, ""),
        ("LD_PRELOAD", Some("reserved_key"), "LD_* variables"),
        ("LD_LIBRARY_PATH", Some("reserved_key"), "LD_* variables"),
        ("DYLD_INSERT_LIBRARIES", Some("reserved_key"), "DYLD_* variables"),
        ("OLD_LD_PRELOAD", None, ""),
        ("PYTHONSTARTUP", Some("reserved_key"), "Python runs"),
        ("JAVA_TOOL_OPTIONS", Some("reserved_key"), "JVM"),
    ];
    for (key, code, fragment) in table {
        match (rules::check_key(key), code) {
            (Ok(()), None) => {}
            (Err(e), Some(code)) => {
                assert_eq!(e.code(), *code, "{key:?}");
                assert!(e.to_string().contains(fragment), "{key:?}: {e}");
            }
            (result, _) => panic!("{key:?}: expected {code:?}, got {result:?}"),
        }
    }
}

#[test]
fn value_rules_refuse_and_accept_at_the_edges() {
    let max = "v".repeat(rules::VALUE_MAX_BYTES);
    let over = "v".repeat(rules::VALUE_MAX_BYTES + 1);
    let table: Vec<(&str, Result<Option<ValueWarning>, RuleError>)> = vec![
        ("abc", Err(RuleError::ValueTooShort(3))),
        ("abcd", Ok(Some(ValueWarning::Short))),
        ("éé", Ok(Some(ValueWarning::Short))), // 4 bytes, 2 characters
        ("abcdefg", Ok(Some(ValueWarning::Short))),
        ("abcdefgh", Ok(None)),
        (&max, Ok(None)),
        (&over, Err(RuleError::ValueTooLarge(rules::VALUE_MAX_BYTES + 1))),
        ("abc\0defgh", Err(RuleError::ValueContainsNul(3))),
        ("line one\nline two\r\nline three", Ok(None)),
    ];
    for (value, expected) in table {
        let got = rules::check_value(&secret(value));
        assert_eq!(got, expected, "value of {} bytes", value.len());
        if let Err(e) = got {
            assert!(!e.to_string().contains(value), "the message echoes the value: {e}");
        }
    }
    assert_eq!(RuleError::ValueTooShort(3).code(), "value_too_short");
    assert_eq!(RuleError::ValueTooLarge(1).code(), "value_too_large");
}

#[test]
fn input_loses_exactly_one_trailing_newline_and_must_be_utf8() {
    use secrecy::ExposeSecret;
    let cases: &[(&[u8], &str)] = &[
        (b"abcd\n", "abcd"),
        (b"abcd\r\n", "abcd"),
        (b"abcd\n\n", "abcd\n"),
        (b"  abcd \t", "  abcd \t"),
        (b"abcd", "abcd"),
        (b"line1\nline2\n", "line1\nline2"),
    ];
    for (input, expected) in cases {
        assert_eq!(rules::value_from_input(input).unwrap().expose_secret(), *expected);
    }
    assert_eq!(
        rules::value_from_input(b"abcd\xff\xfe").unwrap_err(),
        RuleError::ValueNotUtf8(4)
    );
    assert_eq!(RuleError::ValueNotUtf8(4).code(), "value_not_utf8");
}

both_backends!(a_refused_set_changes_nothing);

async fn a_refused_set_changes_nothing(env: Env) {
    env.project("bot").await;
    env.set("bot", "GOOD_KEY", "good-value-1").await;
    let before = env.paige.list_secrets("bot").await.unwrap();
    for (key, value) in [
        ("bad_key", "valid-value"),
        ("PATH", "valid-value"),
        ("GOOD_KEY", "abc"),
        ("GOOD_KEY", "has\0nul-byte"),
    ] {
        let err = env
            .paige
            .set_secret("bot", key, &secret(value), &actor())
            .await
            .unwrap_err();
        assert!(!err.to_string().contains(value));
    }
    assert_eq!(env.paige.list_secrets("bot").await.unwrap(), before);
    assert_eq!(env.paige.resolve("bot").await.unwrap().secrets.len(), 1);
}

both_backends!(a_project_holds_at_most_1000_secrets);

async fn a_project_holds_at_most_1000_secrets(env: Env) {
    env.project("bot").await;
    let entries: Vec<_> = (0..rules::PROJECT_MAX_SECRETS)
        .map(|i| (format!("KEY_{i:04}"), secret(&format!("value-{i:04}"))))
        .collect();
    env.paige.import_secrets("bot", &entries, &actor()).await.unwrap();
    assert_eq!(env.paige.list_secrets("bot").await.unwrap().len(), 1000);

    let err = env
        .paige
        .set_secret("bot", "ONE_MORE", &secret("one-more-value"), &actor())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "too_many_secrets", "{err}");
    assert!(err.to_string().contains("at most 1000 secrets"));
    assert_eq!(env.paige.list_secrets("bot").await.unwrap().len(), 1000);

    // Overwriting an existing key at the limit is still allowed.
    let set = env.set("bot", "KEY_0000", "replacement-value").await;
    assert_eq!(set.outcome.version, 2);
}

both_backends!(a_project_holds_at_most_512_kib_of_values);

async fn a_project_holds_at_most_512_kib_of_values(env: Env) {
    env.project("bot").await;
    let full = "x".repeat(rules::VALUE_MAX_BYTES);
    for i in 0..8 {
        env.set("bot", &format!("BIG_{i}"), &full).await; // 8 × 64 KiB = 512 KiB exactly
    }
    let err = env
        .paige
        .set_secret("bot", "SMALL", &secret("tiny-value"), &actor())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "project_too_large", "{err}");
    assert!(err.to_string().contains("524298"), "{err}");
    assert_eq!(env.paige.list_secrets("bot").await.unwrap().len(), 8);

    // Shrinking a value frees room.
    env.set("bot", "BIG_0", "now-small").await;
    env.set("bot", "SMALL", "tiny-value").await;
    assert_eq!(env.paige.list_secrets("bot").await.unwrap().len(), 9);
}

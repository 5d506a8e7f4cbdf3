//! The role table of SPEC §3. `Paige::authorize` (in `auth/mod.rs`) is
//! the one check every project operation of the API and the dashboard goes
//! through.

use crate::model::Role;

/// What a caller wants to do in a project.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    ListKeys,
    WriteSecrets,
    RunBot,
    /// Replace the bot's code: the same people who may run it.
    PushCode,
    ReadLogs,
    ManageMembers,
    ReadAudit,
}

/// SPEC §3:
///
/// | role      | list keys | set/overwrite/delete | run the bot, read logs | members, audit |
/// |-----------|-----------|----------------------|------------------------|----------------|
/// | owner     | yes       | yes                  | yes                    | yes            |
/// | admin     | yes       | yes                  | yes                    | yes            |
/// | developer | yes       | yes                  | yes                    | no             |
/// | viewer    | yes       | no                   | logs only              | no             |
pub fn allows(role: Role, action: Action) -> bool {
    match action {
        Action::ListKeys | Action::ReadLogs => true,
        Action::WriteSecrets | Action::RunBot | Action::PushCode => role >= Role::Developer,
        Action::ManageMembers | Action::ReadAudit => role >= Role::Admin,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_of_spec_section_3() {
        use Action::*;
        let expected: [(Role, [bool; 7]); 4] = [
            (Role::Owner, [true, true, true, true, true, true, true]),
            (Role::Admin, [true, true, true, true, true, true, true]),
            (Role::Developer, [true, true, true, true, true, false, false]),
            (Role::Viewer, [true, false, false, false, true, false, false]),
        ];
        for (role, row) in expected {
            let got = [
                ListKeys,
                WriteSecrets,
                RunBot,
                PushCode,
                ReadLogs,
                ManageMembers,
                ReadAudit,
            ]
            .map(|a| allows(role, a));
            assert_eq!(got, row, "{role}");
        }
    }
}

"""Roles and permissions: who may do what with which records and fields.

    roles.py    the compiled roles (from roles.yaml) and their checks
    policy.py   what one user may do with one entity: actions, row scope, field rules,
                combined across the user's roles; used by the records service
    org.py      the organisation the scopes read: departments (a tree), heads, teams,
                managers, roles held, shares; `tailor org import`

Precedence, defined here once (docs/permissions.md):
* grants from several roles combine: an action is allowed if any role grants it, a row is
  visible if any role that grants the action sees it, and a field is as open as the most
  open of those roles leaves it;
* an explicit deny wins: `deny: [delete]` on any role of the user, or a field rule `deny`;
* field rules only narrow: they can hide a field or make it read-only, never add an action;
* admins bypass everything, and every write an admin makes that no role of theirs allows is
  marked as a bypass in the audit log;
* a project without roles.yaml has no permissions: every signed-in user may do everything.
"""

"""Every error code is produced by a bad project, at the right place, with no traceback."""

from __future__ import annotations

import re

import pytest

from engine.errors import CODES, ProjectError
from engine.paths import ROOT

ENTITY = "entities/customer.yaml"

WF = "workflows/deal.yaml"


def _wf(body: str) -> dict[str, str]:
    """A deal entity and a workflow on its status, with `body` after the first three lines."""
    return {"entities/deal.yaml": "entity: deal\nfields:\n  name: {type: string}\n  amount: {type: decimal}\n"
                                  "  status: {type: choice, options: [draft, pending, done], default: draft}\n",
            WF: "workflow: deal\nentity: deal\nfield: status\n" + body}


REP = "reports/deals.yaml"


def _rep(body: str, roles: str = "") -> dict[str, str]:
    """A deal entity and a report on it, with `body` after its first two lines."""
    files = {"entities/deal.yaml": "entity: deal\nfields:\n  name: {type: string}\n  amount: {type: decimal}\n"
                                   "  status: {type: choice, options: [draft, done]}\n  due: {type: date}\n"
                                   "  notes: {type: text}\n",
             REP: "report: deals\nentity: deal\n" + body}
    if roles:
        files["roles.yaml"] = roles
    return files


DASH = "dashboards/main.yaml"


def _dash(body: str) -> dict[str, str]:
    """The deal report of _rep (grouped by status) and a dashboard, `body` after its first line."""
    return {**_rep("group_by: [status]\nmeasures: [{name: n, count: true}]\nchart: bar\n"),
            DASH: "dashboard: main\n" + body}


# code -> (files, expected file suffix, line, column or None, text the message must contain)
CASES: dict[str, tuple[dict[str, str], str, int, int | None, str]] = {
    "E101": ({ENTITY: "entity: customer\nfields: [name\n"}, ENTITY, 3, None, "syntax"),
    "E102": ({ENTITY: """
        entity: customer
        fields:
          name: {type: string}
          name: {type: text}
        """}, ENTITY, 4, 3, "duplicate key 'name'"),
    "E103": ({}, "", 0, None, "not a Tailor project"),
    "E104": ({ENTITY: """
        entity: customer
        fields:
          name: &n {type: string}
          other: *n
        """}, ENTITY, 4, 10, "aliases"),
    "E105": ({ENTITY: "# nothing here\n"}, ENTITY, 1, 1, "empty"),
    "E201": ({ENTITY: """
        entity: customer
        fields:
          name: {type: string, requird: true}
        """}, ENTITY, 3, 24, "unknown key 'requird'"),
    "E202": ({ENTITY: """
        entity: customer
        fields:
          name: {type: string, required: "yes"}
        """}, ENTITY, 3, 34, "is not of type 'boolean'"),
    "E203": ({"tailor.yaml": "languages: [en]\n", ENTITY: "entity: customer\nfields: {name: {type: string}}\n"},
             "tailor.yaml", 1, 1, "needs the key 'name'"),
    "E204": ({ENTITY: """
        entity: customer
        fields:
          company: {type: link, to: customer, on_delete: explode}
        """}, ENTITY, 3, 50, "explode"),
    "E301": ({ENTITY: """
        entity: customer
        fields:
          name: {type: strng}
        """}, ENTITY, 3, 16, "unknown field type 'strng'"),
    "E302": ({ENTITY: """
        entity: customer
        fields:
          id: {type: string}
        """}, ENTITY, 3, 3, "reserved"),
    "E303": ({ENTITY: """
        entity: customer
        fields:
          select: {type: string}
        """}, ENTITY, 3, 3, "SQL keyword"),
    "E304": ({ENTITY: """
        entity: customer
        fields:
          full__name: {type: string}
        """}, ENTITY, 3, 3, "invalid name 'full__name'"),
    "E305": ({ENTITY: "entity: customer\nfields: {name: {type: string}}\n",
              "entities/customer2.yaml": "entity: customer\nfields: {name: {type: string}}\n"},
             "entities/customer2.yaml", 1, 9, "defined twice"),
    "E306": ({ENTITY: """
        entity: customer
        fields:
          company: {type: link, to: compnay}
        """}, ENTITY, 3, 29, "unknown entity 'compnay'"),
    "E307": ({ENTITY: """
        entity: customer
        fields:
          name: {type: string}
        list:
          columns: [name, nmae]
        """}, ENTITY, 5, 19, "unknown field 'nmae'"),
    "E308": ({ENTITY: """
        entity: customer
        fields:
          name: {type: string}
        form:
          sections:
            - fields: [name, phone]
        """}, ENTITY, 6, 22, "'phone'"),
    "E309": ({ENTITY: """
        entity: customer
        fields:
          name: {type: string}
        form:
          sections:
            - fields: [name]
            - fields: [name]
        """}, ENTITY, 7, 16, "placed twice"),
    "E310": ({ENTITY: f"""
        entity: customer
        fields:
          {"x" * 60}: {{type: lines, fields: {{qty: {{type: integer}}}}}}
        """}, ENTITY, 3, 3, "characters"),
    "E311": ({ENTITY: """
        entity: customer
        fields:
          name: {type: string}
        rules:
          - {name: r, check: "name != None", message: a}
          - {name: r, check: "name != 'x'", message: b}
        """}, ENTITY, 6, 12, "used twice"),
    "E312": ({"tailor.yaml": "name: test\noption_sets:\n  industry: [tech, retail]\n", ENTITY: """
        entity: customer
        fields:
          sector: {type: choice, option_set: industri}
        """}, ENTITY, 3, 38, "unknown option set 'industri'"),
    "E401": ({ENTITY: """
        entity: customer
        fields:
          level: {type: choice, options: [high, low], default: medium}
        """}, ENTITY, 3, 56, "default 'medium'"),
    "E402": ({ENTITY: """
        entity: customer
        fields:
          employees: {type: integer, default: many}
        """}, ENTITY, 3, 39, "does not fit"),
    "E403": ({ENTITY: """
        entity: customer
        fields:
          employees: {type: integer, min: 10, max: 5}
        """}, ENTITY, 3, 35, "greater than max"),
    "E404": ({ENTITY: """
        entity: customer
        fields:
          code: {type: string, pattern: "[A-Z"}
        """}, ENTITY, 3, 33, "regular expression"),
    "E405": ({ENTITY: """
        entity: customer
        fields:
          code: {type: autonumber, format: "CUS-{YYYY}"}
        """}, ENTITY, 3, 36, "autonumber format"),
    "E406": ({ENTITY: """
        entity: customer
        fields:
          level: {type: choice, options: [high, low, high]}
        """}, ENTITY, 3, 46, "listed twice"),
    "E407": ({ENTITY: """
        entity: customer
        fields:
          name: {type: string, options: [a, b]}
        """}, ENTITY, 3, 24, "'options' is not an option of a string field"),
    "E408": ({ENTITY: """
        entity: customer
        fields:
          level: {type: choice}
        """}, ENTITY, 3, 10, "needs 'options'"),
    "E409": ({ENTITY: """
        entity: customer
        fields:
          level: {type: choice, options: [high, low], replaced_options: {medium: middle}}
        """}, ENTITY, 3, 74, "'middle', which is not"),
    "E410": ({ENTITY: """
        entity: customer
        fields:
          name: {type: string}
          total: {type: rollup, from: deal.name, aggregate: sum, field: amount}
        """, "entities/deal.yaml": "entity: deal\nfields:\n  name: {type: string}\n  amount: {type: decimal}\n"},
        ENTITY, 4, 31, "deal.name is not a link to customer"),
    "E411": ({ENTITY: """
        entity: customer
        fields:
          phone: {type: phone, encrypted: true}
        """}, ENTITY, 3, 35, "no encryption key is configured"),
    "E412": ({ENTITY: """
        entity: customer
        fields:
          phone: {type: phone, encrypted: true}
          digits: {type: computed, expression: "phone", returns: string}
        """}, ENTITY, 4, None, "would store the clear text of encrypted field 'phone'"),
    "E413": ({ENTITY: """
        entity: customer
        fields:
          short: {type: computed, returns: string, stored: false, expression: "'x'"}
          parent: {type: link, to: customer, filter: "short == 'x'"}
        """}, ENTITY, 4, 46, "a link's filter must translate to SQL"),
    "E414": ({ENTITY: """
        entity: customer
        fields:
          name: {type: string}
          parent: {type: link, to: customer}
          since: {type: date, copy_from: parent.name}
        """}, ENTITY, 5, 34, "parent.name is a string field; 'since' is a date field"),
    "W401": ({ENTITY: """
        entity: customer
        fields:
          name: {type: string}
          credit: {type: integer}
          parent: {type: link, to: customer, filter: "credit > 100"}
        """, "roles.yaml": "roles:\n  rep:\n    entities:\n      customer: {actions: [read], fields: {credit: hidden}}\n"},
        ENTITY, 5, 47, "reads customer.credit, which is hidden from role 'rep'"),
    "E501": ({ENTITY: """
        entity: customer
        fields:
          amount: {type: decimal}
          big: {type: boolean, visible_when: "amount >"}
        """}, ENTITY, 4, None, "amount >"),
    "E502": ({ENTITY: """
        entity: customer
        fields:
          amount: {type: decimal}
          big: {type: boolean, visible_when: "amont > 5"}
        """}, ENTITY, 4, 39, "amont"),
    "E503": ({ENTITY: """
        entity: customer
        fields:
          amount: {type: decimal}
          big: {type: boolean, visible_when: "todya() > 5"}
        """}, ENTITY, 4, 39, "todya"),
    "E504": ({ENTITY: """
        entity: customer
        fields:
          name: {type: string}
          big: {type: boolean, visible_when: "name > 5"}
        """}, ENTITY, 4, None, "name > 5"),
    "E505": ({ENTITY: """
        entity: customer
        fields:
          name: {type: string}
          big: {type: boolean, visible_when: "lower(name, name) == 'x'"}
        """}, ENTITY, 4, None, "lower"),
    "E506": ({ENTITY: """
        entity: customer
        fields:
          name: {type: string}
          big: {type: boolean, visible_when: "name.__class__ == 'x'"}
        """}, ENTITY, 4, None, "__class__"),
    "E601": ({"tailor.yaml": "name: a\nextends: ../b\n", ENTITY: "entity: customer\nfields: {name: {type: string}}\n"},
             "tailor.yaml", 2, 10, "cycle"),
    "E602": ({"tailor.yaml": "name: a\nextends: ../nowhere\n"}, "tailor.yaml", 2, 10, "not a Tailor project"),
    "E603": ({ENTITY: """
        entity: customer
        fields:
          a: {type: computed, expression: "b + 1"}
          b: {type: computed, expression: "a + 1"}
        """}, ENTITY, 4, 35, "depend on each other"),
    "E604": ({ENTITY: """
        entity: customer
        fields:
          name: {label: Name}
        """}, ENTITY, 3, 3, "has no type"),
    "E605": ({ENTITY: """
        entity: customer
        fields:
          name: {type: string}
          title: {type: string, renamed_from: name}
        """}, ENTITY, 4, 39, "still a field"),
    # the designer layer (change sets in DESIGNER below): a field the YAML now defines with another type
    "E606": ({ENTITY: "entity: customer\nfields:\n  name: {type: string}\n  wechat: {type: integer}\n"},
             "change-1:entities.customer.fields.wechat", 0, None, "customer.yaml:4:3"),
    "E607": ({ENTITY: "entity: customer\nfields:\n  name: {type: string}\n"},
             "change-2:entities.customer.fields.name", 0, None, "deletes what no designer change created"),
    "E801": ({ENTITY: "entity: customer\nfields:\n  name: {type: string}\n",
              "roles.yaml": "roles:\n  rep:\n    entities:\n      customer: {actions: [read, raed]}\n"},
             "roles.yaml", 4, 34, "unknown action 'raed'"),
    "E802": ({ENTITY: "entity: customer\nfields:\n  name: {type: string}\n",
              "roles.yaml": "roles:\n  rep:\n    entities:\n      customer: {actions: [read], scope: owne}\n"},
             "roles.yaml", 4, 42, "unknown scope 'owne'"),
    "E901": (_wf("transitions:\n  win: {from: draft, to: won}\n"), WF, 5, 26, "unknown state 'won'"),
    "E902": ({**_wf(""), WF: "workflow: deal\nentity: deal\nfield: name\n"}, WF, 3, 8, "is a string field"),
    "E903": (_wf("approvals:\n  check:\n    nodes:\n      a: {type: approval, approvers: [{user: x}], next: end}\n"
                 "      b: {type: approval, approvers: [{user: x}]}\n"), WF, 8, 7, "'b' cannot be reached"),
    "E904": (_wf("approvals:\n  check:\n    nodes:\n      a: {type: approval, approvers: [{manager_chain: submitter}]}\n"),
             WF, 7, 39, "manager_chain needs 'levels'"),
    "E905": (_wf("approvals:\n  check:\n    nodes:\n      a: {type: approval, approvers: [{user: x}]}\n"
                 "      c: {type: condition, cases: [{when: \"amount > 1\", next: a}], default: a}\n"),
             WF, 7, 7, "cycle without an exit"),
    "E906": (_wf("approvals:\n  check:\n    nodes:\n      a: {type: approval, approvers: [{user: x}], next: nowhere}\n"),
             WF, 7, 57, "unknown node 'nowhere'"),
    "E907": (_wf("transitions:\n  win: {from: draft, to: done, actions: [{sett: {name: \"'x'\"}}]}\n"),
             WF, 5, 43, "unknown action 'sett'"),
    "E908": (_wf("transitions:\n  win: {from: draft, to: done, approval: nope}\n"), WF, 5, 42,
             "unknown approval flow 'nope'"),
    "E909": (_wf("transitions:\n  win: {from: draft, to: done, roles: [boss_role]}\n"), WF, 5, 40,
             "role 'boss_role'"),
    "E910": (_wf("approvals:\n  check:\n    nodes:\n      a: {type: condition, cases: [{when: \"amount > 1\", next: end}]}\n"),
             WF, 7, 17, "needs 'default'"),
    "E001": (_rep("measures:\n  - {name: won, count: true}\n  - {name: rate, ratio: [won, closed]}\n"), REP, 5, 31,
             "ratio 'rate' names unknown measure 'closed'"),
    "E002": (_rep("group_by: [notes]\nmeasures: [{name: n, count: true}]\n"), REP, 3, 12,
             "cannot group by 'notes': it is a text field"),
    "E003": (_rep("group_by: [{field: status, bucket: month}]\nmeasures: [{name: n, count: true}]\n"), REP, 3, 36,
             "puts 'status' in month buckets"),
    "E004": (_rep("measures: [{name: total, sum: name}]\n"), REP, 3, 31,
             "cannot take the sum of 'name': it is a string field"),
    "E005": (_rep("roles: [rep]\nmeasures: [{name: total, sum: amount}]\n",
                  "roles:\n  rep:\n    entities:\n      deal: {actions: [read], fields: {amount: hidden}}\n"),
             REP, 4, 31, "hidden fields cannot be grouped, filtered or summed"),
    "E006": (_rep("group_by: [due]\nmeasures: [{name: n, count: true}]\nchart: funnel\n"), REP, 5, 8,
             "needs a choice field"),
    "E007": (_rep("period: status\nmeasures: [{name: n, count: true}]\n"), REP, 3, 9,
             "takes its period from 'status', a choice field"),
    "E008": (_rep("roles: [boss]\nmeasures: [{name: n, count: true}]\n"), REP, 3, 9, "unknown role 'boss'"),
    "E009": (_rep("measures: [{name: n, sum: amount, since: due}]\n"), REP, 3, 42, "both must be dates"),
    "E020": (_dash("widgets:\n  - {report: deal}\n"), DASH, 3, 14, "shows unknown report 'deal'"),
    "E021": (_dash("roles: [boss]\nwidgets: [{report: deals}]\n"), DASH, 2, 9, "unknown role 'boss'"),
    "E022": (_dash("widgets:\n  - {report: deals, chart: number}\n"), DASH, 3, 28,
             "draws report 'deals' as a number"),
    "E023": (_dash("label: {en: Main, zh: 主页}\n"), DASH, 1, 12, "has no widget"),
    # warnings: the project loads; they are on the model (and printed by `tailor check`)
    "W301": ({ENTITY: """
        entity: customer
        label: {en: Customer, zh: 客户}
        fields:
          name: {type: string, label: {en: Name, zh: 名称}}
          stage: {type: choice, label: {en: Stage, zh: 阶段}, options: [CNY, {value: won, label: {en: Won}}, lost]}
        """}, ENTITY, 5, 53, "options of field 'stage' have no zh label: won, lost"),
    "W302": ({ENTITY: """
        entity: customer
        label: {en: Customer, zh: 客户}
        fields:
          name: {type: string, label: {en: Name, zh: 名称}}
          first_name: {type: string, label: {en: First name}}
        """}, ENTITY, 5, 37, "field 'first_name' has no zh label"),
    "W303": ({ENTITY: """
        entity: customer
        fields:
          name: {type: string, label: {en: Name, zh: 名称}}
        """}, ENTITY, 1, 9, "entity 'customer': label has no zh text"),
    "W304": ({ENTITY: """
        entity: customer
        label: {en: Customer, zh: 客户}
        fields:
          name: {type: string, label: {en: Name, zh: 名称}}
          city: {type: string, label: {en: City, zh: 城市}}
        form:
          sections:
            - {section: {en: Main, zh: 主要}, fields: [name]}
            - {section: {en: More}, fields: [city]}
        """}, ENTITY, 9, 17,
             "entity 'customer': form.sections[1].section has no zh text"),
    "E701": ({"tailor.yaml": "name: a\nplugins: [cn_feilds]\n"}, "tailor.yaml", 2, 11, "not found"),
    "E702": ({"tailor.yaml": "name: a\nplugins: [./bad_hook.py]\n",
              "bad_hook.py": "def tailor_field_typez():\n    return []\n"}, "bad_hook.py", 0, None, "tailor_field_typez"),
    "E703": ({"tailor.yaml": "name: a\nplugins: [./broken.py]\n",
              "broken.py": "raise RuntimeError('boom')\n"}, "tailor.yaml", 2, 11, "boom"),
    "E704": ({"tailor.yaml": "name: a\nplugins: [./dup.py]\n",
              "dup.py": "from engine.fields.scalar import StringType\n"
                        "def tailor_field_types():\n    return [StringType()]\n"},
             "tailor.yaml", 1, 1, "registered twice"),
}

# code -> the designer change sets (id, ops) folded over the case's YAML
DESIGNER: dict[str, list[tuple[int, list[dict]]]] = {
    "E606": [(1, [{"path": "entities.customer.fields.wechat", "value": {"type": "string"}}])],
    "E607": [(2, [{"path": "entities.customer.fields.name", "delete": True}])],
}


def problems_of(make_project, tmp_path, code):
    from engine.model import load_model

    files, *_ = CASES[code]
    if code == "E103":
        root = tmp_path / "empty"
        root.mkdir()
    elif code == "E601":
        make_project({"tailor.yaml": "name: b\nextends: ../a\n"}, name="b")
        root = make_project(files, name="a")
    else:
        root = make_project(files)
    if code.startswith("W"):
        return list(load_model(root, entry_points=False).warnings)
    with pytest.raises(ProjectError) as info:
        load_model(root, entry_points=False, designer=DESIGNER.get(code))
    return info.value.problems


def test_every_code_has_a_case():
    assert sorted(CASES) == sorted(CODES)


@pytest.mark.parametrize("code", sorted(CASES))
def test_bad_project_reports_code(code, make_project, tmp_path, monkeypatch):
    _files, suffix, line, column, needle = CASES[code]
    if code == "E411":  # tests/conftest.py configures a key for the demo CRM: here there is none
        for name in ("TAILOR_ENCRYPTION_KEY", "TAILOR_ENCRYPTION_KEY_FILE", "TAILOR_ENCRYPTION_OLD_KEYS"):
            monkeypatch.delenv(name, raising=False)
    problems = problems_of(make_project, tmp_path, code)
    matching = [p for p in problems if p.code == code]
    assert matching, f"expected {code}, got: {[str(p) for p in problems]}"
    problem = matching[0]
    assert needle in problem.message, str(problem)
    assert problem.position.file.endswith(suffix), str(problem)
    if line:
        assert problem.position.line == line, str(problem)
    if column is not None:
        assert problem.position.column == column, str(problem)
    assert re.match(r"^\S+(:\d+:\d+)?: [EW]\d{3} ", str(problem)), str(problem)


def test_all_problems_reported_at_once(make_project):
    from engine.model import load_model

    root = make_project({ENTITY: """
        entity: customer
        fields:
          name: {type: strng}
          level: {type: choice, options: [a, b], default: c}
          other: {type: link, to: nothing}
        list:
          columns: [nope]
        """})
    with pytest.raises(ProjectError) as info:
        load_model(root, entry_points=False)
    codes = sorted(p.code for p in info.value.problems)
    assert codes == ["E301", "E306", "E307", "E401"]


def test_error_codes_are_documented():
    doc = (ROOT / "docs" / "error-codes.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^## ([EW]\d{3})", doc, flags=re.M))
    assert documented == set(CODES)

"""roles.yaml is validated like every other YAML file (schema, positions, error codes, all
problems at once) and merges across layers."""

from __future__ import annotations

import pytest

from engine.errors import ProjectError
from engine.model import load_model

ENTITY = "entities/deal.yaml"
DEAL = """
    entity: deal
    fields:
      title: {type: string}
      amount: {type: money}
      region: {type: choice, options: [east, west]}
    """


def problems(make_project, roles: str) -> list:
    root = make_project({ENTITY: DEAL, "roles.yaml": roles})
    with pytest.raises(ProjectError) as info:
        load_model(root, entry_points=False)
    return info.value.problems


@pytest.mark.parametrize("roles, code, line, column, needle", [
    ("roles:\n  rep:\n    entities:\n      dael: {actions: [read]}\n", "E306", 4, 7, "unknown entity 'dael'"),
    ("roles:\n  rep:\n    entities:\n      deal: {actions: [read], fields: {amout: hidden}}\n", "E307", 4, 40,
     "unknown field 'amout'"),
    ("roles:\n  rep:\n    entities:\n      deal: {actions: [read], fields: {amount: secret}}\n", "E204", 4, 48,
     "secret"),
    ("roles:\n  rep:\n    entities:\n      deal: {actions: [read], scope: \"regoin == 'east'\"}\n", "E502", 4, 39,
     "regoin"),
    ("roles:\n  rep:\n    entities:\n      deal: {actions: [read], scope: \"amount + 1\"}\n", "E504", None, None,
     "boolean"),
    ("roles:\n  rep:\n    entities:\n      deal: {actions: [read], scope: \"region ==\"}\n", "E501", 4, 48, "syntax"),
    ("roles:\n  rep:\n    entitys: {}\n", "E201", 3, 5, "entitys"),
    ("roles:\n  Rep:\n    entities: {}\n", "E304", 2, 3, "Rep"),
    ("- not a mapping\n", "E105", 1, 1, "roles.yaml"),
])
def test_bad_roles_are_reported_with_positions(make_project, roles, code, line, column, needle):
    found = problems(make_project, roles)
    matching = [p for p in found if p.code == code]
    assert matching, [str(p) for p in found]
    problem = matching[0]
    assert problem.position.file.endswith("roles.yaml") and needle in str(problem), str(problem)
    if line is not None:
        assert (problem.position.line, problem.position.column) == (line, column), str(problem)


def test_every_problem_at_once(make_project):
    found = problems(make_project, "roles:\n  rep:\n    entities:\n"
                                   "      dael: {actions: [read]}\n"
                                   "      deal: {actions: [raed], scope: owne, fields: {amout: read}}\n")
    assert sorted(p.code for p in found) == ["E306", "E307", "E801", "E802"]


def test_roles_merge_across_layers(make_project):
    make_project({ENTITY: DEAL, "roles.yaml": """
        roles:
          rep:
            label: Rep
            entities:
              deal: {actions: [read, update], scope: own, fields: {amount: read}}
          viewer:
            entities:
              deal: {actions: [read]}
        """}, name="base")
    layer = make_project({"tailor.yaml": "name: client\nextends: ../base\n", "roles.yaml": """
        roles:
          rep:
            label: {en: Sales rep, zh: 销售代表}
            entities:
              deal: {actions: [read], scope: all}
          auditor:
            entities:
              deal: {actions: [read, export]}
        """}, name="client")
    model = load_model(layer, entry_points=False)
    assert sorted(model.roles) == ["auditor", "rep", "viewer"]
    rep = model.roles["rep"]
    assert dict(rep.label) == {"en": "Sales rep", "zh": "销售代表"}
    rule = rep.rules["deal"]  # replaced whole: no update, no field rule, scope all
    assert (rule.actions, rule.scope, dict(rule.fields)) == (frozenset({"read"}), "all", {})
    assert model.roles["viewer"].rules["deal"].actions == frozenset({"read"})


def test_expression_scopes_compile(make_project):
    root = make_project({ENTITY: DEAL, "roles.yaml": """
        roles:
          east:
            entities:
              deal: {actions: [read], scope: "region == 'east' or owner in user.team_members"}
        """})
    rule = load_model(root, entry_points=False).roles["east"].rules["deal"]
    assert rule.scope == "where" and rule.condition.evaluate({"region": "east", "owner": None},
                                                              {"user": {"team_members": []}}) is True


@pytest.mark.parametrize("entity, roles, code, needle", [
    ("""
        entity: deal
        fields:
          title: {type: string}
          due: {type: date}
          late: {type: computed, returns: boolean, expression: "due < today()", stored: false}
        """, "roles:\n  rep:\n    entities:\n      deal: {actions: [read], scope: late}\n", "E802",
     "'late' is not stored"),
    ("""
        entity: deal
        fields:
          title: {type: string}
          cost: {type: money}
        list:
          sort: [-cost]
        """, "roles:\n  rep:\n    entities:\n      deal: {actions: [read], fields: {cost: hidden}}\n", "E204",
     "sorted by"),
])
def test_scopes_filter_in_sql_and_hidden_fields_do_not_sort_lists(make_project, entity, roles, code, needle):
    root = make_project({ENTITY: entity, "roles.yaml": roles})
    with pytest.raises(ProjectError) as info:
        load_model(root, entry_points=False)
    assert any(p.code == code and needle in p.message for p in info.value.problems), \
        [str(p) for p in info.value.problems]

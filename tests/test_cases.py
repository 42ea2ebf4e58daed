"""The generic cases refuse a permission matrix that contradicts SPEC §1 or forgets someone."""

import pytest

from tests.cases import EVERYONE_ELSE as ELSE
from tests.cases import PermissionMatrix

COHERENT = {
    "list": {"anonymous": 401, ELSE: 200},
    "retrieve": {"anonymous": 401, "account_user": 200, ELSE: 404},
    "create": {"anonymous": 401, ELSE: 403},
    "partial_update": {"anonymous": 401, "account_user": 403, ELSE: 404},
    "destroy": {"anonymous": 401, "account_user": 204, ELSE: 404},
}


def check(matrix, **declarations):
    resource = type("Resource", (PermissionMatrix,), {"matrix": matrix, **declarations})()
    resource.test_matrix_names_every_persona_and_hides_unseen_objects()


def test_a_coherent_matrix_passes():
    check(COHERENT)


@pytest.mark.parametrize("change,complaint", [
    ({"partial_update": {"anonymous": 401, ELSE: 403}}, "outsider cannot see the object but gets 403"),
    ({"destroy": {"anonymous": 401, ELSE: 204}}, "outsider cannot see the object but gets 204"),
    ({"partial_update": {"anonymous": 401, ELSE: 404}}, "account_user sees the object but gets 404"),
    ({"retrieve": {"anonymous": 200, "account_user": 200, ELSE: 404}}, "anonymous gets 200, not 401"),
    ({"list": {"anonymous": 401, "outsider": 404, ELSE: 200}}, "list: outsider gets 404"),
    ({"create": {"anonymous": 401, "site_admin": 201}}, "create: nothing said for outsider"),
    ({"create": {"anonymous": 401, "nobody": 201, ELSE: 403}}, "create: nobody is no persona"),
])
def test_an_incoherent_or_incomplete_matrix_fails(change, complaint):
    with pytest.raises(AssertionError, match=complaint):
        check({**COHERENT, **change})


def test_a_missing_action_fails():
    with pytest.raises(AssertionError, match="no row for destroy"):
        check({action: row for action, row in COHERENT.items() if action != "destroy"})


def test_disputed_cells_need_no_status_and_are_not_run():
    row = {"anonymous": 401, "site_admin": 201, ELSE: 403}
    resource = type("Resource", (PermissionMatrix,), {
        "matrix": {**COHERENT, "create": {k: v for k, v in row.items() if k != ELSE}},
        "extra_personas": (),
        "disputed": {("create", persona): "for the test" for persona in PermissionMatrix.personas()
                     if persona not in row},
    })
    resource().test_matrix_names_every_persona_and_hides_unseen_objects()
    assert [persona for persona, _ in resource.expected("create")] == ["anonymous", "site_admin"]

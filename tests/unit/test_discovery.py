import pytest

from pipelines.framework.deploy.discovery import (
    FlowNotFoundError,
    discover_flows,
    find_flow,
    flow_modules,
)

TUTORIAL_MODULE = "pipelines.rj_escritorio.tutorial.flows"


def test_discovery_walks_the_package_without_a_list():
    assert TUTORIAL_MODULE in flow_modules()
    assert not [m for m in flow_modules() if m.startswith("pipelines.framework")]


def test_the_tutorial_flow_is_found_with_what_it_declares():
    (info,) = [f for f in discover_flows() if f.module == TUTORIAL_MODULE]
    assert info.name == "EMD: escritorio - Users report"
    assert info.orgao == "rj_escritorio"
    assert info.project == "tutorial"
    assert info.code_owners == ("paty",)
    assert info.defaults() == {
        "n_users": 10,
        "api_url": "https://randomuser.me/api/",
        "output_path": "report.csv",
    }
    assert info.schedule is not None


@pytest.mark.parametrize(
    "query",
    [
        "EMD: escritorio - Users report",
        "Users report",
        "users REPORT",
        TUTORIAL_MODULE,
        f"{TUTORIAL_MODULE}:users_report",
    ],
)
def test_a_flow_is_found_by_name_part_or_module(query):
    assert find_flow(query).name == "EMD: escritorio - Users report"


def test_an_unknown_flow_says_how_to_list_them():
    with pytest.raises(FlowNotFoundError, match="pipelines flows"):
        find_flow("no such flow at all")


def test_an_ambiguous_part_lists_the_candidates():
    flows = discover_flows()
    with pytest.raises(FlowNotFoundError, match="matches"):
        find_flow("", flows + flows)

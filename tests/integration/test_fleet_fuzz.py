"""Random and mutated fleet files: the only failure a user may see is a FleetError with paths."""

import copy
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dokaseca.config import parse_fleet
from dokaseca.errors import DokasecaError, FleetError
from dokaseca.plugins import load_plugins
from dokaseca.render import render_cluster

EXAMPLE = yaml.safe_load((Path(__file__).resolve().parents[2] / "examples" / "fleet.yaml").read_text())
HOST = load_plugins()

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(allow_nan=False),
    st.text(max_size=12),
    st.sampled_from(["v1.33.1", "aws", "dev", "prod", "10.0.0.0/8", "kubeadm", "clusterclass", "hub-spoke", "ami-1"]),
)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=6)


def paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for key, child in node.items():
            yield from paths(child, prefix + (key,))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            yield from paths(child, prefix + (index,))


@st.composite
def mutated_fleets(draw):
    fleet = copy.deepcopy(EXAMPLE)
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        candidates = list(paths(fleet))[1:]
        if not candidates:
            break
        target = draw(st.sampled_from(candidates))
        parent = fleet
        for step in target[:-1]:
            parent = parent[step]
        action = draw(st.sampled_from(["replace", "delete", "add-key"]))
        if action == "replace":
            parent[target[-1]] = draw(values)
        elif action == "delete":
            del parent[target[-1]]
        elif isinstance(parent[target[-1]], dict):
            parent[target[-1]][draw(st.text(min_size=1, max_size=10))] = draw(values)
    return fleet


def check(text):
    try:
        fleet = parse_fleet(text, HOST)
    except FleetError as error:
        assert error.problems
        for problem in error.problems:
            assert isinstance(problem.path, str) and problem.message
            str(problem)
        return
    for cluster in fleet.clusters:
        try:
            render_cluster(HOST, cluster)
        except DokasecaError:
            pass


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_fleets())
def test_mutated_example_fleets_fail_only_with_fleet_errors(fleet):
    check(yaml.safe_dump(fleet, sort_keys=False))


@settings(max_examples=200, deadline=None)
@given(values)
def test_random_documents_fail_only_with_fleet_errors(document):
    check(yaml.safe_dump(document))


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=200))
def test_random_text_fails_only_with_fleet_errors(text):
    check(text)

"""prepare for a fleet: concurrency with a bound, failures kept per cluster,
the management cluster connected only when a provider asks for it, and the
outputs saved for ``apply --no-prepare``."""

import threading
import time

import fake_provider
import pytest
import yaml
from fake_provider import BASE_FLEET

from dokaseca import hookimpl
from dokaseca.apply import apply_fleet
from dokaseca.config import parse_fleet
from dokaseca.errors import DokasecaError, ProviderError
from dokaseca.kube import Kube, ManagementCluster
from dokaseca.models import InfraResult
from dokaseca.plugins import load_plugins
from dokaseca.prepare import prepare_fleet, save_outputs, saved_outputs
from dokaseca.progress import report


class Preparer:
    """Prepares the fake provider's clusters; remembers how many ran at once."""

    def __init__(self, *, fail=(), delay=0.05, use_management=False, answer=None):
        self.fail, self.delay, self.use_management, self.answer = set(fail), delay, use_management, answer
        self.running = self.most = 0
        self.lock = threading.Lock()

    @hookimpl
    def prepare_infrastructure(self, cluster, provider, dry_run, management):
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            time.sleep(self.delay)
            if self.use_management:
                management.kube  # noqa: B018 - connecting is the point
            report(f"waited for {cluster.name}'s network")
            if cluster.name in self.fail:
                raise ProviderError(f"no credentials for {cluster.name}")
            if self.answer is not None:
                return self.answer
            verb = "would create" if dry_run else "create"
            return InfraResult(outputs={"network_id": f"net-{cluster.environment}"}, actions=(f"{verb} network net-{cluster.environment}",))
        finally:
            with self.lock:
                self.running -= 1


def fleet_of(host, count):
    data = yaml.safe_load(BASE_FLEET)
    data["clusters"] = [{"name": f"dev-{i}", "environment": "dev", "provider": "fake", "region": "local"} for i in range(count)]
    return parse_fleet(yaml.safe_dump(data), host)


def host_with(preparer):
    return load_plugins(autoload=False, extra=[("fake", fake_provider), ("preparer", preparer)])


def unreachable():
    return ManagementCluster("/nonexistent/kubeconfig")


def test_clusters_are_prepared_side_by_side_within_the_bound_and_reported_in_order():
    preparer = Preparer(delay=0.1)
    host = host_with(preparer)
    lines = []
    outcomes = prepare_fleet(host, fleet_of(host, 6).clusters, management=unreachable(), concurrency=3, progress=lambda n, w: lines.append((n, w)))
    assert [o.name for o in outcomes] == [f"dev-{i}" for i in range(6)]
    assert preparer.most == 3
    assert all(o.actions == ["create network net-dev"] and o.outputs == {"network_id": "net-dev"} and not o.error for o in outcomes)
    assert ("dev-0", "preparing (fake)") in lines and ("dev-0", "changed 1 resource(s)") in lines
    # What a provider reports from inside its hook is shown under the cluster it works on, whichever thread runs it.
    assert sorted(line for line in lines if line[1].startswith("waited")) == [(f"dev-{i}", f"waited for dev-{i}'s network") for i in range(6)]


def test_a_failing_cluster_is_reported_and_the_others_go_on():
    host = host_with(Preparer(fail={"dev-1"}, delay=0))
    outcomes = prepare_fleet(host, fleet_of(host, 3).clusters, management=unreachable())
    failed = [o for o in outcomes if o.error]
    assert [(o.name, o.error, o.exit_code) for o in failed] == [("dev-1", "no credentials for dev-1", 2)], "named once, by the provider"
    assert [o.name for o in outcomes if o.outputs] == ["dev-0", "dev-2"]


def test_the_management_cluster_is_connected_only_when_a_provider_uses_it():
    host = host_with(Preparer(delay=0))
    assert not prepare_fleet(host, fleet_of(host, 1).clusters, management=unreachable())[0].error
    host = host_with(Preparer(delay=0, use_management=True))
    (outcome,) = prepare_fleet(host, fleet_of(host, 1).clusters, management=unreachable())
    assert outcome.error.startswith("cluster dev-0: cannot load kubeconfig /nonexistent/kubeconfig")


def test_a_plugin_returning_the_wrong_type_is_named():
    host = host_with(Preparer(delay=0, answer={"vpc": "x"}))
    (outcome,) = prepare_fleet(host, fleet_of(host, 1).clusters, management=unreachable())
    assert outcome.error.startswith("cluster dev-0: ") and "returned dict, not InfraResult" in outcome.error


def test_outputs_are_saved_for_apply_without_prepare_and_a_dry_run_saves_nothing(tmp_path):
    host = host_with(Preparer(delay=0))
    (cluster,) = fleet_of(host, 1).clusters
    planned = prepare_fleet(host, [cluster], management=unreachable(), dry_run=True)
    assert planned[0].actions == ["would create network net-dev"]
    save_outputs(tmp_path, planned)
    assert saved_outputs(tmp_path, cluster) == InfraResult()
    save_outputs(tmp_path, prepare_fleet(host, [cluster], management=unreachable()))
    assert saved_outputs(tmp_path, cluster).outputs == {"network_id": "net-dev"}


def test_apply_changes_nothing_when_a_cluster_cannot_be_prepared(kube_emulator, tmp_path):
    host = host_with(Preparer(fail={"dev-1"}, delay=0))
    kube = Kube(str(kube_emulator.kubeconfig_path), kube_emulator.context)
    before = len(kube_emulator.requests)
    with pytest.raises(DokasecaError, match="^no credentials for dev-1$"):
        apply_fleet(host, fleet_of(host, 2).clusters, kube, wait=False, state_dir=tmp_path)
    assert len(kube_emulator.requests) == before, "nothing may reach the management cluster"


def test_a_provider_with_no_prepare_step_is_said_so():
    host = load_plugins(autoload=False, extra=[("fake", fake_provider)])
    lines = []
    (outcome,) = prepare_fleet(host, fleet_of(host, 1).clusters, management=unreachable(), progress=lambda n, w: lines.append(w))
    assert not outcome.has_prepare and not outcome.error and outcome.outputs == {}
    assert lines[-1] == "nothing to prepare: no installed plugin prepares 'fake'"
